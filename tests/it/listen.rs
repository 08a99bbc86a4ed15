//! `seqhook listen`: one identity pulled and forwarded to a real receiver on 127.0.0.1,
//! signatures checked with the `standardwebhooks` crate. The listener runs in-process, as
//! `main` runs it, against a real app.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use seqhook::cli::{Cli, Command};
use seqhook::listen::ListenArgs;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::receiver::{Reply, WebhookReceiver};
use crate::support::verifiers;
use crate::support::{TestApp, TestDatabase, email_sent, no_reply, seqs};

/// The example secret of the Standard Webhooks specification.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A state file of the test's own, removed when the test ends.
struct StateFile(PathBuf);

impl StateFile {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("seqhook-it-listen-{}-{n}.json", std::process::id()));
        // A crashed earlier run with the same pid may have left one behind.
        let _ = std::fs::remove_file(&path);
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }

    fn saved(&self) -> Option<Value> {
        let bytes = std::fs::read(&self.0).ok()?;
        Some(serde_json::from_slice(&bytes).expect("the state file is JSON"))
    }

    fn cursor(&self) -> Option<u64> {
        self.saved().and_then(|saved| saved["since"].as_u64())
    }

    fn secret(&self) -> String {
        let saved = self.saved().expect("a saved state");
        saved["secret"].as_str().expect("a saved secret").to_owned()
    }

    /// The saved cursor once the listener waits for more: it saves after each accepted
    /// event and before it asks for the next, so a held long-poll means the save is done.
    async fn cursor_once_waiting(&self, app: &TestApp) -> Option<u64> {
        app.held(1).await;
        self.cursor()
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `seqhook listen …` as the command line parses it.
fn parse(argv: &[&str]) -> Result<ListenArgs, clap::Error> {
    match Cli::try_parse_from(argv.iter().copied())?.command {
        Some(Command::Listen(args)) => Ok(*args),
        other => panic!("parsed as {other:?}"),
    }
}

fn listen_args(
    app: &TestApp,
    key: &str,
    handle: &str,
    forward_to: &str,
    state: &StateFile,
    extra: &[&str],
) -> ListenArgs {
    let mut argv = vec![
        "seqhook",
        "listen",
        handle,
        "--forward-to",
        forward_to,
        "--api-url",
        app.base.as_str(),
        "--api-key",
        key,
        "--state-file",
        state.path(),
    ];
    argv.extend_from_slice(extra);
    parse(&argv).expect("valid arguments")
}

/// A listener running in its own task, stopped as Ctrl-C stops it.
struct Listener {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Listener {
    fn start(args: ListenArgs) -> Self {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(seqhook::listen::run(args, shutdown.clone()));
        Self { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the listener stops promptly")
            .expect("listener task")
            .expect("a clean stop");
    }
}

/// Runs a listener that must give up on its own, and answers its error.
async fn fails(args: ListenArgs) -> String {
    let ran = tokio::time::timeout(
        Duration::from_secs(30),
        seqhook::listen::run(args, CancellationToken::new()),
    )
    .await
    .expect("a fatal error ends the listener rather than being retried");
    format!("{:#}", ran.expect_err("the listener refuses to run"))
}

#[tokio::test]
async fn appended_events_are_forwarded_in_seq_order_signed_as_webhook_deliveries_are() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let state = StateFile::new();
    let listener = Listener::start(listen_args(
        &app,
        &tenant.key,
        "alice",
        &receiver.url,
        &state,
        &["--since", "0", "--secret", SECRET],
    ));

    let batch = json!({ "events": [no_reply(1), email_sent(2), no_reply(3)] });
    let appended = app.append_ok(&tenant.key, "alice", &batch).await;
    let pulled = app.pull_ok(&tenant.key, "alice", "").await;
    for (i, event) in appended.iter().enumerate() {
        let request = receiver.next().await;
        assert!(
            request.verify(SECRET),
            "the signature verifies with an independent implementation"
        );
        assert_eq!(request.webhook_id(), event["id"]);
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(
            request.json(),
            pulled["events"][i],
            "the envelope, as pulled"
        );
    }
    assert_eq!(state.cursor_once_waiting(&app).await, Some(3));
    assert_eq!(receiver.pending().await, 0, "each event forwarded once");
    listener.stop().await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn with_no_saved_cursor_only_new_events_are_forwarded_with_a_generated_secret() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let state = StateFile::new();
    let listener = Listener::start(listen_args(
        &app,
        &tenant.key,
        "alice",
        &receiver.url,
        &state,
        &[],
    ));

    // Held: the listener has read the head and waits past it.
    app.held(1).await;
    app.append_ok(&tenant.key, "alice", &no_reply(2)).await;
    let request = receiver.next().await;
    assert_eq!(
        request.json()["seq"],
        2,
        "the event before the start is not sent"
    );
    assert!(request.verify(&state.secret()));
    assert_eq!(state.cursor_once_waiting(&app).await, Some(2));
    assert_eq!(receiver.pending().await, 0);
    listener.stop().await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn forwarded_events_are_signed_in_the_chosen_dialect() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    for (preset, verify) in verifiers::PRESETS {
        let receiver = WebhookReceiver::start().await;
        let state = StateFile::new();
        let listener = Listener::start(listen_args(
            &app,
            &tenant.key,
            "alice",
            &receiver.url,
            &state,
            &["--since", "0", "--secret", SECRET, "--dialect", preset],
        ));
        let request = receiver.next().await;
        assert!(verify(&request, SECRET), "{preset}");
        listener.stop().await;
    }
    let custom = r#"{"signedPayload": "{body}", "key": "secretText", "encoding": "hex",
        "signatureHeader": "X-Hub-Signature-256", "signaturePrefix": "sha256=",
        "signatures": "oldest"}"#;
    let receiver = WebhookReceiver::start().await;
    let state = StateFile::new();
    let listener = Listener::start(listen_args(
        &app,
        &tenant.key,
        "alice",
        &receiver.url,
        &state,
        &["--since", "0", "--secret", SECRET, "--dialect", custom],
    ));
    assert!(verifiers::github(&receiver.next().await, SECRET));
    listener.stop().await;

    for bad in ["svix-ish", r#"{"signedPayload": "{id}"}"#, "{not json"] {
        let argv = [
            "seqhook",
            "listen",
            "alice",
            "--forward-to",
            "http://127.0.0.1:9/",
            "--api-key",
            "k",
            "--dialect",
            bad,
        ];
        let error = parse(&argv)
            .expect_err("a bad dialect is refused")
            .to_string();
        assert!(error.contains("--dialect"), "{bad}: {error}");
    }
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_refused_event_is_retried_until_accepted_and_nothing_overtakes_it() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    receiver.script([Reply::Status(500)]);
    let tenant = app.tenant_with_identity("alice").await;
    let state = StateFile::new();
    let listener = Listener::start(listen_args(
        &app,
        &tenant.key,
        "alice",
        &receiver.url,
        &state,
        &["--since", "0", "--secret", SECRET],
    ));

    let batch = json!({ "events": [no_reply(1), no_reply(2)] });
    app.append_ok(&tenant.key, "alice", &batch).await;
    let refused = receiver.next().await;
    let retried = receiver.next().await;
    let next = receiver.next().await;
    assert_eq!(
        seqs(&[refused.json(), retried.json(), next.json()]),
        [1, 1, 2]
    );
    assert_eq!(retried.webhook_id(), refused.webhook_id());
    assert!(retried.verify(SECRET), "a retry is signed afresh");
    assert_eq!(state.cursor_once_waiting(&app).await, Some(2));
    assert_eq!(receiver.pending().await, 0);
    listener.stop().await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_restarted_listener_resumes_after_the_last_forwarded_event_with_no_gap_or_duplicate() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let state = StateFile::new();
    let args =
        |extra: &[&str]| listen_args(&app, &tenant.key, "alice", &receiver.url, &state, extra);

    let listener = Listener::start(args(&["--since", "0"]));
    let batch = json!({ "events": [no_reply(1), no_reply(2), no_reply(3)] });
    app.append_ok(&tenant.key, "alice", &batch).await;
    let mut forwarded = Vec::new();
    for _ in 0..3 {
        forwarded.push(receiver.next().await.json());
    }
    assert_eq!(state.cursor_once_waiting(&app).await, Some(3));
    let secret = state.secret();
    listener.stop().await;

    let batch = json!({ "events": [no_reply(4), no_reply(5)] });
    let appended = app.append_ok(&tenant.key, "alice", &batch).await;
    let listener = Listener::start(args(&[]));
    for event in &appended {
        let request = receiver.next().await;
        assert_eq!(request.webhook_id(), event["id"]);
        assert!(request.verify(&secret), "the saved secret is reused");
        forwarded.push(request.json());
    }
    assert_eq!(state.cursor_once_waiting(&app).await, Some(5));
    assert_eq!(seqs(&forwarded), [1, 2, 3, 4, 5]);
    assert_eq!(receiver.pending().await, 0, "nothing sent twice");
    listener.stop().await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_bad_key_an_unknown_identity_or_a_cursor_past_the_head_stops_the_listener() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let state = StateFile::new();

    let error = fails(listen_args(
        &app,
        "shk_not_a_key",
        "alice",
        &receiver.url,
        &state,
        &[],
    ))
    .await;
    assert!(error.contains("API key was refused"), "{error}");
    let error = fails(listen_args(
        &app,
        &tenant.key,
        "bob",
        &receiver.url,
        &state,
        &[],
    ))
    .await;
    assert!(error.contains("unknown identity bob"), "{error}");
    let error = fails(listen_args(
        &app,
        &tenant.key,
        "alice",
        &receiver.url,
        &state,
        &["--since", "2"],
    ))
    .await;
    assert!(error.contains("past the head"), "{error}");

    assert!(state.saved().is_none(), "a refused start saves nothing");
    assert_eq!(receiver.pending().await, 0);
    app.stop().await;
    db.drop().await;
}

#[test]
fn only_http_and_https_urls_are_accepted_to_forward_to() {
    let argv = |url: &'static str| {
        [
            "seqhook",
            "listen",
            "alice",
            "--forward-to",
            url,
            "--api-key",
            "k",
        ]
    };
    for refused in ["ftp://127.0.0.1/hook", "file:///tmp/hook", "127.0.0.1:3000"] {
        let error = parse(&argv(refused)).expect_err(refused);
        assert!(error.to_string().contains("http"), "{refused}: {error}");
    }
    let args = parse(&argv("http://127.0.0.1:3000/hook")).expect("http is accepted");
    assert_eq!(args.forward_to.as_str(), "http://127.0.0.1:3000/hook");
    assert!(parse(&argv("https://localhost/hook")).is_ok());
}

