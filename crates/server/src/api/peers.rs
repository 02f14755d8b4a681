//! Peer profiles: how partner libraries served by other systems (Alma, ReShare, WorldShare,
//! another librelay node) are reached over ISO 18626. Admins read and edit them; secrets are
//! never shown back.

use axum::extract::{Path, State};
use domain::peer::{ErrorStyle, PeerAuth, PeerProfile, PeerSystem, SchemaVersion};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one, put, delete))
        .routes(routes!(preset))
}

fn require_admin(user: &CurrentUser) -> ApiResult<()> {
    if user.roles.iter().any(|r| r.is_admin()) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "peer profiles are kept by library and hub admins",
            "对等节点资料由本馆管理员和中心管理员维护",
        ))
    }
}

/// A profile as shown: credentials replaced by `***`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PeerView {
    /// The partner library's code.
    pub library: String,
    /// Its ISO 18626 agency id, TYPE:VALUE.
    pub agency: String,
    pub name_en: String,
    pub name_zh: String,
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

fn masked(auth: &PeerAuth) -> PeerAuth {
    match auth {
        PeerAuth::None => PeerAuth::None,
        PeerAuth::Header { name, .. } => PeerAuth::Header {
            name: name.clone(),
            value: "***".to_owned(),
        },
        PeerAuth::Basic { username, .. } => PeerAuth::Basic {
            username: username.clone(),
            password: "***".to_owned(),
        },
    }
}

fn view(lib: store::LibraryRow, p: &PeerProfile, at: Option<OffsetDateTime>) -> PeerView {
    let mut shown = p.clone();
    shown.auth = masked(&p.auth);
    shown.inbound_auth = masked(&p.inbound_auth);
    PeerView {
        agency: format!("{}:{}", lib.agency_type, lib.agency_value),
        library: lib.library_id,
        name_en: lib.name_en,
        name_zh: lib.name_zh,
        profile: serde_json::to_value(shown).unwrap_or_default(),
        updated_at: at,
    }
}

