//! `POST /iso18626`: one endpoint for every library on this node; the header's agency ids say
//! which. The answer is always a confirmation in the sender's schema version.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::AppState;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/iso18626", post(receive))
}

async fn receive(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.is_empty() && !content_type.contains("xml") {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send ISO 18626 messages as text/xml or application/xml",
        )
            .into_response();
    }
    let answer = crate::flow::receive(&st, &body, &headers).await;
    // An ERROR confirmation is still an answer the peer must read: 200, as most peers expect,
    // unless the sender's peer profile asks for 400 (or its credentials were wrong: 401).
    let status = StatusCode::from_u16(answer.http_status).unwrap_or(StatusCode::OK);
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        answer.confirmation,
    )
        .into_response()
}
