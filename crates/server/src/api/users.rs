//! A library's accounts for its admins: list them, add a staff member with roles, change the
//! roles, disable or enable an account. The same functions serve the users page.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::people::AccountStatus;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json as Body;
use crate::AppState;
use crate::accounts::{self, NewStaff};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(set_roles))
        .routes(routes!(disable))
        .routes(routes!(enable))
}

/// An account as admins see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// staff or patron.
    pub kind: String,
    /// Staff roles, e.g. `lending_operator`.
    pub roles: Vec<String>,
    pub patron_type: Option<String>,
    /// pending, active or suspended.
    pub status: String,
}

impl From<store::UserRow> for UserView {
    fn from(u: store::UserRow) -> Self {
        UserView {
            roles: u
                .roles
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            id: u.user_id,
            username: u.username,
            display_name: u.display_name,
            email: u.email,
            kind: u.kind,
            patron_type: u.patron_type,
            status: u.status,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffInput {
    pub username: String,
    pub display_name: String,
    /// At least 8 characters.
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
    /// borrowing_operator, lending_operator, resource_sharing_manager, library_admin (and
    /// hub_admin, from a hub admin).
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesInput {
    pub roles: Vec<String>,
}

fn require_admin(user: &CurrentUser) -> ApiResult<()> {
    if user.roles.iter().any(|r| r.is_admin()) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "accounts and roles are kept by the library's admins",
            "账户和角色由本馆管理员维护",
        ))
    }
}

/// Every account of the caller's library (its admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)))]
pub async fn list(State(st): State<AppState>, user: CurrentUser) -> ApiResult<Json<Vec<UserView>>> {
    require_admin(&user)?;
    let users = st.store.users(&user.library_id).await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

/// Add an active staff account to the caller's library, with its roles.
#[utoipa::path(post, path = "/api/v1/users", tag = "admin",
    request_body = NewStaffInput,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    user: CurrentUser,
    Body(input): Body<NewStaffInput>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let n = NewStaff {
        username: input.username,
        display_name: input.display_name,
        password: input.password,
        email: input.email,
        roles: input.roles,
    };
    let row = accounts::create_staff(&st, &user, n).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Replace a staff member's roles (an admin cannot drop their own admin role).
#[utoipa::path(put, path = "/api/v1/users/{id}/roles", tag = "admin",
    params(("id" = String, Path, description = "account id")),
    request_body = RolesInput,
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_roles(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(input): Body<RolesInput>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(
        accounts::set_roles(&st, &user, &id, &input.roles)
            .await?
            .into(),
    ))
}

async fn set_status(
    st: &AppState,
    user: &CurrentUser,
    id: &str,
    status: AccountStatus,
) -> ApiResult<Json<UserView>> {
    Ok(Json(
        accounts::set_account_status(st, user, id, status)
            .await?
            .into(),
    ))
}

/// Disable an account: its sessions and tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "admin",
    params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn disable(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    set_status(&st, &user, &id, AccountStatus::Suspended).await
}

/// Enable a disabled account again.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "admin",
    params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    set_status(&st, &user, &id, AccountStatus::Active).await
}
