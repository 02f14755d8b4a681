//! The union catalog's search: words in any language (Chinese in simplified or traditional
//! characters), names, ISBNs in either form, ISSNs; each hit with the holdings of every member.
//! And a library's holdings imported from a spreadsheet.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use domain::people::Role;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::extract::Query;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(import_holdings))
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HoldingsImportQuery {
    /// The library the holdings belong to (its code).
    pub library: String,
}

/// What a holdings import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HoldingsImported {
    /// Rows read after the header.
    pub read: usize,
    /// Holdings of the library written (new, or replacing the same row's earlier import).
    pub holdings: usize,
    /// Union records started because no record matched a row.
    pub new_records: usize,
    /// Rows refused; each problem is in `errors`, by line and field, in English and Chinese.
    pub rejected: usize,
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<domain::partner::RowError>,
}

/// Import a library's holdings from the body: CSV or tab-separated (UTF-8, a byte order mark
/// allowed), the first line naming the columns `isbn`, `issn`, `oclc`, `title`, `author`,
/// `year`, `call_number`, `barcode`, `location`. Each row needs one of isbn, issn, oclc or
/// title; it joins the union record its ISBN, ISSN, OCLC number or title + author + year
/// matches, or starts a minimal one. Importing the same file again changes nothing. Bad rows
/// are listed by line and field and left out; the rest are imported. Hub admins, and that
/// library's admins.
#[utoipa::path(post, path = "/api/v1/catalog/holdings/import", tag = "catalog",
    params(HoldingsImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, description = "what was imported, and every bad row", body = HoldingsImported),
        (status = 403, body = ErrorBody),
        (status = 404, description = "no such library", body = ErrorBody),
        (status = 422, description = "the file as a whole cannot be read (unknown column, no identifying column, empty)", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, library = %q.library))]
pub async fn import_holdings(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<HoldingsImportQuery>,
    body: String,
) -> ApiResult<Json<HoldingsImported>> {
    match import_holdings_as(&st, &user, &q.library, &body).await? {
        Ok(s) => Ok(Json(s)),
        Err(errors) => {
            // The file as a whole: said in both languages, every problem in one message.
            let code = errors.first().map_or("invalid_file", |e| e.code);
            let en = errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let zh = errors
                .iter()
                .map(|e| e.message_zh.as_str())
                .collect::<Vec<_>>()
                .join("；");
            Err(ApiError::Bilingual(422, code, en, zh))
        }
    }
}

/// Import `text` as the holdings of `library` for `user`: who may (hub admins, and that
/// library's admins), the library checked, the rows imported. A file that cannot be read as a
/// whole is the inner error, problem by problem. Shared by the API and the admin page.
pub async fn import_holdings_as(
    st: &AppState,
    user: &CurrentUser,
    library: &str,
    text: &str,
) -> ApiResult<Result<HoldingsImported, Vec<domain::partner::RowError>>> {
    let code = domain::ident::LibraryCode::parse(&library.trim().to_uppercase())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let code = code.as_str().to_owned();
    let allowed = user.roles.contains(&Role::HubAdmin)
        || (user.roles.contains(&Role::LibraryAdmin) && user.library_id == code);
    if !allowed {
        return Err(ApiError::forbidden(
            "holdings are imported by hub admins and the library's own admins",
            "馆藏由中心管理员和本馆管理员导入",
        ));
    }
    st.store.library(&code).await.map_err(|e| match e {
        store::StoreError::NotFound => ApiError::NotFound("library"),
        other => other.into(),
    })?;
    let outcome = catalog::holdings::import_holdings(&st.store, Some(&st.catalog), &code, text)
        .await
        .map_err(ApiError::internal)?;
    Ok(outcome.map(|s| {
        tracing::info!(
            library = %code,
            read = s.read,
            holdings = s.holdings,
            new_records = s.new_records,
            rejected = s.rejected,
            "holdings imported"
        );
        HoldingsImported {
            read: s.read,
            holdings: s.holdings,
            new_records: s.new_records,
            rejected: s.rejected,
            errors: s.errors,
        }
    }))
}
