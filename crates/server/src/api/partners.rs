//! Partner directory import by admins: a CSV or JSON file of libraries and their lending terms.

use axum::extract::State;
use axum::http::StatusCode;
use domain::people::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::partners::ImportSummary;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import))
}

/// Import partners from the body: CSV (first line names the columns) or a JSON array of
/// objects, told apart by the first character. Columns: `code`, `agency` (TYPE:VALUE),
/// `name_en`, `name_zh` (required), `kind`, `region`, `address`, `hub`, `services`
/// (`loan;copy`), `currency`, `loan_fee`, `copy_fee`, `loan_days`, `answer_days`,
/// `delivery_methods`, `payment_methods`, `closed_weekdays`, `closed_dates` (YYYY-MM-DD),
/// `active`, `utc_offset` (the library's time, e.g. `+09:00`; empty: a new library takes the
/// importing library's time, or the hub's, and a known one keeps its own). Libraries are
/// added, or updated in place by code. A library admin's import sets
/// what each partner grants their library; a hub admin's sets each partner's default terms.
/// Bad rows are listed by line and field and left out; the rest are imported.
#[utoipa::path(post, path = "/api/v1/partners/import", tag = "admin",
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, description = "what was imported, and every bad row", body = ImportSummary),
        (status = 403, body = ErrorBody),
        (status = 422, description = "the file as a whole cannot be read (unknown or missing column, bad JSON)", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(user = %user.username))]
pub async fn import(
    State(st): State<AppState>,
    user: CurrentUser,
    body: String,
) -> ApiResult<(StatusCode, axum::Json<ImportSummary>)> {
    let terms_for = if user.roles.contains(&Role::HubAdmin) {
        None
    } else if user.roles.contains(&Role::LibraryAdmin) {
        Some(user.library_id.as_str())
    } else {
        return Err(ApiError::forbidden(
            "the partner directory is kept by library and hub admins",
            "合作馆目录由本馆管理员和中心管理员维护",
        ));
    };
    match crate::partners::import(&st.store, &body, terms_for, st.now()).await? {
        Ok(summary) => {
            tracing::info!(
                read = summary.read,
                created = summary.created,
                updated = summary.updated,
                rejected = summary.rejected,
                "partners imported"
            );
            Ok((StatusCode::OK, axum::Json(summary)))
        }
        Err(errors) => Err(ApiError::Invalid(
            errors
                .into_iter()
                .map(|e| domain::citation::FieldError {
                    message_zh: None,
                    field: "file",
                    code: e.code,
                    message: e.message,
                })
                .collect(),
        )),
    }
}
