//! The `librelay` command: serve, migrate, bench. Everything else lives in the library crates.

mod bench;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::{App, Config};

#[derive(Parser)]
#[command(
    name = "librelay",
    version,
    about = "Interlibrary loan and document delivery"
)]
struct Cli {
    /// Configuration file (TOML); `librelay.toml` in the working directory is read if present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct StoreArgs {
    /// Data directory (embedded database, files). Default: ./data
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of the embedded SQLite store.
    #[arg(long)]
    database: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Seed an empty store with a demo consortium and print its accounts.
        #[arg(long)]
        demo: bool,
        /// Address to listen on. Default: 127.0.0.1:8080
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Measure throughput; prints figures and ratios against a baseline from the same run.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
}

fn load_config(
    cli_config: Option<&std::path::Path>,
    store: &StoreArgs,
    listen: Option<SocketAddr>,
) -> anyhow::Result<Config> {
    let mut config = Config::load(cli_config).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    if let Some(d) = &store.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(db) = &store.database {
        config.database_url = db.clone();
    }
    if let Some(l) = listen {
        config.listen = l;
    }
    Ok(config)
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            demo,
            listen,
            store,
        } => {
            let config = load_config(cli.config.as_deref(), &store, listen)?;
            init_tracing(&config.log_level);
            serve(config, demo).await
        }
        Command::Migrate { store } => {
            let config = load_config(cli.config.as_deref(), &store, None)?;
            init_tracing(&config.log_level);
            let sc = config.store_config();
            if !sc.is_postgres() {
                std::fs::create_dir_all(&config.data_dir)?;
            }
            store::Store::open(&sc)
                .await
                .context("migrating the store")?;
            println!("schema is up to date");
            Ok(())
        }
        Command::Bench { what } => {
            init_tracing("warn");
            bench::run(what).await
        }
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let app = App::build(config).await?;
    let state = app.state();
    let addr = app.address();
    if demo {
        match server::demo::seed_directory(&state, &data_dir).await? {
            Some(accounts) => {
                println!(
                    "Demo consortium seeded. Accounts (password for all: {}):",
                    server::demo::DEMO_PASSWORD
                );
                for a in &accounts {
                    println!("  {:<4} {:<22} {}", a.library, a.username, a.role);
                }
                println!(
                    "Written to {}",
                    data_dir.join("demo-accounts.json").display()
                );
                tokio::spawn(server::demo::seed_activity(state.clone()));
            }
            None => println!("The store already has data; demo seeding skipped."),
        }
    }
    println!(
        "librelay listening on http://{addr} ({} store)",
        state.store.engine()
    );
    app.run_until_stopped().await
}
