//! Configuration: defaults, then a TOML file, then `LIBRELAY_*` environment variables, then
//! command-line flags. Every key is documented in the README with its default.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the embedded database and files live.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; empty for the embedded SQLite file in `data_dir`.
    pub database_url: String,
    /// tracing filter, e.g. `info` or `librelay=debug,info`.
    pub log_level: String,
    /// SQLite: fsync every commit (`full`) or only at checkpoints (`normal`).
    pub sqlite_synchronous: String,
    /// Lifetime of an API token from login, in hours.
    pub token_ttl_hours: u32,
    /// How often the outbox is checked when nothing wakes it, in milliseconds.
    pub outbox_poll_ms: u64,
    /// How often lender deadlines and overdue loans are swept, in milliseconds.
    pub sweep_interval_ms: u64,
    /// How often the statistics job looks for requests to summarise once it has caught up,
    /// in milliseconds (while catching up it goes on at once).
    pub statistics_interval_ms: u64,
    /// Run the outbox worker and the sweeps in this process. Off for a process that only
    /// answers the web and API beside another that works the queue (PostgreSQL).
    pub background_jobs: bool,
    /// Delivery attempts before a message is parked for staff ("dead").
    pub outbox_max_attempts: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The address partners and readers reach this node at, e.g. `https://ill.example.edu`;
    /// empty: `http://` and the listening address.
    pub public_url: String,
    /// Where delivered copies are stored; empty: `files` in `data_dir`.
    pub files_dir: String,
    /// Largest copy a lender may upload, in bytes.
    pub max_file_bytes: usize,
    /// Keep copies in this S3-compatible bucket instead of `files_dir`; empty (the default):
    /// the local file system. The start stops with the reason if the bucket cannot be written.
    pub s3_bucket: String,
    /// The S3-compatible service's address, e.g. `http://127.0.0.1:9000` for MinIO; empty:
    /// `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, else AWS itself (from the region).
    pub s3_endpoint: String,
    /// The bucket's region; empty: `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub s3_region: String,
    /// Access key id; empty: `AWS_ACCESS_KEY_ID` (with `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`).
    pub s3_access_key_id: String,
    /// Secret access key; empty: `AWS_SECRET_ACCESS_KEY`.
    pub s3_secret_access_key: String,
    /// Path-style addresses (`https://host/bucket/key`, what MinIO and most S3-compatible
    /// services expect); off: virtual-hosted style (`https://bucket.host/key`).
    pub s3_path_style: bool,
    /// A folder of the bucket the copies are kept under, e.g. `librelay/`; empty: its root.
    pub s3_prefix: String,
    /// How many times a reader may open a delivered copy (1–10; 0 for no limit).
    pub delivery_max_views: u32,
    /// For how many days a reader's link works (1–60).
    pub delivery_days: u32,
    /// The mail server letters go through; empty: no letters are sent.
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `none` (plain, e.g. a relay on the same host), `starttls` or `tls`.
    pub smtp_tls: String,
    pub smtp_username: String,
    pub smtp_password: String,
    /// The sender of letters, e.g. `Interlibrary Loan <ill@library.example.edu>`.
    pub mail_from: String,
    /// The mailbox e-mail partners reply to, e.g. `ill@library.example.edu`; each partner
    /// mail's reply address carries its request as `ill+ID@library.example.edu`. Empty: the
    /// address of `mail_from`. Point this mailbox (or its plus addresses) at the inbound SMTP
    /// endpoint.
    pub mail_reply_to: String,
    /// Where the inbound SMTP endpoint listens for replies and bounces, e.g. `0.0.0.0:2525`;
    /// empty (the default): no endpoint. Let only your own mail server reach it.
    pub inbound_smtp_listen: String,
    /// Largest inbound mail accepted, in bytes.
    pub inbound_smtp_max_bytes: usize,
    /// Domains whose every address the inbound endpoint takes mail for (e.g.
    /// `["ill.library.example.edu"]`), besides the reply mailbox, `mail_from` and the
    /// libraries' own addresses; mail for anyone else is refused (550).
    pub inbound_smtp_domains: Vec<String>,
    /// PEM file of the inbound endpoint's certificate chain; with `inbound_smtp_tls_key`, EHLO
    /// offers STARTTLS. Empty (the default): no TLS.
    pub inbound_smtp_tls_cert: String,
    /// PEM file of that certificate's private key.
    pub inbound_smtp_tls_key: String,
    /// Mark the web pages' cookies `Secure` (sent over HTTPS only). Set it when librelay is
    /// served through HTTPS; leave it off for plain-HTTP local use, where browsers would drop them.
    pub cookie_secure: bool,
    /// A Crossref-style REST service (`{url}/works/{doi}`, `{url}/works?filter=isbn:…`) that
    /// fills in a request from a DOI or ISBN; empty turns it off.
    pub crossref_url: String,
    /// A PubMed E-utilities-style service (`{url}/esummary.fcgi?db=pubmed&retmode=json&id=…`)
    /// that fills in a request from a PMID; empty turns it off.
    pub pubmed_url: String,
    /// An Unpaywall-style open-access service (`{url}/{doi}?email=…`, answering with
    /// `best_oa_location`) asked about each new copy request with a DOI; empty turns it off.
    /// Unpaywall itself is `https://api.unpaywall.org/v2`.
    pub open_access_url: String,
    /// The contact address sent to the open-access service (Unpaywall asks for one).
    pub open_access_email: String,
    /// How long a new request waits for the open-access service, in milliseconds (100–30000);
    /// past it the request goes on, flagged "could not be checked".
    pub open_access_timeout_ms: u64,
    /// Seconds the lenders' measured fill rate, turnaround and load are reused before routing
    /// reads the request history again (0: read it for every request).
    pub routing_history_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            log_level: "info".to_owned(),
            sqlite_synchronous: "full".to_owned(),
            token_ttl_hours: 24 * 7,
            outbox_poll_ms: 1000,
            sweep_interval_ms: 60_000,
            statistics_interval_ms: 60_000,
            background_jobs: true,
            outbox_max_attempts: 8,
            max_body_bytes: 2 * 1024 * 1024,
            public_url: String::new(),
            files_dir: String::new(),
            max_file_bytes: 100 * 1024 * 1024,
            s3_bucket: String::new(),
            s3_endpoint: String::new(),
            s3_region: String::new(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            s3_path_style: true,
            s3_prefix: String::new(),
            delivery_max_views: 5,
            delivery_days: 30,
            smtp_host: String::new(),
            smtp_port: 25,
            smtp_tls: "none".to_owned(),
            smtp_username: String::new(),
            smtp_password: String::new(),
            mail_from: "librelay <ill@localhost>".to_owned(),
            mail_reply_to: String::new(),
            inbound_smtp_listen: String::new(),
            inbound_smtp_max_bytes: 25 * 1024 * 1024,
            inbound_smtp_domains: Vec::new(),
            inbound_smtp_tls_cert: String::new(),
            inbound_smtp_tls_key: String::new(),
            routing_history_secs: 60,
            cookie_secure: false,
            crossref_url: "https://api.crossref.org".to_owned(),
            pubmed_url: "https://eutils.ncbi.nlm.nih.gov/entrez/eutils".to_owned(),
            open_access_url: String::new(),
            open_access_email: String::new(),
            open_access_timeout_ms: 3000,
        }
    }
}

