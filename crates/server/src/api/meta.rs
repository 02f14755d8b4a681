//! Health, metrics, the OpenAPI document and its reading page, and the home page.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
}

/// Routes that describe the API rather than belong to it.
pub fn pages(doc: Arc<utoipa::openapi::OpenApi>) -> axum::Router<AppState> {
    let json_doc = doc.clone();
    axum::Router::new()
        .route("/", get(home))
        .route(
            "/api/openapi.json",
            get(move || {
                let d = json_doc.clone();
                async move { Json((*d).clone()) }
            }),
        )
        .route(
            "/api/docs",
            get(move || {
                let d = doc.clone();
                async move { Html(docs_page(&d)) }
            }),
        )
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub store: &'static str,
}

/// 200 when the store answers, 503 when it does not.
#[utoipa::path(get, path = "/healthz", tag = "meta", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    match st.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                store: st.store.engine(),
            }),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "store_unavailable",
                    store: st.store.engine(),
                }),
            )
                .into_response()
        }
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "meta", security(()),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    let body = st.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC','PingFang SC',sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}code{background:#f3f3f3;padding:0 .2em}h2{margin-top:2rem;border-bottom:1px solid #ddd}.op{margin:.6rem 0}.m{display:inline-block;min-width:4.5rem;font-weight:600}.get{color:#0a6}.post{color:#06c}";

async fn home() -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>librelay</title><style>{STYLE}</style></head><body>
<h1>librelay</h1>
<p lang="zh-CN">librelay 是开源的馆际互借与文献传递平台：读者提交借书或复制请求，系统自动检查并按馆藏与协议排定出借馆顺序，通过 ISO 18626 与合作馆交换消息，直到借阅完成。</p>
<p lang="en">librelay is an open-source interlibrary loan and document delivery platform: readers ask for a loan or a copy, the system checks the request and ranks the lending libraries by holdings and policy, exchanges ISO 18626 messages with partners, and follows every request to completion.</p>
<ul>
<li><a href="/login">登录 / Log in</a></li>
<li><a href="/api/docs">API 文档 / API documentation</a></li>
<li><a href="/api/openapi.json">OpenAPI 3.1 (JSON)</a></li>
<li><a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a></li>
</ul>
<p>ISO 18626: <code>POST /iso18626</code></p>
</body></html>"#
    ))
}

/// A readable page of every operation, built from the same document as /api/openapi.json.
fn docs_page(doc: &utoipa::openapi::OpenApi) -> String {
    let mut body = String::new();
    for (path, item) in doc.paths.paths.iter() {
        let ops = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let summary = op
                .summary
                .clone()
                .or_else(|| op.description.clone())
                .unwrap_or_default();
            let codes: Vec<String> = op.responses.responses.keys().cloned().collect();
            body.push_str(&format!(
                r#"<div class="op"><span class="m {}">{method}</span> <code>{}</code> — {} <small>({})</small></div>"#,
                method.to_lowercase(),
                escape(path),
                escape(&summary),
                escape(&codes.join(", "))
            ));
        }
    }
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>librelay API</title><style>{STYLE}</style></head><body>
<h1>librelay API <small>{}</small></h1>
<p>接口说明 · The full machine-readable document is <a href="/api/openapi.json">/api/openapi.json</a>. Log in with <code>POST /api/v1/auth/login</code> and send <code>Authorization: Bearer TOKEN</code>. Errors: <code>{{"error": {{"code", "message"}}}}</code>.</p>
<h2>Operations</h2>{body}</body></html>"#,
        escape(&doc.info.version)
    )
}
