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
    /// Delivery attempts before a message is parked for staff ("dead").
    pub outbox_max_attempts: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Mark the web pages' cookies `Secure` (sent over HTTPS only). Set it when librelay is
    /// served through HTTPS; leave it off for plain-HTTP local use, where browsers would drop them.
    pub cookie_secure: bool,
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
            outbox_max_attempts: 8,
            max_body_bytes: 2 * 1024 * 1024,
            cookie_secure: false,
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
        // LIBRELAY_PASSWORD is the input of `librelay user add`, not a setting.
        fig.merge(Env::prefixed("LIBRELAY_").ignore(&["password"]))
            .extract()
            .map_err(Box::new)
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
            ..Config::default()
        }
    }
}
