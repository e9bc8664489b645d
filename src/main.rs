//! The `tixshop` binary: parse the command line, then hand over to the library.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tixshop::cli::{AccountCommand, ApiKeyCommand, Cli, Command};
use tixshop::config::ServeConfig;
use tixshop::domain::account::NewAccount;
use tixshop::domain::api_key::{KeyName, Scope};
use tixshop::services::audit::Actor;
use tixshop::services::{self, accounts, api_keys};
use tixshop::startup::{Application, shutdown_signal};
use tixshop::{db, graphql, telemetry};

/// glibc's malloc took a fifth of the server's time under load (perf: `_int_malloc`,
/// `malloc_consolidate`, `_int_free` across threads); mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the whole cause chain, no backtrace.
            eprintln!("tixshop: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(ServeConfig::defaults_from_env()).await,
        Some(Command::Serve(config)) => serve(*config).await,
        Some(Command::Migrate(database)) => {
            telemetry::init("warn");
            let conn = db::connect(&database).await?;
            db::migrate(&conn).await?;
            println!("database is up to date");
            Ok(())
        }
        Some(Command::ApiKey(ApiKeyCommand::Create(args))) => {
            telemetry::init("warn");
            let scope = Scope::parse(&args.scope)?;
            let name = KeyName::parse(&args.name)?;
            let conn = db::connect(&args.database).await?;
            db::migrate(&conn).await?;
            let account = accounts::find_by_slug(&conn, &args.account)
                .await?
                .with_context(|| format!("no account with slug `{}`", args.account))?;
            let txn = services::begin_write(&conn).await?;
            let created = api_keys::create(&txn, &Actor::cli(), account.id, &name, scope).await?;
            txn.commit().await?;
            println!("{}", created.secret);
            eprintln!(
                "created {scope} key `{}` for account `{}`; it is shown only this once",
                name.as_str(),
                account.slug
            );
            Ok(())
        }
        Some(Command::Account(AccountCommand::Create(args))) => {
            telemetry::init("warn");
            let new =
                NewAccount::parse(&args.slug, &args.name, &args.currency, &args.vat_rate, !args.prices_exclude_vat)?;
            let conn = db::connect(&args.database).await?;
            db::migrate(&conn).await?;
            let txn = services::begin_write(&conn).await?;
            let account = accounts::create(&txn, &Actor::cli(), &new).await?;
            let created =
                api_keys::create(&txn, &Actor::cli(), account.id, &KeyName::parse("admin")?, Scope::Admin).await?;
            txn.commit().await?;
            println!("{}", created.secret);
            eprintln!("created account `{}`; the line above is its admin API key, shown only this once", account.slug);
            Ok(())
        }
        Some(Command::Mcp(args)) => {
            // stdout is the protocol: logs go to stderr, quietly.
            telemetry::init("warn");
            let conn = db::connect(&args.database).await?;
            db::migrate(&conn).await?;
            let principal = api_keys::authenticate(&conn, args.api_key.trim())
                .await?
                .context("TIXSHOP_API_KEY is unknown or revoked")?;
            let server = tixshop::mcp::TixMcp::new(
                conn,
                std::sync::Arc::new(tixshop::events::CartEvents::default()),
                tixshop::mcp::KeySource::Fixed(principal),
            );
            use rmcp::ServiceExt;
            let running = server.serve(rmcp::transport::stdio()).await.context("MCP handshake")?;
            running.waiting().await.context("MCP session")?;
            Ok(())
        }
        Some(Command::ExportSchema) => {
            print!("{}", graphql::sdl());
            Ok(())
        }
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    telemetry::init_as(&config.log, &config.log_format);
    tracing::info!(?config, "starting");
    let app = Application::build(config.clone()).await?;
    let base =
        config.public_base_url.clone().map(|u| u.to_string()).unwrap_or_else(|| format!("http://{}/", app.address()));
    if let Some(key) = app.demo_admin_key() {
        println!("Seeded the demo shop `demo`. Its admin API key (shown only this once):\n\n    {}\n", key.secret);
    }
    println!("tixshop listening on http://{}  (GraphiQL: {base}graphql)", app.address());
    app.run_until(shutdown_signal()).await.context("server error")?;
    Ok(())
}
