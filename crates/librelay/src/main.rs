//! The `librelay` command: serve, migrate, import, reindex, bench. Everything else lives in the
//! library crates.

mod bench;
mod bench_catalog;
mod import;

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
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of the embedded SQLite store.
    #[arg(long, global = true)]
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
    /// Libraries on this node.
    Library {
        #[command(subcommand)]
        what: LibraryCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Accounts (staff and readers).
    User {
        #[command(subcommand)]
        what: UserCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Load records into the union catalog.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Rebuild the catalog search index (in the data directory) from the store.
    Reindex {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Measure throughput; prints figures and ratios against a baseline from the same run.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// MARC 21 records, ISO 2709 or MARCXML (told by content), for one library. Re-importing
    /// updates records in place; records of other libraries with the same ISBN / ISSN / OCLC
    /// number or title, author and year join one union record.
    Marc {
        /// Files to read, in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The library the records and their holdings belong to (its code).
        #[arg(long)]
        library: String,
        /// Records per store transaction.
        #[arg(long, default_value_t = 2000)]
        batch: usize,
    },
}

#[derive(Subcommand)]
enum LibraryCommand {
    /// Add a library (with a default lending policy its admins can change).
    Add {
        #[arg(long)]
        code: String,
        /// ISO 18626 agency id, TYPE:VALUE, e.g. ISIL:CN-100000.
        #[arg(long)]
        agency: String,
        #[arg(long)]
        name_en: String,
        #[arg(long)]
        name_zh: String,
        /// university, public, research, supplier or hub.
        #[arg(long, default_value = "university")]
        kind: String,
        #[arg(long, default_value = "")]
        region: String,
        /// The consortium this library belongs to (its code).
        #[arg(long)]
        hub: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add an active account. The password is read from LIBRELAY_PASSWORD, else from the first
    /// line of standard input.
    Add {
        #[arg(long)]
        library: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// Staff roles, comma-separated: borrowing_operator, lending_operator,
        /// resource_sharing_manager, library_admin, hub_admin.
        #[arg(long, default_value = "")]
        roles: String,
        /// For a reader instead: faculty, phd, master, undergraduate, staff or external.
        #[arg(long)]
        patron_type: Option<String>,
    },
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("LIBRELAY_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn open_store(config: &Config) -> anyhow::Result<store::Store> {
    let sc = config.store_config();
    if !sc.is_postgres() {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    store::Store::open(&sc).await.context("opening the store")
}

/// The store for an administrative command: quiet logs, schema brought up to date.
async fn admin_store(
    cli_config: Option<&std::path::Path>,
    store: &StoreArgs,
) -> anyhow::Result<store::Store> {
    let config = load_config(cli_config, store, None)?;
    init_tracing("warn");
    open_store(&config).await
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

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Cli::parse())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes, one line, no backtrace: this is for a person at a terminal.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
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
            open_store(&config).await?;
            println!("schema is up to date");
            Ok(())
        }
        Command::Library {
            what:
                LibraryCommand::Add {
                    code,
                    agency,
                    name_en,
                    name_zh,
                    kind,
                    region,
                    hub,
                },
            store,
        } => {
            let st = admin_store(cli.config.as_deref(), &store).await?;
            let lib = server::admin::NewLibrary {
                code: code.clone(),
                agency,
                name_en,
                name_zh,
                kind,
                region,
                hub,
            };
            server::admin::add_library(&st, lib, time::OffsetDateTime::now_utc()).await?;
            println!("library {} added", code.to_uppercase());
            Ok(())
        }
        Command::User {
            what:
                UserCommand::Add {
                    library,
                    username,
                    name,
                    roles,
                    patron_type,
                },
            store,
        } => {
            let st = admin_store(cli.config.as_deref(), &store).await?;
            let password = read_password()?;
            let account = server::admin::NewAccount {
                library,
                username: username.clone(),
                display_name: name,
                password,
                roles,
                patron_type,
            };
            let id = server::admin::add_user(&st, account, time::OffsetDateTime::now_utc()).await?;
            println!("user {username} added ({id})");
            Ok(())
        }
        Command::Import {
            what:
                ImportCommand::Marc {
                    files,
                    library,
                    batch,
                },
            store,
        } => {
            let config = load_config(cli.config.as_deref(), &store, None)?;
            init_tracing("warn");
            let st = open_store(&config).await?;
            import::marc(&st, &config.data_dir, &files, &library, batch).await
        }
        Command::Reindex { store } => {
            let config = load_config(cli.config.as_deref(), &store, None)?;
            init_tracing("warn");
            let st = open_store(&config).await?;
            import::reindex(&st, &config.data_dir).await
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
