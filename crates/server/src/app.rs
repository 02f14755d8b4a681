//! Building and running the application: the binary and the tests start it the same way.
//! `App::build` opens the store, binds (port 0 in tests), starts the jobs; `run_until_stopped`
//! serves until Ctrl-C or SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;
use crate::waiters::Waiters;

pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
    stop: watch::Sender<bool>,
    jobs: Vec<tokio::task::JoinHandle<()>>,
}

/// The process-wide metrics recorder; installed once however many apps a test starts.
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .clone()
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        mut config: Config,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<App> {
        let store = open_store(&config).await?;
        let index_dir = catalog::index_dir(&config.data_dir);
        let catalog = catalog::CatalogIndex::open(&index_dir)
            .with_context(|| format!("opening the catalog index in {}", index_dir.display()))?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        // Addresses given out must name the port really bound (port 0 in tests).
        config.listen = listener.local_addr()?;
        let inbound = crate::inbound::bind(&config).await?;
        if let Some(l) = &inbound {
            config.inbound_smtp_listen = l.listener.local_addr()?.to_string();
        }
        let files = crate::files::Files::from_config(&config).await?;
        let state = AppState {
            store,
            catalog: Arc::new(catalog),
            clock,
            config: Arc::new(config),
            waiters: Arc::new(Waiters::default()),
            metrics: metrics_handle(),
            files,
            peers: Arc::new(
                crate::flow::send::PeerLinks::new()
                    .context("starting the HTTP client for peers")?,
            ),
        };
        let (router, _doc) = crate::api::router(state.clone());
        let router = router
            .merge(crate::web::router(state.clone()))
            .fallback(|headers: axum::http::HeaderMap| async move {
                // A browser asking for a page gets a page; programs get the JSON error contract.
                if crate::web::wants_html(&headers) {
                    return crate::web::not_found_page(&headers);
                }
                let body = serde_json::json!({"error": {"code": "not_found", "message": "no such page or endpoint"}});
                (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
            })
            // Bodies are held to max_body_bytes by the extractors' limit; uploads of copies
            // set their own, so the outer bound is the larger of the two.
            .layer(axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes))
            .layer(RequestBodyLimitLayer::new(
                // (a copy sent from the staff page's form: its other fields too)
                state
                    .config
                    .max_body_bytes
                    .max(state.config.max_file_bytes.saturating_add(64 * 1024)),
            ))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                body_too_large_as_json,
            ))
            .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
                ApiError::internal(anyhow::anyhow!("a handler panicked")).into_response()
            }))
            .layer(axum::middleware::from_fn(crate::i18n::localize))
            .layer(TraceLayer::new_for_http());

        let (stop, stop_rx) = watch::channel(false);
        let mut jobs = if state.config.background_jobs {
            crate::jobs::spawn(state.clone(), stop_rx.clone())
        } else {
            Vec::new()
        };
        if let Some(l) = inbound {
            jobs.push(crate::inbound::spawn(state.clone(), l, stop_rx));
        }
        Ok(App {
            listener,
            router,
            state,
            stop,
            jobs,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serve until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serve until `signal` completes, then stop the jobs and let requests finish.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            listener,
            router,
            stop,
            jobs,
            ..
        } = self;
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(signal)
            .await;
        let _ = stop.send(true);
        for j in jobs {
            let _ = tokio::time::timeout(Duration::from_secs(5), j).await;
        }
        served.context("serving HTTP")
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let sc = config.store_config();
    if !sc.is_postgres() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
    }
    Store::open(&sc).await.with_context(|| {
        if sc.is_postgres() {
            "opening the PostgreSQL database given by --database".to_owned()
        } else {
            format!(
                "opening the embedded database in {}",
                config.data_dir.display()
            )
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The body limit answers a body declared too large with plain text before any handler runs:
/// callers get the JSON error contract instead, in both languages, saying the limit.
async fn body_too_large_as_json(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let upload = req.method() == axum::http::Method::POST && req.uri().path().ends_with("/files");
    let resp = next.run(req).await;
    // The handlers' own answers (JSON for the API, a page for the browser) stay as they are;
    // only the bare text of a limit layer is rewritten.
    let answered = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json") || c.starts_with("text/html"));
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE || answered {
        return resp;
    }
    let max = st.config.max_body_bytes.max(st.config.max_file_bytes);
    if upload {
        crate::api::files::too_large(st.config.max_file_bytes as u64).into_response()
    } else {
        ApiError::Bilingual(
            413,
            "body_too_large",
            format!("the request body is larger than the {max} bytes this server takes"),
            format!("请求内容超过本服务器接受的上限 {max} 字节"),
        )
        .into_response()
    }
}
