//! Extractors whose rejections follow the error contract (`{"error": {...}}`) instead of
//! axum's plain-text defaults.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Malformed JSON is 400 `bad_request`; JSON of the wrong shape is 422 with the
/// path of the offending field in the message.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::Invalid(vec![domain::citation::FieldError {
                    message_zh: None,
                    field: "body",
                    code: "invalid_json_shape",
                    message: e.body_text(),
                }]))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::Bilingual(
                400,
                "bad_request",
                "send the body as JSON with Content-Type: application/json".to_owned(),
                "请求体须为 JSON，并带 Content-Type: application/json".to_owned(),
            )),
            Err(e) => {
                let text = e.body_text();
                Err(ApiError::Bilingual(
                    400,
                    "bad_request",
                    text.clone(),
                    format!("请求体不是有效的 JSON：{text}"),
                ))
            }
        }
    }
}

pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => {
                let text = e.body_text();
                Err(ApiError::Bilingual(
                    400,
                    "bad_request",
                    text.clone(),
                    format!("查询参数无法读取：{text}"),
                ))
            }
        }
    }
}
