//! Log in (username and password for a bearer token), log out (revoke it), and who am I.

use super::extract::Json as Body;
use axum::Json;
use axum::extract::State;
use domain::people::AccountStatus;
use serde::{Deserialize, Serialize};
use store::StoreError;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{CurrentUser, new_token, verify_password};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer TOKEN`. Shown once; only its hash is stored.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    pub user: MeView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub library: String,
    /// `patron` or `staff`.
    pub kind: String,
    pub patron_type: Option<String>,
    pub department: Option<String>,
    pub roles: Vec<String>,
    pub locale: String,
}

impl From<store::UserRow> for MeView {
    fn from(u: store::UserRow) -> Self {
        MeView {
            id: u.user_id,
            username: u.username,
            display_name: u.display_name,
            library: u.library_id,
            kind: u.kind,
            patron_type: u.patron_type,
            department: u.department,
            roles: u
                .roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            locale: u.locale,
        }
    }
}

/// Exchange a username and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "wrong username or password", body = ErrorBody),
        (status = 403, description = "account pending approval or suspended", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(username = %body.username))]
pub async fn login(
    State(st): State<AppState>,
    Body(body): Body<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let user = st.store.user_by_username(body.username.trim()).await?;
    let Some(user) = user else {
        // Spend the same time as a real check so usernames cannot be probed by timing.
        let _ = verify_password(body.password, DUMMY_HASH.to_owned()).await;
        return Err(ApiError::BadCredentials);
    };
    if !verify_password(body.password, user.password_hash.clone()).await {
        return Err(ApiError::BadCredentials);
    }
    if user.status != AccountStatus::Active.as_str() {
        return Err(ApiError::forbidden(
            format!("the account is {}", user.status),
            crate::error::account_status_zh(&user.status),
        ));
    }
    let (token, hash) = new_token();
    let now = st.now();
    let expires_at = now + time::Duration::hours(i64::from(st.config.token_ttl_hours.max(1)));
    let user_id = user.user_id.clone();
    st.store
        .write(move |tx| {
            Box::pin(async move { tx.insert_token(&hash, &user_id, now, expires_at).await })
        })
        .await?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user: user.into(),
    }))
}

/// An Argon2id hash of a random password, checked against when the username is unknown.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J1w5TG0oo/ND1KvU2g0VNR8j5n8Fq9yZ0Xbn4x3UoTk";

/// Revoke the token this call is made with.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<axum::http::StatusCode> {
    let now = st.now();
    let hash = user.token_hash.clone();
    st.store
        .write(move |tx| Box::pin(async move { tx.revoke_token(&hash, now).await.map(|_| ()) }))
        .await
        .map_err(|e: StoreError| ApiError::from(e))?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The account this token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
pub async fn me(State(st): State<AppState>, user: CurrentUser) -> ApiResult<Json<MeView>> {
    Ok(Json(st.store.user(&user.user_id).await?.into()))
}
