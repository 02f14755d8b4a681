//! The `librelay` command: serve, migrate, import, reindex, bench. Everything else lives in the
//! library crates.

mod bench;
mod bench_catalog;
mod bench_duplicates;
mod bench_queue;
mod bench_stats;
mod import;
mod memory;
mod settle;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::{App, Config};

/// mimalloc instead of the C library's allocator, for Rust's allocations and (its `override`
/// feature: the binary defines `malloc` and `free`) for SQLite's as well. In a profile of
/// `bench federation` about 17 % of the CPU went to the C library's malloc and free; with
/// mimalloc for Rust the same bench sent 2,090–2,223 messages/s against 1,700–1,963 (runs in
/// turn), and `/healthz` answered about 40 % more requests per second. SQLite's own calls
/// then still took 11 % of the writer thread's samples in `bench lifecycle` (mostly the
/// statement journal of each savepoint, a 64 KiB chunk at a time); with the override, that
/// bench ran 538 and 580 lifecycles/s against 509 and 489 (runs in turn, same machine).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// With --demo: demo libraries served by another node, CODES=ENDPOINT (repeatable),
        /// e.g. HTU,CPL,NSD=http://127.0.0.1:8081/iso18626. Two nodes seeded with
        /// complementary halves lend to each other over ISO 18626.
        #[arg(long, requires = "demo")]
        demo_remote: Vec<String>,
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
    /// Partner libraries served by another system or node, and how to reach them.
    Peer {
        #[command(subcommand)]
        what: PeerCommand,
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
    /// The partner directory: libraries and their lending terms.
    Partners {
        #[command(subcommand)]
        what: PartnersCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Rebuild the catalog search index (in the data directory) from the store.
    Reindex {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Close a month's fees between libraries: bilateral netting (each pair settles one net
    /// amount) or hub clearing (each library settles its net with the hub). Closing a closed
    /// month again gives the same result; `--out DIR` writes every library's statement there.
    Settle {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// bilateral or hub.
        #[arg(long, default_value = "hub")]
        mode: String,
        /// Write each library's statement (CSV with BOM and XLSX) into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
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
    /// MARC 21 or CNMARC (UNIMARC) records, ISO 2709 or MARCXML (told by content), for one
    /// library. Re-importing updates records in place; records of other libraries with the same
    /// ISBN / ISSN / OCLC number or title, author and year join one union record.
    Marc {
        /// Files to read, in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The library the records and their holdings belong to (its code).
        #[arg(long)]
        library: String,
        /// Records per store transaction.
        #[arg(long, default_value_t = import::MARC_BATCH)]
        batch: usize,
        /// The records' format: marc21 or cnmarc; by default told by each record's fields (245
        /// and 008 are MARC 21's, 200 and a dated 100 $a CNMARC's).
        #[arg(long, value_parser = parse_dialect)]
        format: Option<marc::Dialect>,
    },
    /// One library's holdings from a spreadsheet (CSV or tab-separated, UTF-8, first line the
    /// columns isbn, issn, oclc, title, author, year, call_number, barcode, location). Each row
    /// joins the union record its identifiers (else title, author and year) match, or starts a
    /// minimal one. Re-importing the same file changes nothing. Bad rows are listed by line and
    /// field and left out.
    Holdings {
        /// The CSV or tab-separated file.
        file: PathBuf,
        /// The library the holdings belong to (its code).
        #[arg(long)]
        library: String,
    },
    /// A KBART Phase II file (tab-separated, UTF-8) of e-resources the library licenses: new
    /// copy requests for its titles are shown the licensed link. Importing the same package
    /// again replaces its titles. Bad lines are listed by line and column and left out.
    Kbart {
        /// The KBART file.
        file: PathBuf,
        /// The library that licenses the package (its code).
        #[arg(long)]
        library: String,
        /// The package's name (default: the file name without its extension).
        #[arg(long)]
        package: Option<String>,
    },
}

#[derive(Subcommand)]
enum PartnersCommand {
    /// Add or update (by code) partner libraries and their terms from a CSV file (first line
    /// names the columns) or a JSON array of objects. Bad rows are listed by line and field and
    /// left out; the rest are imported.
    Import {
        file: PathBuf,
        /// The borrowing library the terms are granted to (its code); without it, they become
        /// each partner's default terms for everybody.
        #[arg(long = "for")]
        terms_for: Option<String>,
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
enum PeerCommand {
    /// Set how a partner library (added with `library add`) is reached over ISO 18626.
    Set {
        #[arg(long)]
        code: String,
        /// librelay, reshare, alma, worldshare or other: picks the defaults; email for a
        /// partner that works by e-mail only (letters in both languages).
        #[arg(long, default_value = "librelay")]
        system: String,
        /// Where the peer takes ISO 18626 messages, e.g. https://ill.example.edu/iso18626; for
        /// an e-mail partner its address, mailto:ill@supplier.example.
        #[arg(long)]
        endpoint: String,
        /// 2017 or 2021 (default: the system's).
        #[arg(long)]
        version: Option<String>,
        /// Send a shared secret in a header: NAME=VALUE.
        #[arg(long)]
        auth_header: Option<String>,
        /// Require this header (NAME=VALUE) on messages from the peer.
        #[arg(long)]
        inbound_header: Option<String>,
    },
    /// List the peer profiles (credentials hidden).
    List,
}

fn header_auth(arg: Option<String>) -> anyhow::Result<Option<domain::peer::PeerAuth>> {
    let Some(a) = arg else { return Ok(None) };
    let (name, value) = a
        .split_once('=')
        .with_context(|| format!("{a:?}: write the header as NAME=VALUE"))?;
    Ok(Some(domain::peer::PeerAuth::Header {
        name: name.trim().to_owned(),
        value: value.trim().to_owned(),
    }))
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
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Import { .. }
            | Command::Reindex { .. }
            | Command::Bench {
                what: bench::BenchCommand::Catalog { .. }
            }
    ) {
        memory::keep_freed_memory();
    }
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
    match runtime.block_on(run(cli)) {
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
            demo_remote,
            store,
        } => {
            let config = load_config(cli.config.as_deref(), &store, listen)?;
            init_tracing(&config.log_level);
            let mut remote = Vec::new();
            for spec in &demo_remote {
                let (codes, endpoint) = spec.split_once('=').with_context(|| {
                    format!("--demo-remote {spec:?}: write CODES=ENDPOINT, e.g. HTU,CPL=http://127.0.0.1:8081/iso18626")
                })?;
                for code in codes.split(',').filter(|c| !c.trim().is_empty()) {
                    remote.push((code.trim().to_owned(), endpoint.trim().to_owned()));
                }
            }
            serve(config, demo, &remote).await
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
        Command::Peer { what, store } => {
            let st = admin_store(cli.config.as_deref(), &store).await?;
            match what {
                PeerCommand::Set {
                    code,
                    system,
                    endpoint,
                    version,
                    auth_header,
                    inbound_header,
                } => {
                    let input = server::api::peers::PeerInput {
                        system,
                        endpoint,
                        version,
                        auth: header_auth(auth_header)?,
                        inbound_auth: header_auth(inbound_header)?,
                        ..Default::default()
                    };
                    let p =
                        server::admin::set_peer(&st, &code, input, time::OffsetDateTime::now_utc())
                            .await?;
                    println!(
                        "{} is reached at {} ({}, ISO 18626 {})",
                        code.to_uppercase(),
                        p.endpoint,
                        p.system,
                        p.version
                    );
                }
                PeerCommand::List => {
                    for row in st.peers().await? {
                        let p = &row.profile.0;
                        println!(
                            "{:<8} {:<10} {:<5} {}",
                            row.library_id, p.system, p.version, p.endpoint
                        );
                    }
                }
            }
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
                    format,
                },
            store,
        } => {
            let config = load_config(cli.config.as_deref(), &store, None)?;
            init_tracing("warn");
            let st = open_store(&config).await?;
            import::marc(&st, &config.data_dir, &files, &library, batch, format).await
        }
        Command::Import {
            what: ImportCommand::Holdings { file, library },
            store,
        } => {
            let config = load_config(cli.config.as_deref(), &store, None)?;
            init_tracing("warn");
            let st = open_store(&config).await?;
            import::holdings(&st, &config.data_dir, &file, &library).await
        }
        Command::Import {
            what:
                ImportCommand::Kbart {
                    file,
                    library,
                    package,
                },
            store,
        } => {
            let config = load_config(cli.config.as_deref(), &store, None)?;
            init_tracing("warn");
            let st = open_store(&config).await?;
            import::kbart(&st, &file, &library, package.as_deref()).await
        }
        Command::Partners {
            what: PartnersCommand::Import { file, terms_for },
            store,
        } => {
            let st = admin_store(cli.config.as_deref(), &store).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {} (UTF-8 text)", file.display()))?;
            let terms_for = terms_for.map(|c| c.trim().to_uppercase());
            let now = time::OffsetDateTime::now_utc();
            match server::partners::import(&st, &text, terms_for.as_deref(), now).await? {
                Ok(s) => {
                    for e in &s.errors {
                        eprintln!(
                            "{}: {} ({}): {}",
                            file.display(),
                            e.field,
                            e.code,
                            e.message
                        );
                    }
                    println!(
                        "partners: {} read, {} added, {} updated, {} rejected",
                        s.read, s.created, s.updated, s.rejected
                    );
                    Ok(())
                }
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{}: {}", file.display(), e.message);
                    }
                    anyhow::bail!("{} was not imported", file.display())
                }
            }
        }
        Command::Reindex { store } => {
            let config = load_config(cli.config.as_deref(), &store, None)?;
            init_tracing("warn");
            let st = open_store(&config).await?;
            import::reindex(&st, &config.data_dir).await
        }
        Command::Settle {
            month,
            mode,
            out,
            store,
        } => {
            let st = admin_store(cli.config.as_deref(), &store).await?;
            settle::settle(&st, &month, &mode, out.as_deref()).await
        }
        Command::Bench { what } => {
            init_tracing("warn");
            bench::run(what).await
        }
    }
}

async fn serve(config: Config, demo: bool, remote: &[(String, String)]) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let app = App::build(config).await?;
    let state = app.state();
    let addr = app.address();
    if demo {
        match server::demo::seed_directory_split(&state, &data_dir, remote).await? {
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
                if remote.is_empty() {
                    tokio::spawn(server::demo::seed_activity(state.clone()));
                } else {
                    for (code, endpoint) in remote {
                        println!("  {code} is served by the node at {endpoint}");
                    }
                }
            }
            None => println!("The store already has data; demo seeding skipped."),
        }
    }
    println!(
        "librelay listening on http://{addr} ({} store)",
        state.store.engine()
    );
    if state.config.public_url.trim().is_empty() && addr.ip().is_unspecified() {
        // Addresses given to partners and readers (shipped copies, letters) would name 0.0.0.0.
        eprintln!(
            "warning: set public_url (LIBRELAY_PUBLIC_URL) to the address partners and readers reach this node at"
        );
    }
    app.run_until_stopped().await
}

/// `--format`: marc21, or cnmarc / unimarc.
fn parse_dialect(s: &str) -> Result<marc::Dialect, String> {
    marc::Dialect::parse(s).ok_or_else(|| format!("{s:?} is not a MARC format: marc21 or cnmarc"))
}
