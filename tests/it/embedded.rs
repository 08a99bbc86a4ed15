//! The embedded default as a newcomer meets it: no `DATABASE_URL`, the data in
//! `./seqhook.db`, kept across a restart and a SIGKILL.

use crate::support::process::ServerProcess;
use crate::support::{TestApp, no_reply, seqs};

#[tokio::test]
async fn with_no_database_url_the_data_lives_in_seqhook_db_and_survives_a_sigkill() {
    let dir = std::env::temp_dir().join(format!("seqhook-embedded-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut server = ServerProcess::spawn_embedded(&dir).await;
    let api = TestApp::client_for(server.port);
    let tenant = api.tenant_with_identity("alice").await;
    let first = api.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    assert!(dir.join("seqhook.db").is_file());
    server.child.kill().await.unwrap();

    let server = ServerProcess::spawn_embedded(&dir).await;
    let api = TestApp::client_for(server.port);
    let page = api.pull_ok(&tenant.key, "alice", "since=0").await;
    assert_eq!(
        page["events"][0], first[0],
        "the acknowledged event survived"
    );
    let second = api.append_ok(&tenant.key, "alice", &no_reply(2)).await;
    assert_eq!(seqs(&second), [2], "the counter survived with it");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
