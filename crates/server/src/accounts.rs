//! Staff accounts kept by a library's admins: add a staff member with roles, change the roles,
//! disable or enable an account. Readers register and are approved through `api::patrons`.

use domain::citation::FieldError;
use domain::people::{AccountStatus, Role, UserKind, roles_to_string};
use store::{NewUser, StoreError, UserRow};

use crate::AppState;
use crate::api::patrons::{check_password_and_name, check_username};
use crate::auth::{CurrentUser, hash_password};
use crate::error::{ApiError, ApiResult};

/// A staff account as an admin fills it in.
#[derive(Debug, Clone, Default)]
pub struct NewStaff {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub email: Option<String>,
    /// Role names, e.g. `borrowing_operator`.
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

/// The roles named, checked: at least one, all known, and `hub_admin` only from a hub admin.
fn check_roles(admin: &CurrentUser, names: &[String]) -> Result<Vec<Role>, FieldError> {
    let mut roles = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let role = Role::parse(n).ok_or_else(|| {
            FieldError::new("roles", "unknown_role", format!("{n:?} is not a role"))
        })?;
        if role == Role::HubAdmin && !admin.roles.contains(&Role::HubAdmin) {
            return Err(FieldError::new(
                "roles",
                "hub_admin_only",
                "only a hub admin can make another hub admin",
            ));
        }
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err(FieldError::new(
            "roles",
            "required",
            "a staff member needs at least one role",
        ));
    }
    Ok(roles)
}

/// A staff account of the admin's library, or not found.
async fn staff_of(st: &AppState, admin: &CurrentUser, id: &str) -> ApiResult<UserRow> {
    match st.store.user(id).await {
        Ok(u) if u.library_id == admin.library_id => Ok(u),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::NotFound("account")),
        Err(e) => Err(e.into()),
    }
}

/// Add an active staff account to the admin's library.
#[tracing::instrument(skip_all, fields(admin = %admin.username))]
pub async fn create_staff(st: &AppState, admin: &CurrentUser, n: NewStaff) -> ApiResult<UserRow> {
    require_admin(admin)?;
    let mut errors = Vec::new();
    let username = check_username(&n.username).unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    let display_name = check_password_and_name(&n.password, &n.display_name, &mut errors);
    let roles = check_roles(admin, &n.roles).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    let email = n
        .email
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
    if let Some(e) = &email
        && (e.chars().count() > 254 || !e.contains('@'))
    {
        errors.push(FieldError::new(
            "email",
            "invalid_email",
            "an e-mail address such as name@example.edu",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let user = NewUser {
        user_id: uuid::Uuid::now_v7().to_string(),
        library_id: admin.library_id.clone(),
        username,
        display_name,
        email,
        password_hash: hash_password(n.password)
            .await
            .map_err(ApiError::internal)?,
        kind: UserKind::Staff.as_str().to_owned(),
        patron_type: None,
        department: None,
        roles: roles_to_string(&roles),
        status: AccountStatus::Active.as_str().to_owned(),
        locale: "zh-CN".to_owned(),
    };
    let id = user.user_id.clone();
    let now = st.now();
    st.store
        .write(move |tx| Box::pin(async move { tx.insert_user(&user, now).await }))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Invalid(vec![FieldError::new(
                "username",
                "username_taken",
                "that username is taken",
            )]),
            other => other.into(),
        })?;
    tracing::info!(user = %id, "staff account added");
    Ok(st.store.user(&id).await?)
}

/// Replace a staff member's roles. Admins cannot take their own admin role away, so that a
/// library is never left without one by a slip.
#[tracing::instrument(skip_all, fields(admin = %admin.username, user = %id))]
pub async fn set_roles(
    st: &AppState,
    admin: &CurrentUser,
    id: &str,
    names: &[String],
) -> ApiResult<UserRow> {
    require_admin(admin)?;
    let target = staff_of(st, admin, id).await?;
    if target.kind != UserKind::Staff.as_str() {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "roles",
            "not_staff",
            "readers have no roles",
        )]));
    }
    let roles = check_roles(admin, names).map_err(|e| ApiError::Invalid(vec![e]))?;
    if target.user_id == admin.user_id && !roles.iter().any(|r| r.is_admin()) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "roles",
            "own_admin_role",
            "you cannot take your own admin role away",
        )]));
    }
    // Only a hub admin may change a hub admin's roles.
    let target_roles = domain::people::parse_roles(&target.roles).unwrap_or_default();
    if target_roles.contains(&Role::HubAdmin) && !admin.roles.contains(&Role::HubAdmin) {
        return Err(ApiError::forbidden(
            "a hub admin's roles are changed by a hub admin",
            "中心管理员的角色只能由中心管理员更改",
        ));
    }
    let (lib, uid, text) = (
        admin.library_id.clone(),
        target.user_id.clone(),
        roles_to_string(&roles),
    );
    st.store
        .write(move |tx| Box::pin(async move { tx.set_user_roles(&lib, &uid, &text).await }))
        .await?;
    Ok(st.store.user(id).await?)
}

/// Disable (suspend) or enable a staff account; a disabled account's sessions and tokens stop
/// working at once. Readers go through `api::patrons::set_status`.
#[tracing::instrument(skip_all, fields(admin = %admin.username, user = %id))]
pub async fn set_staff_status(
    st: &AppState,
    admin: &CurrentUser,
    id: &str,
    status: AccountStatus,
) -> ApiResult<UserRow> {
    require_admin(admin)?;
    let target = staff_of(st, admin, id).await?;
    if target.kind != UserKind::Staff.as_str() {
        return Err(ApiError::NotFound("account"));
    }
    if target.user_id == admin.user_id {
        return Err(ApiError::Bilingual(
            409,
            "own_account",
            "you cannot disable your own account".to_owned(),
            "不能停用自己的账户".to_owned(),
        ));
    }
    let target_roles = domain::people::parse_roles(&target.roles).unwrap_or_default();
    if target_roles.contains(&Role::HubAdmin) && !admin.roles.contains(&Role::HubAdmin) {
        return Err(ApiError::forbidden(
            "a hub admin's account is kept by a hub admin",
            "中心管理员的账户只能由中心管理员维护",
        ));
    }
    let (lib, uid) = (admin.library_id.clone(), target.user_id.clone());
    st.store
        .write(move |tx| {
            Box::pin(async move { tx.set_user_status(&lib, &uid, status.as_str()).await })
        })
        .await?;
    Ok(st.store.user(id).await?)
}

/// Disable or enable any account of the admin's library: a reader through the readers' rule
/// (`api::patrons::set_status`, which welcomes a reader approved from pending), staff through
/// [`set_staff_status`].
pub async fn set_account_status(
    st: &AppState,
    admin: &CurrentUser,
    id: &str,
    status: AccountStatus,
) -> ApiResult<UserRow> {
    require_admin(admin)?;
    let target = staff_of(st, admin, id).await?;
    if target.kind == UserKind::Patron.as_str() {
        crate::api::patrons::set_status(st, admin, id, status).await
    } else {
        set_staff_status(st, admin, id, status).await
    }
}
