//! Password reset over the API: ask for a link by username or e-mail (the answer never tells
//! whether the account exists), then set a new password with the token from the link.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json as Body;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::reset::ResetError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ask))
        .routes(routes!(set_password))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResetAsk {
    /// A username or an e-mail address.
    pub login: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResetAsked {
    pub message: String,
    pub message_zh: String,
}

/// Mail a reset link (valid one hour, once) to the account with this username or e-mail
/// address. The answer is the same whether or not one exists.
#[utoipa::path(post, path = "/api/v1/password-reset", tag = "auth", security(()),
    request_body = ResetAsk,
    responses((status = 202, body = ResetAsked)))]
pub async fn ask(
    State(st): State<AppState>,
    Body(input): Body<ResetAsk>,
) -> (StatusCode, Json<ResetAsked>) {
    crate::reset::request(&st, &input.login);
    (
        StatusCode::ACCEPTED,
        Json(ResetAsked {
            message: "If an account matches, a link to reset its password is on its way to the account's e-mail address.".to_owned(),
            message_zh: "如有匹配的账户，重设密码的链接已发往该账户的电子邮箱。".to_owned(),
        }),
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewPassword {
    /// At least 8 characters.
    pub password: String,
}

/// Set a new password with the token of a reset link. Every token and web session of the
/// account stops working.
#[utoipa::path(post, path = "/api/v1/password-reset/{token}", tag = "auth", security(()),
    params(("token" = String, Path, description = "the token from the reset link")),
    request_body = NewPassword,
    responses((status = 204), (status = 410, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_password(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Body(input): Body<NewPassword>,
) -> ApiResult<StatusCode> {
    match crate::reset::complete(&st, &token, input.password).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(ResetError::TooShort) => {
            Err(ApiError::Invalid(vec![domain::citation::FieldError::new(
                "password",
                "too_short",
                "at least 8 characters",
            )]))
        }
        Err(ResetError::BadLink) => Err(ApiError::Bilingual(
            410,
            "reset_link_invalid",
            ResetError::BadLink.to_string(),
            "此重设链接无效、已使用或已过期，请重新申请".to_owned(),
        )),
        Err(ResetError::Flow(e)) => Err(e.into()),
    }
}
