use anyhow::Context;
use clap::Parser;
use seqhook::app::App;
use seqhook::cli::{Cli, Command, TenantsCommand};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    seqhook::telemetry::init();
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(config)) => serve(*config).await,
        Some(Command::Migrate(database)) => {
            let store = seqhook::store::open(&database.database()?, 1).await?;
            store.close().await;
            println!("migrations applied");
            Ok(())
        }
        Some(Command::Tenants {
            command: TenantsCommand::Create { name, database },
        }) => seqhook::cli_tenants::create(&database, &name).await,
        Some(Command::Bench(args)) => seqhook::bench::run(args).await,
        Some(Command::Listen(args)) => {
            let shutdown = CancellationToken::new();
            seqhook::shutdown::cancel_on_signal(shutdown.clone());
            seqhook::listen::run(*args, shutdown).await
        }
    }
}

async fn serve(config: seqhook::config::ServeConfig) -> anyhow::Result<()> {
    seqhook::http::serve::raise_open_file_limit(config.max_connections);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {} (SEQHOOK_LISTEN)", config.listen))?;
    let app = App::build(config).await?;
    let address = listener.local_addr()?;
    if let Some(token) = app.generated_admin_token() {
        eprintln!("seqhook: no SEQHOOK_ADMIN_TOKEN set; this run's admin token is {token}");
        eprintln!(
            "seqhook: create a tenant with:\n  curl -s -X POST http://{address}/v1/admin/tenants \\\n    -H 'Authorization: Bearer {token}' -d '{{\"name\":\"acme\"}}'"
        );
        eprintln!(
            "seqhook: then open the console at http://{address}/ and sign in with the \"key\" it answers"
        );
    }
    tracing::info!(%address, "seqhook serving");
    let shutdown = CancellationToken::new();
    seqhook::shutdown::cancel_on_signal(shutdown.clone());
    app.serve(listener, shutdown).await
}
