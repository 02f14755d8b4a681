//! Licensed e-resources and availability over HTTP: importing a KBART package, listing the
//! library's packages, and filling a copy request from where it is available already.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use domain::people::Role;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::BorrowView;
use crate::AppState;
use crate::api::extract::Query;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::flow::available::{self as flow, FillFromLink};
use crate::licences::KbartImported;

pub fn router(max_file_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_kbart))
        .layer(DefaultBodyLimit::max(max_file_bytes.saturating_add(1)))
        .routes(routes!(packages))
        .routes(routes!(fill))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct KbartQuery {
    /// The library that licenses the package (its code); default: the caller's.
    pub library: Option<String>,
    /// The package's name, e.g. the provider's collection; importing the same name again
    /// replaces its titles.
    pub package: String,
}

/// Who may change a library's licences: its admins, and hub admins for any library.
fn may_manage(user: &CurrentUser, library: &str) -> ApiResult<()> {
    let allowed = user.roles.contains(&Role::HubAdmin)
        || (user.roles.contains(&Role::LibraryAdmin) && user.library_id == library);
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Bilingual(
            403,
            "forbidden",
            "licensed e-resources are imported by the library's admins and hub admins".to_owned(),
            "订购电子资源由本馆管理员或联盟管理员导入".to_owned(),
        ))
    }
}

/// The library a call is about: `given` (checked to exist) or the caller's own.
async fn library_of(st: &AppState, user: &CurrentUser, given: Option<&str>) -> ApiResult<String> {
    let Some(given) = given.map(str::trim).filter(|g| !g.is_empty()) else {
        return Ok(user.library_id.clone());
    };
    let code = domain::ident::LibraryCode::parse(&given.to_uppercase()).map_err(|e| {
        ApiError::Invalid(vec![domain::citation::FieldError::new(
            "library",
            "invalid_library_code",
            e.to_string(),
        )])
    })?;
    st.store.library(code.as_str()).await.map_err(|e| match e {
        store::StoreError::NotFound => ApiError::NotFound("library"),
        other => other.into(),
    })?;
    Ok(code.as_str().to_owned())
}

/// Import a KBART Phase II file (UTF-8, tab-separated, the first line naming the columns) as
/// one package of the library's licensed e-resources. Needed columns: `publication_title`,
/// `print_identifier`, `online_identifier`, `date_first_issue_online`,
/// `num_first_vol_online`, `date_last_issue_online`, `num_last_vol_online`, `title_url`;
/// `embargo_info` (`R1Y`, `P6M`…), `coverage_depth`, `publication_type`, `publisher_name`
/// and the rest are read when present. Importing a package again replaces its titles. Bad
/// lines are listed by line and column in English and Chinese and left out; a file with no
/// good line is refused (422) and the package is left as it was.
#[utoipa::path(post, path = "/api/v1/licences/kbart", tag = "borrowing", params(KbartQuery),
    request_body(content = String, content_type = "text/tab-separated-values"),
    responses(
        (status = 200, description = "what was imported, and every bad line", body = KbartImported),
        (status = 403, body = ErrorBody),
        (status = 404, description = "no such library", body = ErrorBody),
        (status = 422, description = "not a KBART file, no good line, or no package name", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username, package = %q.package))]
pub async fn import_kbart(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<KbartQuery>,
    body: String,
) -> ApiResult<Json<KbartImported>> {
    let library = library_of(&st, &user, q.library.as_deref()).await?;
    may_manage(&user, &library)?;
    let done = crate::licences::import_kbart(
        &st.store,
        &library,
        &q.package,
        &body,
        Some(&user.user_id),
        st.now(),
    )
    .await?;
    Ok(Json(done))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PackagesQuery {
    /// The library (its code); default: the caller's.
    pub library: Option<String>,
}

/// The library's KBART packages: name, titles, who imported them and when. The library's
/// staff and admins, and hub admins.
#[utoipa::path(get, path = "/api/v1/licences", tag = "borrowing", params(PackagesQuery),
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn packages(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PackagesQuery>,
) -> ApiResult<Json<Vec<store::LicencePackage>>> {
    let library = library_of(&st, &user, q.library.as_deref()).await?;
    let own_staff = library == user.library_id && !user.is_patron();
    if !own_staff && !user.roles.contains(&Role::HubAdmin) {
        return Err(ApiError::forbidden(
            "a library's licences are seen by its staff and hub admins",
            "本馆的许可资源仅供本馆馆员和中心管理员查看",
        ));
    }
    Ok(Json(st.store.licence_packages(&library).await?))
}

/// Fill a copy request from where it was found available when it was placed (`licensed`:
/// the library's licensed e-resource; `open_access`): the request is completed, the reader is
/// given the link (on their request and by letter), and no lender is asked. 409
/// `not_available` when the request has no such link.
#[utoipa::path(post, path = "/api/v1/requests/{id}/fill-from-link", tag = "borrowing",
    params(("id" = String, Path, description = "borrowing request id")),
    request_body = FillFromLink,
    responses((status = 200, body = BorrowView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn fill(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    super::extract::Json(input): super::extract::Json<FillFromLink>,
) -> ApiResult<Json<BorrowView>> {
    let req = flow::fill_from_link(&st, &user, &id, input).await?;
    let allowed = crate::flow::borrow::allowed_actions(&req, &user).ok();
    let mut view = BorrowView::new(req, allowed);
    super::copyright::annotate(&st, &mut view).await?;
    Ok(Json(view))
}
