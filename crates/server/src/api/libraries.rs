//! The libraries of this node (the consortium's members): what staff choose lenders from.

use axum::Json;
use axum::extract::State;
use domain::library::LibraryOffset;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_time, put_time))
}

/// A library's time: the offset from UTC its dates and hours are read in.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LibraryTime {
    /// Offset from UTC, `+08:00` (the default, China Standard Time), `+09:00`, `-05:00`,
    /// `+05:30`: from -12:00 to +14:00 in quarters of an hour. A fixed offset, not a named
    /// zone: where clocks change for daylight saving, set it again when they do.
    pub utc_offset: String,
}

/// The caller's library's time: dates on cover pages, links' last day, letters, the digest
/// hour, and the day need-by and closed days are counted from are in it.
#[utoipa::path(get, path = "/api/v1/library-time", tag = "borrowing",
    responses((status = 200, body = LibraryTime), (status = 401, body = ErrorBody)))]
pub async fn get_time(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<LibraryTime>> {
    let offset = st.store.library(&user.library_id).await?.offset();
    Ok(Json(LibraryTime {
        utc_offset: offset.to_string(),
    }))
}

/// Set the caller's library's time (its admins). Dates given out from now on follow it;
/// links already issued keep their moment, shown in the new time.
#[utoipa::path(put, path = "/api/v1/library-time", tag = "borrowing",
    request_body = LibraryTime,
    responses((status = 200, body = LibraryTime), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_time(
    State(st): State<AppState>,
    user: CurrentUser,
    super::extract::Json(input): super::extract::Json<LibraryTime>,
) -> ApiResult<Json<LibraryTime>> {
    let offset = save_offset(&st, &user, &input.utc_offset).await?;
    Ok(Json(LibraryTime {
        utc_offset: offset.to_string(),
    }))
}

/// Check and store the library's time (its admins): the API's and the settings page's one
/// way.
pub async fn save_offset(
    st: &AppState,
    user: &CurrentUser,
    text: &str,
) -> ApiResult<LibraryOffset> {
    if !user.roles.iter().any(|r| r.is_admin()) {
        return Err(ApiError::forbidden(
            "the library's time is set by its admins",
            "本馆时区由本馆管理员设置",
        ));
    }
    let offset = LibraryOffset::parse(text).map_err(|e| {
        ApiError::Invalid(vec![
            domain::citation::FieldError::new("utc_offset", "invalid_utc_offset", e.en)
                .with_zh(e.zh),
        ])
    })?;
    let (lib, saved) = (user.library_id.clone(), offset);
    st.store
        .write(move |tx| Box::pin(async move { tx.set_library_offset(&lib, saved).await }))
        .await?;
    Ok(offset)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LibraryView {
    pub code: String,
    /// ISO 18626 agency id, TYPE:VALUE.
    pub agency: String,
    pub name_en: String,
    pub name_zh: String,
    /// university, public, research, supplier or hub.
    pub kind: String,
    pub region: String,
    /// Where it is, in decimal degrees, when the directory says (routing prefers nearer
    /// lenders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<String>,
    pub hub: Option<String>,
    /// Its time: offset from UTC, e.g. `+08:00`.
    pub utc_offset: String,
    /// What this library lends to the caller's library, when it has a policy for it.
    #[schema(value_type = Option<Object>)]
    pub lends_to_us: Option<serde_json::Value>,
}

/// Every library on this node, with the terms each one lends to the caller's library.
#[utoipa::path(get, path = "/api/v1/libraries", tag = "borrowing",
    responses((status = 200, body = Vec<LibraryView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Vec<LibraryView>>> {
    let mut out = Vec::new();
    for lib in st.store.libraries().await? {
        let terms = if lib.library_id == user.library_id {
            None
        } else {
            st.store
                .policy_between(&lib.library_id, &user.library_id)
                .await?
                .and_then(|p| serde_json::to_value(p).ok())
        };
        let at = lib.location();
        let offset = lib.offset();
        out.push(LibraryView {
            latitude: at.map(|g| g.latitude_text()),
            longitude: at.map(|g| g.longitude_text()),
            agency: format!("{}:{}", lib.agency_type, lib.agency_value),
            code: lib.library_id,
            name_en: lib.name_en,
            name_zh: lib.name_zh,
            kind: lib.kind,
            region: lib.region,
            utc_offset: offset.to_string(),
            hub: lib.hub_id,
            lends_to_us: terms,
        });
    }
    Ok(Json(out))
}