impl Config {
    /// Defaults < `file` (if given; a missing explicit file is an error) < environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Config, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(Box::new(figment::Error::from(format!(
                    "configuration file {} does not exist",
                    f.display()
                ))));
            }
            fig = fig.merge(Toml::file(f));
        } else {
            fig = fig.merge(Toml::file("librelay.toml"));
        }
        // Not settings: LIBRELAY_PASSWORD is the input of `librelay user add`,
        // LIBRELAY_SQL_PROFILE turns on the statement profile of any command (the benches print
        // it), and LIBRELAY_TEST_BACKTRACE is the test script's. Any other unknown key is an
        // error, so that a misspelt setting is not silently ignored.
        fig.merge(Env::prefixed("LIBRELAY_").ignore(&["password", "sql_profile", "test_backtrace"]))
            .extract()
            .map_err(Box::new)
    }

    /// The base of addresses we give out (see `public_url`).
    pub fn public_base(&self) -> String {
        if self.public_url.trim().is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim().trim_end_matches('/').to_owned()
        }
    }

    pub fn files_path(&self) -> PathBuf {
        if self.files_dir.trim().is_empty() {
            self.data_dir.join("files")
        } else {
            PathBuf::from(self.files_dir.trim())
        }
    }

    pub fn store_config(&self) -> store::StoreConfig {
        if self.database_url.trim().is_empty() {
            let mut c = store::StoreConfig::sqlite_in(&self.data_dir);
            c.sqlite_synchronous_full = self.sqlite_synchronous != "normal";
            c
        } else {
            store::StoreConfig {
                url: self.database_url.clone(),
                sqlite_synchronous_full: self.sqlite_synchronous != "normal",
                max_connections: 16,
            }
        }
    }

    /// Settings for tests: port 0, fast jobs.
    pub fn for_tests(data_dir: PathBuf) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            outbox_poll_ms: 200,
            sweep_interval_ms: 100,
            // Once at start only: tests that count summaries run the job themselves.
            statistics_interval_ms: 24 * 3_600_000,
            // Tests reach no outside service; a test that needs one starts a local fake.
            crossref_url: String::new(),
            pubmed_url: String::new(),
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    // The closure's error type is figment's own, fixed by `Jail`.
    #[allow(clippy::result_large_err)]
    fn environment_settings_are_read_and_misspelt_ones_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LIBRELAY_LISTEN", "127.0.0.1:9999");
            // Variables that are not settings are left alone.
            jail.set_env("LIBRELAY_PASSWORD", "secret");
            jail.set_env("LIBRELAY_SQL_PROFILE", "1");
            jail.set_env("LIBRELAY_TEST_BACKTRACE", "1");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.to_string(), "127.0.0.1:9999");
            jail.set_env("LIBRELAY_LISTNE", "127.0.0.1:9998");
            match Config::load(None) {
                Ok(_) => Err("a misspelt setting was accepted".into()),
                Err(e) => {
                    assert!(e.to_string().contains("LISTNE"), "{e}");
                    Ok(())
                }
            }
        });
    }
}