/// Every partner library that is reached over the network, with its profile.
#[utoipa::path(get, path = "/api/v1/peers", tag = "admin",
    responses((status = 200, body = Vec<PeerView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<axum::Json<Vec<PeerView>>> {
    require_admin(&user)?;
    let mut out = Vec::new();
    for row in st.store.peers().await? {
        let lib = st.store.library(&row.library_id).await?;
        out.push(view(lib, &row.profile.0, Some(row.updated_at)));
    }
    Ok(axum::Json(out))
}

/// The profile of one partner library.
#[utoipa::path(get, path = "/api/v1/peers/{library}", tag = "admin",
    params(("library" = String, Path, description = "the partner library's code")),
    responses((status = 200, body = PeerView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(library): Path<String>,
) -> ApiResult<axum::Json<PeerView>> {
    require_admin(&user)?;
    let code = library.to_uppercase();
    let lib = st
        .store
        .library(&code)
        .await
        .map_err(|_| ApiError::NotFound("library"))?;
    let profile = st
        .store
        .peer(&code)
        .await?
        .ok_or(ApiError::NotFound("peer profile"))?;
    Ok(axum::Json(view(lib, &profile, None)))
}

/// What a profile is set from: `system` and `endpoint`, and any field to change from the
/// system's preset (or, for an existing profile, from its current value). A credential given
/// as `***` keeps the stored one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeerInput {
    /// librelay, reshare, alma, worldshare, other or email (an e-mail-only partner: `endpoint`
    /// is then `mailto:ADDRESS`, and messages go as bilingual letters).
    pub system: String,
    pub endpoint: String,
    /// 2017 or 2021.
    pub version: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub auth: Option<PeerAuth>,
    #[schema(value_type = Option<Object>)]
    pub inbound_auth: Option<PeerAuth>,
    /// confirmation (ERROR confirmation with HTTP 200) or http_400.
    pub error_style: Option<String>,
    pub accepts_expect_to_supply: Option<bool>,
    pub status_map: Option<BTreeMap<String, String>>,
    pub reason_map: Option<BTreeMap<String, String>>,
    pub max_in_flight: Option<u32>,
    pub timeout_secs: Option<u32>,
}

fn keep_secret(new: PeerAuth, old: &PeerAuth) -> PeerAuth {
    match (new, old) {
        (PeerAuth::Header { name, value }, PeerAuth::Header { value: old, .. })
            if value == "***" =>
        {
            PeerAuth::Header {
                name,
                value: old.clone(),
            }
        }
        (PeerAuth::Basic { username, password }, PeerAuth::Basic { password: old, .. })
            if password == "***" =>
        {
            PeerAuth::Basic {
                username,
                password: old.clone(),
            }
        }
        (new, _) => new,
    }
}

/// Build the profile from the input over the preset (or the current profile), checking every
/// field.
pub fn profile_from(
    input: PeerInput,
    current: Option<&PeerProfile>,
) -> Result<PeerProfile, Vec<domain::citation::FieldError>> {
    use domain::citation::FieldError;
    let mut errors = Vec::new();
    let system = PeerSystem::parse(input.system.trim()).unwrap_or_else(|| {
        errors.push(FieldError::new(
            "system",
            "unknown_system",
            format!(
                "{:?} is not librelay, reshare, alma, worldshare, other or email",
                input.system
            ),
        ));
        PeerSystem::Other
    });
    let mut p = match current {
        Some(c) if c.system == system => c.clone(),
        _ => PeerProfile::preset(system, ""),
    };
    p.endpoint = input.endpoint.trim().to_owned();
    if let Some(v) = input.version {
        match SchemaVersion::parse(v.trim()) {
            Some(v) => p.version = v,
            None => errors.push(FieldError::new(
                "version",
                "unknown_version",
                format!("{v:?} is not 2017 or 2021"),
            )),
        }
    }
    if let Some(a) = input.auth {
        p.auth = keep_secret(a, &p.auth);
    }
    if let Some(a) = input.inbound_auth {
        p.inbound_auth = keep_secret(a, &p.inbound_auth);
    }
    if let Some(s) = input.error_style {
        match ErrorStyle::parse(s.trim()) {
            Some(s) => p.error_style = s,
            None => errors.push(FieldError::new(
                "error_style",
                "unknown_error_style",
                format!("{s:?} is not confirmation or http_400"),
            )),
        }
    }
    if let Some(b) = input.accepts_expect_to_supply {
        p.accepts_expect_to_supply = b;
    }
    if let Some(m) = input.status_map {
        p.status_map = m;
    }
    if let Some(m) = input.reason_map {
        p.reason_map = m;
    }
    if let Some(n) = input.max_in_flight {
        p.max_in_flight = n;
    }
    if let Some(n) = input.timeout_secs {
        p.timeout_secs = n;
    }
    errors.extend(p.validate());
    if errors.is_empty() {
        Ok(p)
    } else {
        Err(errors)
    }
}

/// Set the profile of a partner library: from now on messages to it go over HTTP to its
/// endpoint, and messages from it must carry its inbound credentials.
#[utoipa::path(put, path = "/api/v1/peers/{library}", tag = "admin",
    params(("library" = String, Path, description = "the partner library's code")),
    request_body = PeerInput,
    responses((status = 200, body = PeerView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(library): Path<String>,
    Json(input): Json<PeerInput>,
) -> ApiResult<axum::Json<PeerView>> {
    require_admin(&user)?;
    let code = library.to_uppercase();
    let lib = st
        .store
        .library(&code)
        .await
        .map_err(|_| ApiError::NotFound("library"))?;
    if code == user.library_id {
        return Err(ApiError::conflict(
            "your own library is served by this node; it cannot be a peer",
            "本馆由本节点提供服务，不能作为对等节点",
        ));
    }
    let current = st.store.peer(&code).await?;
    let profile = profile_from(input, current.as_ref()).map_err(ApiError::Invalid)?;
    let (id, p, now) = (code.clone(), profile.clone(), st.now());
    st.store
        .write(move |tx| Box::pin(async move { tx.upsert_peer(&id, &p, now).await }))
        .await?;
    st.store.notify_outbox();
    Ok(axum::Json(view(lib, &profile, Some(now))))
}

/// Remove the profile: the library counts as served by this node again.
#[utoipa::path(delete, path = "/api/v1/peers/{library}", tag = "admin",
    params(("library" = String, Path, description = "the partner library's code")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(library): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    require_admin(&user)?;
    let code = library.to_uppercase();
    let found = st
        .store
        .write(move |tx| Box::pin(async move { tx.delete_peer(&code).await }))
        .await?;
    if found {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("peer profile"))
    }
}

/// The built-in defaults for one system (librelay, reshare, alma, worldshare, other).
#[utoipa::path(get, path = "/api/v1/peer-presets/{system}", tag = "admin",
    params(("system" = String, Path, description = "librelay, reshare, alma, worldshare, other or email")),
    responses((status = 200, body = PresetView), (status = 404, body = ErrorBody)))]
pub async fn preset(
    _user: CurrentUser,
    Path(system): Path<String>,
) -> ApiResult<axum::Json<PresetView>> {
    let system = PeerSystem::parse(system.trim()).ok_or(ApiError::NotFound("system"))?;
    let profile = serde_json::to_value(PeerProfile::preset(system, "")).unwrap_or_default();
    Ok(axum::Json(PresetView { profile }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresetView {
    /// The preset profile, with an empty endpoint to fill in.
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
}
