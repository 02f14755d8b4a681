//! The union catalog's search: words in any language (Chinese in simplified or traditional
//! characters), names, ISBNs in either form, ISSNs; each hit with the holdings of every member.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::extract::Query;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

const MAX_PER_PAGE: usize = 100;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SearchQuery {
    /// Words (every one must match), an ISBN-10 or -13, or an ISSN. Empty lists everything.
    pub q: Option<String>,
    /// 1-based page (default 1).
    pub page: Option<usize>,
    /// Hits per page, 1 to 100 (default 20).
    pub per_page: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogPage {
    /// Matching union records.
    pub total: usize,
    pub hits: Vec<CatalogHit>,
    pub facets: CatalogFacets,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogHit {
    pub record_id: String,
    pub title: String,
    /// The title in its own script (Chinese, Japanese...) when the record gives one.
    pub title_vernacular: Option<String>,
    pub author: Option<String>,
    pub author_vernacular: Option<String>,
    pub year: Option<String>,
    /// MARC language code.
    pub language: Option<String>,
    pub identifiers: HitIdentifiers,
    /// Every member library's items.
    pub holdings: Vec<HoldingItem>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HitIdentifiers {
    /// ISBN-13s, each followed by its ISBN-10 when it has one.
    pub isbn: Vec<String>,
    pub issn: Vec<String>,
    pub oclc: Vec<String>,
    pub lccn: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HoldingItem {
    /// The holding library's code.
    pub library: String,
    pub location: Option<String>,
    pub call_number: Option<String>,
    pub barcode: Option<String>,
}

/// Counts over all matches, most frequent first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogFacets {
    pub library: Vec<FacetCount>,
    pub language: Vec<FacetCount>,
    pub year: Vec<FacetCount>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

fn facet(counts: Vec<(String, u64)>) -> Vec<FacetCount> {
    counts
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect()
}

/// Search the union catalog.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog", params(SearchQuery),
    responses(
        (status = 200, body = CatalogPage),
        (status = 400, description = "page or per_page out of range", body = ErrorBody),
        (status = 401, body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username))]
pub async fn search(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<CatalogPage>> {
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(20);
    if page == 0 || page > 10_000 {
        return Err(ApiError::Bilingual(
            400,
            "bad_request",
            format!("page must be from 1 to 10000, not {page}"),
            format!("page 须在 1 到 10000 之间，而不是 {page}"),
        ));
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(ApiError::Bilingual(
            400,
            "bad_request",
            format!("per_page must be from 1 to {MAX_PER_PAGE}, not {per_page}"),
            format!("per_page 须在 1 到 {MAX_PER_PAGE} 之间，而不是 {per_page}"),
        ));
    }
    let text = q.q.unwrap_or_default();
    let index = st.catalog.clone();
    // Searching is CPU work: keep it off the threads that serve other requests.
    let found = tokio::task::spawn_blocking(move || index.search(&text, page, per_page))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let ids: Vec<String> = found.hits.iter().map(|h| h.record_id.clone()).collect();
    let mut holdings: BTreeMap<String, Vec<HoldingItem>> = BTreeMap::new();
    for h in st.store.holdings_of(&ids).await? {
        holdings.entry(h.record_id).or_default().push(HoldingItem {
            library: h.library_id,
            location: h.location,
            call_number: h.call_number,
            barcode: h.barcode,
        });
    }
    let hits = found
        .hits
        .into_iter()
        .map(|d| CatalogHit {
            holdings: holdings.remove(&d.record_id).unwrap_or_default(),
            record_id: d.record_id,
            title: d.title,
            title_vernacular: d.title_vernacular,
            author: d.author,
            author_vernacular: d.author_vernacular,
            year: d.year,
            language: d.language,
            identifiers: HitIdentifiers {
                isbn: d.identifiers.isbn,
                issn: d.identifiers.issn,
                oclc: d.identifiers.oclc,
                lccn: d.identifiers.lccn,
            },
        })
        .collect();
    Ok(Json(CatalogPage {
        total: found.total,
        hits,
        facets: CatalogFacets {
            library: facet(found.facets.library),
            language: facet(found.facets.language),
            year: facet(found.facets.year),
        },
    }))
}