#[tokio::test]
async fn while_the_receiver_hangs_up_unanswered_the_cursor_stays_and_the_event_waits_for_it() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    // Accepts each connection and closes it without a word, counting the attempts.
    let hang_up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let unreachable = format!("http://{}/hook", hang_up.local_addr().unwrap());
    let (attempts, mut attempted) = tokio::sync::watch::channel(0_u32);
    let hanging = tokio::spawn(async move {
        loop {
            let (socket, _) = hang_up.accept().await.unwrap();
            drop(socket);
            attempts.send_modify(|n| *n += 1);
        }
    });
    let state = StateFile::new();
    let listener = Listener::start(listen_args(
        &app,
        &tenant.key,
        "alice",
        &unreachable,
        &state,
        &["--since", "0", "--secret", SECRET],
    ));
    // The first attempt and its retry.
    attempted.wait_for(|n| *n >= 2).await.unwrap();
    hanging.abort();
    listener.stop().await;
    assert_eq!(state.cursor(), Some(0), "the cursor did not pass the event");

    let receiver = WebhookReceiver::start().await;
    let listener = Listener::start(listen_args(
        &app,
        &tenant.key,
        "alice",
        &receiver.url,
        &state,
        &["--secret", SECRET],
    ));
    assert_eq!(
        receiver.next().await.json()["seq"],
        1,
        "the event was not skipped"
    );
    assert_eq!(state.cursor_once_waiting(&app).await, Some(1));
    listener.stop().await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_cursor_whose_events_expired_stops_the_listener_unless_it_may_skip_ahead() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let batch = json!({ "events": [no_reply(1), no_reply(2), no_reply(3)] });
    app.append_ok(&tenant.key, "alice", &batch).await;
    app.clock.advance(Duration::from_secs(91 * 86_400));
    app.sweep().await;
    let state = StateFile::new();
    let args =
        |extra: &[&str]| listen_args(&app, &tenant.key, "alice", &receiver.url, &state, extra);

    let error = fails(args(&["--since", "1"])).await;
    assert!(error.contains("no longer held"), "{error}");
    assert!(error.contains("starts at seq 4"), "{error}");
    assert!(error.contains("--skip-expired"), "{error}");
    assert_eq!(receiver.pending().await, 0);

    // Allowed to skip, it goes on after the last seq removed, and forwards what comes next.
    let listener = Listener::start(args(&["--since", "1", "--skip-expired"]));
    assert_eq!(state.cursor_once_waiting(&app).await, Some(3));
    let appended = app.append_ok(&tenant.key, "alice", &no_reply(4)).await;
    let request = receiver.next().await;
    assert_eq!(request.webhook_id(), appended[0]["id"]);
    assert_eq!(seqs(&[request.json()]), [4]);
    listener.stop().await;
    app.stop().await;
    db.drop().await;
}
