//! Readers register themselves; staff of their library approve or suspend them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::Actor;
use domain::people::{AccountStatus, PatronType, UserKind};
use serde::{Deserialize, Serialize};
use store::{NewUser, StoreError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json as Body, Query};
use crate::AppState;
use crate::auth::{CurrentUser, hash_password};
use crate::error::{ApiError, ApiResult, ErrorBody};
use domain::citation::FieldError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(list))
        .routes(routes!(approve))
        .routes(routes!(suspend))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The library code, e.g. `BCU`.
    pub library: String,
    pub username: String,
    pub password: String,
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// faculty, phd, master, undergraduate, staff or external.
    pub patron_type: String,
    #[serde(default)]
    pub department: Option<String>,
    /// `zh-CN` (default) or `en`.
    #[serde(default)]
    pub locale: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PatronView {
    pub id: String,
    pub library: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub patron_type: Option<String>,
    pub department: Option<String>,
    /// pending, active or suspended.
    pub status: String,
}

impl From<store::UserRow> for PatronView {
    fn from(u: store::UserRow) -> Self {
        PatronView {
            id: u.user_id,
            library: u.library_id,
            username: u.username,
            display_name: u.display_name,
            email: u.email,
            patron_type: u.patron_type,
            department: u.department,
            status: u.status,
        }
    }
}

fn field(field: &'static str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        message_zh: None,
        field,
        code,
        message: message.into(),
    }
}

/// Register as a reader. The account is pending until staff of the library approve it.
#[utoipa::path(post, path = "/api/v1/register", tag = "auth", security(()),
    request_body = Registration,
    responses(
        (status = 201, body = PatronView),
        (status = 409, description = "the username is taken", body = ErrorBody),
        (status = 422, body = ErrorBody)
    ))]
pub async fn register(
    State(st): State<AppState>,
    Body(r): Body<Registration>,
) -> ApiResult<(StatusCode, Json<PatronView>)> {
    let user = register_reader(&st, r).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// The username as stored (trimmed, lower case), or why it cannot be one.
pub(crate) fn check_username(raw: &str) -> Result<String, FieldError> {
    let username = raw.trim().to_lowercase();
    if !(3..=64).contains(&username.len())
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(field(
            "username",
            "invalid_username",
            "3 to 64 letters, digits, . _ - or @",
        ));
    }
    Ok(username)
}

/// The password and display name rules every account shares; problems are added to `errors`.
pub(crate) fn check_password_and_name(
    password: &str,
    display_name: &str,
    errors: &mut Vec<FieldError>,
) -> String {
    if password.chars().count() < 8 {
        errors.push(field("password", "too_short", "at least 8 characters"));
    }
    let display_name = display_name.trim().to_owned();
    if display_name.is_empty() || display_name.chars().count() > 200 {
        errors.push(field(
            "display_name",
            "required",
            "a name of 1 to 200 characters",
        ));
    }
    display_name
}

