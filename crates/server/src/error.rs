//! One error type for the API, mapped once to HTTP: a stable snake_case code, a message that
//! says what is wrong and where, and for 5xx only a request id (the cause goes to the log).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::Refusal;
use domain::citation::FieldError;
use serde::Serialize;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required: send Authorization: Bearer TOKEN")]
    Unauthenticated,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Conflict(String),
    /// A delivered copy that may no longer be opened: (code, message).
    #[error("{1}")]
    Gone(&'static str, String),
    /// A file that cannot be taken: (HTTP status, code, message).
    #[error("{2}")]
    Unacceptable(u16, &'static str, String),
    /// A caller's mistake said in both languages: (HTTP status, code, English, Chinese).
    #[error("{2}")]
    Bilingual(u16, &'static str, String, String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `action_not_allowed`.
    pub code: String,
    pub message: String,
    /// Field errors for `invalid_fields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub fields: Option<Vec<FieldError>>,
    /// For `action_not_allowed`: the state and what is allowed in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// The message in Simplified Chinese, when the error has its own (replaces `message` for
    /// callers asking for Chinese).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_zh: Option<String>,
    /// For internal errors: quote it when reporting the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    /// A refusal for the caller's role or library, said in both languages (code `forbidden`).
    pub fn forbidden(en: impl Into<String>, zh: impl Into<String>) -> Self {
        ApiError::Bilingual(403, "forbidden", en.into(), zh.into())
    }

    /// A refusal because of what is there already, said in both languages (code `conflict`).
    pub fn conflict(en: impl Into<String>, zh: impl Into<String>) -> Self {
        ApiError::Bilingual(409, "conflict", en.into(), zh.into())
    }

    /// The stable snake_case code the caller sees.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Refused(Refusal::NotAllowed { .. }) => {
                (StatusCode::CONFLICT, "action_not_allowed")
            }
            ApiError::Refused(Refusal::Forbidden { .. }) => {
                (StatusCode::FORBIDDEN, "action_forbidden")
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Gone(code, _) => (StatusCode::GONE, code),
            ApiError::Unacceptable(status, code, _) => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                code,
            ),
            ApiError::Bilingual(status, code, ..) => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                code,
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("record"),
            StoreError::Conflict(c) if c.ends_with(".version") => {
                ApiError::Conflict("the request changed meanwhile; reload and try again".to_owned())
            }
            StoreError::Conflict(c) => ApiError::Conflict(format!("already exists ({c})")),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut detail = ErrorDetail {
            code: code.to_owned(),
            message: self.to_string(),
            fields: None,
            state: None,
            allowed: None,
            message_zh: None,
            request_id: None,
        };
        match self {
            ApiError::Invalid(fields) => detail.fields = Some(fields),
            ApiError::Bilingual(_, _, _, zh) => detail.message_zh = Some(zh),
            ApiError::Refused(Refusal::NotAllowed { state, allowed, .. }) => {
                detail.state = Some(state.to_owned());
                detail.allowed = Some(allowed.into_iter().map(str::to_owned).collect());
            }
            ApiError::Internal(cause) => {
                let id = uuid::Uuid::new_v4().to_string();
                tracing::error!(request_id = %id, error = ?cause, "internal error");
                detail.message = format!("internal error; quote request id {id} when reporting it");
                detail.request_id = Some(id);
            }
            _ => {}
        }
        (status, Json(ErrorBody { error: detail })).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Why an account that is not active cannot be used, in Chinese.
pub fn account_status_zh(status: &str) -> String {
    use domain::people::AccountStatus;
    match AccountStatus::parse(status) {
        Some(AccountStatus::Pending) => "该账户尚待审核批准，暂不能使用".to_owned(),
        Some(AccountStatus::Suspended) => "该账户已被停用".to_owned(),
        _ => format!("该账户状态为 {status}，不能使用"),
    }
}
