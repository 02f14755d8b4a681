//! What every handler and job shares.

use std::sync::Arc;

use store::Store;

use crate::clock::Clock;
use crate::config::Config;
use crate::waiters::Waiters;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The union catalog's search index (in the data directory; read-only here unless a
    /// caller imports through it).
    pub catalog: Arc<catalog::CatalogIndex>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub waiters: Arc<Waiters>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Delivered copies.
    pub files: crate::files::Files,
    /// The HTTP client to peers on other nodes and systems.
    pub peers: Arc<crate::flow::send::PeerLinks>,
}

impl AppState {
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }
}