/// Register a reader (pending until staff approve): the API's and the registration page's
/// one way in. Every bad field is named; a taken username is a conflict.
pub async fn register_reader(st: &AppState, r: Registration) -> ApiResult<store::UserRow> {
    let mut errors = Vec::new();
    let username = match check_username(&r.username) {
        Ok(u) => u,
        Err(e) => {
            errors.push(e);
            String::new()
        }
    };
    let display_name = check_password_and_name(&r.password, &r.display_name, &mut errors);
    let patron_type = PatronType::parse(r.patron_type.trim());
    if patron_type.is_none() {
        errors.push(field(
            "patron_type",
            "invalid_patron_type",
            "faculty, phd, master, undergraduate, staff or external",
        ));
    }
    let locale = r.locale.clone().unwrap_or_else(|| "zh-CN".to_owned());
    if !matches!(locale.as_str(), "zh-CN" | "en") {
        errors.push(field("locale", "invalid_locale", "zh-CN or en"));
    }
    let library = st
        .store
        .library(r.library.trim().to_uppercase().as_str())
        .await
        .ok();
    if library.is_none() {
        errors.push(field(
            "library",
            "unknown_library",
            format!("no library {:?} here", r.library),
        ));
    }
    let (Some(library), Some(patron_type), true) = (library, patron_type, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let hash = hash_password(r.password)
        .await
        .map_err(ApiError::internal)?;
    let user = NewUser {
        user_id: uuid::Uuid::now_v7().to_string(),
        library_id: library.library_id,
        username,
        display_name,
        email: r
            .email
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty()),
        password_hash: hash,
        kind: UserKind::Patron.as_str().to_owned(),
        patron_type: Some(patron_type.as_str().to_owned()),
        department: r
            .department
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty()),
        roles: String::new(),
        status: AccountStatus::Pending.as_str().to_owned(),
        locale,
    };
    let id = user.user_id.clone();
    let now = st.now();
    st.store
        .write(move |tx| Box::pin(async move { tx.insert_user(&user, now).await }))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::conflict("that username is taken", "该用户名已被占用")
            }
            other => ApiError::from(other),
        })?;
    Ok(st.store.user(&id).await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatronQuery {
    /// pending, active or suspended; all when absent.
    pub status: Option<String>,
}

pub(crate) fn require_staff(user: &CurrentUser) -> ApiResult<()> {
    if user.can(Actor::BorrowingStaff) || user.can(Actor::Manager) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "readers are managed by borrowing staff",
            "读者由借入馆员管理",
        ))
    }
}

/// The library's readers, e.g. those waiting for approval.
#[utoipa::path(get, path = "/api/v1/patrons", tag = "auth", params(PatronQuery),
    responses((status = 200, body = Vec<PatronView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PatronQuery>,
) -> ApiResult<Json<Vec<PatronView>>> {
    require_staff(&user)?;
    let users = st.store.users(&user.library_id).await?;
    Ok(Json(
        users
            .into_iter()
            .filter(|u| u.kind == UserKind::Patron.as_str())
            .filter(|u| q.status.as_deref().is_none_or(|s| u.status == s))
            .map(PatronView::from)
            .collect(),
    ))
}

/// Approve (active) or refuse / suspend a reader of the staff member's library: the API's and
/// the pages' one way. A reader approved after registering gets the welcome letter in the same
/// transaction.
pub async fn set_status(
    st: &AppState,
    user: &CurrentUser,
    id: &str,
    status: AccountStatus,
) -> ApiResult<store::UserRow> {
    require_staff(user)?;
    let patron = st
        .store
        .user(id)
        .await
        .map_err(|_| ApiError::NotFound("reader"))?;
    if patron.library_id != user.library_id || patron.kind != UserKind::Patron.as_str() {
        return Err(ApiError::NotFound("reader"));
    }
    let (lib, uid) = (user.library_id.clone(), id.to_owned());
    // A reader approved after registering hears so, in the same transaction.
    let welcome =
        status == AccountStatus::Active && patron.status == AccountStatus::Pending.as_str();
    let now = st.now();
    st.store
        .write(move |tx| {
            Box::pin(async move {
                tx.set_user_status(&lib, &uid, status.as_str()).await?;
                if welcome {
                    crate::letters::queue_to_user(
                        tx,
                        crate::letters::LetterKind::RegistrationApproved,
                        &lib,
                        &uid,
                        "",
                        serde_json::json!({}),
                        now,
                    )
                    .await?;
                }
                Ok::<_, crate::flow::FlowError>(())
            })
        })
        .await?;
    if welcome {
        st.store.notify_outbox();
    }
    Ok(st.store.user(id).await?)
}

/// Approve a registered reader: they can log in and ask for items.
#[utoipa::path(post, path = "/api/v1/patrons/{id}/approve", tag = "auth",
    params(("id" = String, Path, description = "reader id")),
    responses((status = 200, body = PatronView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn approve(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PatronView>> {
    Ok(Json(
        set_status(&st, &user, &id, AccountStatus::Active)
            .await?
            .into(),
    ))
}

/// Suspend a reader: their tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/patrons/{id}/suspend", tag = "auth",
    params(("id" = String, Path, description = "reader id")),
    responses((status = 200, body = PatronView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn suspend(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PatronView>> {
    Ok(Json(
        set_status(&st, &user, &id, AccountStatus::Suspended)
            .await?
            .into(),
    ))
}
