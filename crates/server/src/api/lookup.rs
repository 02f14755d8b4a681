//! `GET /api/v1/lookup?id=…`: a citation filled in from a DOI, PMID or ISBN (see
//! [`crate::lookup`]), for a request form to show before the reader sends it.

use axum::Json;
use axum::extract::State;
use domain::citation::CitationInput;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(lookup))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// A DOI (`10.…`, a doi.org link or `doi:…`), a PMID, or an ISBN-10 / ISBN-13.
    pub id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupResult {
    /// `doi`, `pmid` or `isbn`.
    pub kind: &'static str,
    /// The identifier, normalised.
    pub identifier: String,
    /// Where the citation was found: `catalog` (the union catalog), `crossref` or `pubmed`.
    pub source: &'static str,
    /// The request format it suggests: `loan`, `article_copy` or `chapter_copy`.
    pub format: &'static str,
    /// The citation, in the shape `POST /api/v1/requests` takes.
    #[schema(value_type = Object)]
    pub citation: CitationInput,
}

/// Fill in a citation from an identifier: an ISBN from the union catalog first, then from the
/// Crossref-style service; a DOI from the Crossref-style service; a PMID from the PubMed-style
/// service.
#[utoipa::path(get, path = "/api/v1/lookup", tag = "borrowing", params(LookupQuery),
    responses(
        (status = 200, body = LookupResult),
        (status = 400, description = "not a DOI, PMID or ISBN (`unrecognised_identifier`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no record of it (`identifier_not_found`)", body = ErrorBody),
        (status = 502, description = "a lookup service failed (`lookup_service_failed`)", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username))]
pub async fn lookup(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<LookupQuery>,
) -> ApiResult<Json<LookupResult>> {
    let found = crate::lookup::lookup(&st, &q.id).await?;
    Ok(Json(LookupResult {
        kind: found.identifier.kind(),
        identifier: found.identifier.as_str().to_owned(),
        source: found.source,
        format: found.format.as_str(),
        citation: found.citation,
    }))
}
