//! The libraries of this node (the consortium's members): what staff choose lenders from.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
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
        out.push(LibraryView {
            latitude: at.map(|g| g.latitude_text()),
            longitude: at.map(|g| g.longitude_text()),
            agency: format!("{}:{}", lib.agency_type, lib.agency_value),
            code: lib.library_id,
            name_en: lib.name_en,
            name_zh: lib.name_zh,
            kind: lib.kind,
            region: lib.region,
            hub: lib.hub_id,
            lends_to_us: terms,
        });
    }
    Ok(Json(out))
}
