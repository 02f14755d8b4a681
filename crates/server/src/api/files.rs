//! Delivered copies: the lender uploads a file for a lending request; the borrowing library
//! fetches it by the key in the address the shipment message carried; the reader opens it
//! through a link that only they hold, a limited number of times and days.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use domain::Actor;
use domain::library::DeliverySettings;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::{NewEvent, StoredFile, Tx};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::cover::CoverPlan;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::files::{ACCEPTED, PutRefused, clean_filename};

/// The upload streams its body (see `Files::put_stream`), holding it to `max_file_bytes`
/// itself: no extractor's limit applies.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload, list_uploads))
        .routes(routes!(fetch))
        .routes(routes!(open_as_reader))
        .routes(routes!(open_by_link))
        .routes(routes!(reissue))
        .routes(routes!(get_settings, put_settings))
}

pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name as the reader will see it; its extension follows the real type.
    pub filename: Option<String>,
}

/// Upload the copy for a lending request (the body is the file: PDF, TIFF, JPEG, PNG or EPUB,
/// recognised by its content). Then ship it with `ship_digital` and `file_id`. The body is
/// streamed into the store (any size up to `max_file_bytes`, declared or chunked); 413
/// `file_too_large` as soon as it passes the limit, 400 `upload_interrupted` when it breaks
/// off; nothing of a refused upload is kept.
#[utoipa::path(post, path = "/api/v1/lending/{id}/files", tag = "lending",
    params(("id" = String, Path, description = "lending request id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<UploadQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<(axum::http::StatusCode, axum::Json<StoredFile>)> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = body.into_data_stream();
    let row = store_copy(
        &st,
        &user,
        &id,
        q.filename.as_deref().unwrap_or(""),
        declared,
        &mut body,
    )
    .await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(row)))
}

/// Store a copy for lending request `id` from `body` (the API's upload and the staff page's
/// file field): the caller must be lending staff who see the request, and the request still
/// open. `declared` is the sender's Content-Length, when it gave one: over the limit, nothing
/// is read. On any refusal nothing is kept, and what is left of the body is read (up to
/// [`DRAIN_BYTES`]) so the sender gets the answer.
pub(crate) async fn store_copy<S, E>(
    st: &AppState,
    user: &CurrentUser,
    id: &str,
    filename: &str,
    declared: Option<u64>,
    body: &mut S,
) -> ApiResult<StoredFile>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<PutRefused>,
{
    let req = crate::flow::lend::visible_lend(st, user, id).await?;
    if !user.can(Actor::LendingStaff) {
        return Err(ApiError::forbidden(
            "uploading a copy is for lending staff",
            "上传复制件须由借出馆员操作",
        ));
    }
    if matches!(req.state.as_str(), "completed" | "cancelled" | "unfilled") {
        return Err(ApiError::conflict(
            format!(
                "the request is {}: nothing more can be shipped for it",
                req.state
            ),
            format!("该请求已处于 {} 状态，不能再为其发送任何内容", req.state),
        ));
    }
    // A declared length over the limit is refused before a byte is read or stored.
    let max = st.config.max_file_bytes as u64;
    if declared.is_some_and(|n| n > max) {
        drain(body).await;
        return Err(too_large(max));
    }
    let file_id = uuid::Uuid::now_v7().to_string();
    let key = format!("files/{}/{file_id}", req.library_id);
    // Dropped half-way (the sender gone), the copy is removed rather than left unnamed.
    let guard = st.files.unrecorded(&key);
    let stored = match st.files.put_stream(&key, body, max).await {
        Ok(stored) => stored,
        Err(refused) => {
            // put_stream kept nothing. The sender gets the answer rather than a connection
            // cut while it still sends.
            guard.settled();
            drain(body).await;
            return Err(upload_refused(refused, max));
        }
    };
    let content_type = stored.content_type;
    let size = i64::try_from(stored.size).unwrap_or(i64::MAX);
    let sha256 = stored.sha256.clone();
    let cover_plan = cover_plan_of(st, &file_id, &key, &stored).await;
    let row = StoredFile {
        file_id: file_id.clone(),
        library_id: req.library_id.clone(),
        lend_request_id: Some(req.request_id.clone()),
        filename: clean_filename(filename, content_type),
        content_type: content_type.to_owned(),
        size_bytes: size,
        sha256,
        storage_key: key.clone(),
        fetch_token_hash: None,
        created_at: st.now(),
        purged_at: None,
        cover_plan,
    };
    let (saved, now, actor) = (row.clone(), st.now(), user.user_id.clone());
    let stored = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.insert_file(&saved).await?;
                let note = format!("{} ({} bytes)", saved.filename, saved.size_bytes);
                let note_zh = format!("{}（{} 字节）", saved.filename, saved.size_bytes);
                tx.insert_event(
                    &NewEvent {
                        library_id: &saved.library_id,
                        side: "lend",
                        request_id: saved.lend_request_id.as_deref().unwrap_or_default(),
                        actor_id: Some(&actor),
                        actor: "lending_staff",
                        action: "file_uploaded",
                        from_state: Some(&req.state),
                        to_state: &req.state,
                        note: Some(&note),
                        message_id: None,
                        data: Some(serde_json::json!({
                            "file_id": saved.file_id, "sha256": saved.sha256, "note_zh": note_zh,
                        })),
                    },
                    now,
                )
                .await
            })
        })
        .await;
    if let Err(e) = stored {
        // Nothing half-stored remains: the bytes go if their record could not be written.
        if let Err(d) = st.files.delete(&key).await {
            tracing::warn!(error = %d, key, "could not remove an orphaned upload");
        }
        guard.settled();
        return Err(e.into());
    }
    guard.settled();
    Ok(row)
}

/// The copies uploaded for a lending request, newest first.
#[utoipa::path(get, path = "/api/v1/lending/{id}/files", tag = "lending",
    params(("id" = String, Path, description = "lending request id")),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)))]
pub async fn list_uploads(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<StoredFile>>> {
    let req = crate::flow::lend::visible_lend(&st, &user, &id).await?;
    Ok(axum::Json(st.store.files_for_lend(&req.request_id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FetchQuery {
    /// The key from the address in the shipment message.
    pub key: String,
}

/// The borrowing library fetches a shipped copy with the key the shipment message gave it.
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "lending", security(()),
    params(("id" = String, Path, description = "file id"), FetchQuery),
    responses((status = 200, description = "the file"), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn fetch(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<FetchQuery>,
) -> ApiResult<Response> {
    let file = st
        .store
        .file(&id)
        .await?
        .filter(|f| {
            f.fetch_token_hash
                .as_deref()
                .is_some_and(|h| constant_eq(h, &hash_token(&q.key)))
        })
        .ok_or(ApiError::NotFound("file"))?;
    let resp = send_file(&st, &file).await?;
    // The borrowing library keeps its own copy from now on: the lender's may go (see
    // `jobs::purge_files`). The first fetch is noted; a retry keeps its time.
    if file.lend_request_id.is_some() {
        let (id, now) = (file.file_id.clone(), st.now());
        st.store
            .write(move |tx| Box::pin(async move { tx.mark_file_fetched(&id, now).await }))
            .await?;
    }
    Ok(resp)
}

/// A PDF's cover plan, read once when it is stored (from the store, the parts its structure
/// needs); other types have none.
async fn cover_plan_of(
    st: &AppState,
    file_id: &str,
    key: &str,
    stored: &crate::files::Stored,
) -> Option<String> {
    if stored.content_type != "application/pdf" {
        return None;
    }
    CoverPlan::read_stored(&st.files, file_id, key, stored.size)
        .await
        .map(|p| p.to_json())
}

/// At most this much of a refused upload is read (and dropped) so that its sender gets the
/// answer; a larger one is cut off.
const DRAIN_BYTES: usize = 8 * 1024 * 1024;

/// Read what is left of a refused upload, up to [`DRAIN_BYTES`], keeping nothing.
async fn drain<S, E>(body: &mut S)
where
    S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
{
    use futures::StreamExt as _;
    let mut read = 0;
    while let Some(Ok(chunk)) = body.next().await {
        read += chunk.len();
        if read > DRAIN_BYTES {
            break;
        }
    }
}

/// The refusal of a copy over the size limit, in both languages.
pub(crate) fn too_large(max: u64) -> ApiError {
    ApiError::Bilingual(
        413,
        "file_too_large",
        format!("the file is larger than the {max} bytes a copy may have; nothing was stored"),
        format!("文件超过复制件允许的上限 {max} 字节，未保存任何内容"),
    )
}

/// Why an upload was not stored, as the caller sees it.
fn upload_refused(refused: PutRefused, max: u64) -> ApiError {
    match refused {
        PutRefused::Empty => {
            ApiError::Unacceptable(422, "empty_file", "the file is empty".to_owned())
        }
        PutRefused::TooLarge => too_large(max),
        PutRefused::NotAccepted => ApiError::Unacceptable(
            415,
            "unsupported_file_type",
            format!("the file is not a {ACCEPTED} file (judged by its content, not its name)"),
        ),
        PutRefused::Body(why) => ApiError::Bilingual(
            400,
            "upload_interrupted",
            format!(
                "the upload broke off before its end ({why}); nothing was stored, send it again"
            ),
            format!("上传在结束前中断（{why}），未保存任何内容，请重新发送"),
        ),
        PutRefused::Store(e) => ApiError::internal(e.context("storing an uploaded copy")),
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn send_file(st: &AppState, file: &StoredFile) -> ApiResult<Response> {
    send_with_tail(st, file, None).await
}

/// The stored bytes of `file`, streamed, then `tail` if given (a PDF's cover page update).
async fn send_with_tail(
    st: &AppState,
    file: &StoredFile,
    tail: Option<Vec<u8>>,
) -> ApiResult<Response> {
    use futures::StreamExt as _;

    if file.purged_at.is_some() {
        return Err(ApiError::Gone(
            "file_purged",
            "the copy was deleted after its delivery period".to_owned(),
        ));
    }
    let (size, stream) = st
        .files
        .get_stream(&file.storage_key)
        .await
        .map_err(missing_or_internal)?;
    let tail = tail.unwrap_or_default();
    let length = size + tail.len() as u64;
    let body = if tail.is_empty() {
        axum::body::Body::from_stream(stream)
    } else {
        let tail = futures::stream::once(async move { Ok(Bytes::from(tail)) });
        axum::body::Body::from_stream(stream.chain(tail))
    };
    let disposition = format!(
        "inline; filename=\"{}\"; filename*=UTF-8''{}",
        file.filename
            .chars()
            .map(|c| if c.is_ascii() { c } else { '_' })
            .collect::<String>(),
        percent_encode(&file.filename)
    );
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// The copy as its reader receives it: a PDF with the copyright cover page in front (this
/// view's number on it), anything else, or a PDF that cannot take a cover, as stored.
async fn send_reader_copy(
    st: &AppState,
    file: &StoredFile,
    link: &store::DeliveryLink,
    now: OffsetDateTime,
) -> ApiResult<Response> {
    if file.purged_at.is_some() || file.content_type != "application/pdf" {
        return send_file(st, file).await;
    }
    let plan = match CoverPlan::from_json(file.cover_plan.as_deref()) {
        Some(plan) => plan,
        None => {
            // Stored before covers existed (or the store failed when it was): read it now,
            // from the store, once, and keep what was found.
            let size = u64::try_from(file.size_bytes).unwrap_or_default();
            let Some(plan) =
                CoverPlan::read_stored(&st.files, &file.file_id, &file.storage_key, size).await
            else {
                // The store cannot be read now: say so as the plain copy would.
                return send_file(st, file).await;
            };
            let (id, json) = (file.file_id.clone(), plan.to_json());
            let kept = st
                .store
                .write(move |tx| Box::pin(async move { tx.set_cover_plan(&id, &json).await }))
                .await;
            if let Err(e) = kept {
                tracing::warn!(error = %e, file_id = %file.file_id, "could not keep a cover plan");
            }
            plan
        }
    };
    let plan = match plan {
        CoverPlan::Stamp { plan } if i64::try_from(plan.file_len).ok() == Some(file.size_bytes) => {
            plan
        }
        CoverPlan::Stamp { plan } => {
            tracing::warn!(
                file_id = %file.file_id,
                planned = plan.file_len,
                stored = file.size_bytes,
                "the cover plan is for another length: the copy goes without a cover page"
            );
            return send_file(st, file).await;
        }
        CoverPlan::Unchanged { reason } => {
            tracing::info!(
                file_id = %file.file_id,
                request_id = %link.borrow_request_id,
                reason = %reason,
                "copy delivered without a copyright cover page"
            );
            return send_file(st, file).await;
        }
    };
    // The view is already counted: a cover that cannot be made must not cost the reader it.
    let facts = match cover_facts(st, link, now).await {
        Ok(facts) => facts,
        Err(e) => {
            tracing::error!(
                file_id = %file.file_id,
                request_id = %link.borrow_request_id,
                error = ?e,
                "the cover's facts cannot be read: the copy goes without a cover page"
            );
            return send_file(st, file).await;
        }
    };
    let tail = plan.update(&crate::cover::page(&facts));
    send_with_tail(st, file, Some(tail)).await
}

/// What the cover of `link`'s copy says at this view (the link's count already includes it).
async fn cover_facts(
    st: &AppState,
    link: &store::DeliveryLink,
    now: OffsetDateTime,
) -> ApiResult<crate::cover::CoverFacts> {
    let library = st.store.library(&link.library_id).await?;
    let declaration = st.store.copyright_settings(&link.library_id).await?;
    let req = st.store.borrow_request(&link.borrow_request_id).await?;
    let reader = st.store.user(&link.patron_id).await?;
    let c = &req.citation.0;
    let offset = library.offset();
    Ok(crate::cover::CoverFacts {
        library_en: library.name_en,
        library_zh: library.name_zh,
        declaration,
        request_id: req.request_id.clone(),
        title: c.title.clone(),
        source: c.source_title.clone(),
        reader_name: reader.display_name,
        reader_login: reader.username,
        // What the reader reads is in the library's time, not UTC.
        date: offset.date(now),
        offset,
        view: link.views,
        max_views: link.max_views,
        expires_at: link.expires_at,
    })
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// How a reader opened a copy.
#[derive(Debug, Clone, Copy)]
enum How {
    LoggedIn,
    Link,
}

/// Count one view of `link` if it may still be opened, with an event on the request. Returns
/// the link with this view counted.
async fn take_view(
    tx: &mut Tx<'_>,
    link: &store::DeliveryLink,
    now: OffsetDateTime,
    how: How,
) -> Result<store::DeliveryLink, ApiError> {
    if link.revoked_at.is_some() {
        return Err(ApiError::Gone(
            "link_revoked",
            "this link was replaced; ask the library for the new one".to_owned(),
        ));
    }
    if link.expires_at <= now {
        // The last moment in the library's time, as the reader's letter and cover gave it.
        let until = tx
            .library(&link.library_id)
            .await?
            .offset()
            .time_label(link.expires_at);
        return Err(ApiError::Gone(
            "link_expired",
            format!("the copy could be opened until {until}; ask the library to send it again"),
        ));
    }
    if link.max_views.is_some_and(|m| link.views >= m) {
        return Err(ApiError::Gone(
            "view_limit_reached",
            format!(
                "the copy was opened {} times, as often as the library allows",
                link.views
            ),
        ));
    }
    tx.count_delivery_view(&link.link_id).await?;
    let req = tx
        .borrow_request_for_update(&link.borrow_request_id)
        .await?;
    let left = link.max_views.map(|m| m - link.views - 1);
    let (how_en, how_zh) = match how {
        How::LoggedIn => ("logged in", "登录后"),
        How::Link => ("link", "通过链接"),
    };
    let (note, note_zh) = match left {
        Some(n) => (
            format!("copy opened ({how_en}); {n} views left"),
            format!("复制件已打开（{how_zh}）；还可打开 {n} 次"),
        ),
        None => (
            format!("copy opened ({how_en})"),
            format!("复制件已打开（{how_zh}）"),
        ),
    };
    tx.insert_event(
        &NewEvent {
            library_id: &link.library_id,
            side: "borrow",
            request_id: &link.borrow_request_id,
            actor_id: Some(&link.patron_id),
            actor: "patron",
            action: "document_viewed",
            from_state: Some(&req.state),
            to_state: &req.state,
            note: Some(&note),
            message_id: None,
            data: Some(serde_json::json!({
                "views": link.views + 1, "max_views": link.max_views, "note_zh": note_zh,
            })),
        },
        now,
    )
    .await?;
    let mut counted = link.clone();
    counted.views += 1;
    Ok(counted)
}

/// The reader opens the copy delivered for their request (one view counted). Staff of the
/// borrowing library may open it too, without counting a view.
#[utoipa::path(get, path = "/api/v1/requests/{id}/document", tag = "borrowing",
    params(("id" = String, Path, description = "borrowing request id")),
    responses((status = 200, description = "the file"), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn open_as_reader(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    open_copy(&st, &user, &id).await
}

/// The copy delivered for borrowing request `id`, as `user` may open it (a reader: one view
/// counted; staff of the library: not counted).
pub async fn open_copy(st: &AppState, user: &CurrentUser, id: &str) -> ApiResult<Response> {
    let st = st.clone();
    let req = crate::flow::borrow::visible_borrow(&st, user, id).await?;
    let now = st.now();
    if user.is_patron() {
        let rid = req.request_id.clone();
        let link = st
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let link = tx
                        .current_delivery_link(&rid)
                        .await?
                        .ok_or(ApiError::NotFound("delivered copy"))?;
                    take_view(tx, &link, now, How::LoggedIn).await
                })
            })
            .await?;
        let file = st
            .store
            .file(&link.file_id)
            .await?
            .ok_or(ApiError::NotFound("delivered copy"))?;
        return send_reader_copy(&st, &file, &link, now).await;
    }
    let file_id = st
        .store
        .borrow_document(&req.request_id)
        .await?
        .1
        .ok_or(ApiError::NotFound("delivered copy"))?;
    let file = st
        .store
        .file(&file_id)
        .await?
        .ok_or(ApiError::NotFound("delivered copy"))?;
    send_file(&st, &file).await
}

/// The reader's link from a letter: the token is bound to that reader and that request.
#[utoipa::path(get, path = "/d/{token}", tag = "borrowing", security(()),
    params(("token" = String, Path, description = "the token from the reader's link")),
    responses((status = 200, description = "the file"), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn open_by_link(
    State(st): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let now = st.now();
    let hash = hash_token(&token);
    let link = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let link = tx
                    .delivery_link_by_token(&hash)
                    .await?
                    .ok_or(ApiError::NotFound("link"))?;
                take_view(tx, &link, now, How::Link).await
            })
        })
        .await?;
    let file = st
        .store
        .file(&link.file_id)
        .await?
        .ok_or(ApiError::NotFound("delivered copy"))?;
    send_reader_copy(&st, &file, &link, now).await
}

/// A reader's delivery link as issued: the token is shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedLink {
    /// `/d/{token}`: opens the copy without logging in; only this reader should have it.
    pub link: String,
    /// Views allowed; absent when unlimited.
    pub max_views: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Issue the reader's link for the copy of request `request_id` (revoking any earlier link).
/// Run inside the transaction that delivers the copy to the reader.
pub async fn issue_link(
    tx: &mut Tx<'_>,
    config: &crate::Config,
    req: &store::BorrowRequest,
    now: OffsetDateTime,
) -> Result<Option<IssuedLink>, crate::flow::FlowError> {
    let terms = delivery_terms(tx.delivery_settings(&req.library_id).await?, config);
    issue_link_with(tx, &terms, req, now).await
}

/// `issue_link` under the given terms (the library's own, already read).
pub async fn issue_link_with(
    tx: &mut Tx<'_>,
    terms: &DeliverySettings,
    req: &store::BorrowRequest,
    now: OffsetDateTime,
) -> Result<Option<IssuedLink>, crate::flow::FlowError> {
    let (_, file_id) = tx.borrow_document(&req.request_id).await?;
    let Some(file_id) = file_id else {
        return Ok(None);
    };
    tx.revoke_delivery_links(&req.request_id, now).await?;
    let token = new_token();
    let max_views = terms.max_views.map(i64::from);
    let expires_at = now + time::Duration::days(i64::from(terms.days.clamp(1, 60)));
    tx.insert_delivery_link(&store::DeliveryLink {
        link_id: uuid::Uuid::now_v7().to_string(),
        token_hash: hash_token(&token),
        library_id: req.library_id.clone(),
        borrow_request_id: req.request_id.clone(),
        patron_id: req.patron_id.clone(),
        file_id,
        max_views,
        views: 0,
        expires_at,
        revoked_at: None,
        created_at: now,
    })
    .await?;
    Ok(Some(IssuedLink {
        link: format!("/d/{token}"),
        max_views,
        expires_at,
    }))
}

/// The library's delivery terms: its own, else the node's configuration.
pub(crate) fn delivery_terms(
    own: Option<DeliverySettings>,
    config: &crate::Config,
) -> DeliverySettings {
    own.unwrap_or(DeliverySettings {
        max_views: (config.delivery_max_views > 0).then_some(config.delivery_max_views),
        days: config.delivery_days.clamp(1, 60),
        trusted_senders: Vec::new(),
    })
}

/// How often and how long the caller's library lets readers open delivered copies.
#[utoipa::path(get, path = "/api/v1/delivery-settings", tag = "borrowing",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn get_settings(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<axum::Json<DeliverySettings>> {
    let own = st.store.delivery_settings(&user.library_id).await?;
    Ok(axum::Json(delivery_terms(own, &st.config)))
}

/// Set the library's terms: `max_views` 1–10 or null for no limit, `days` 1–60. Links issued
/// later follow them; links already issued keep theirs. `trusted_senders`: partner library
/// codes whose delivered copies go straight to the reader, with no staff step.
#[utoipa::path(put, path = "/api/v1/delivery-settings", tag = "borrowing",
    request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(st): State<AppState>,
    user: CurrentUser,
    super::extract::Json(input): super::extract::Json<DeliverySettings>,
) -> ApiResult<axum::Json<DeliverySettings>> {
    Ok(axum::Json(save_settings(&st, &user, input).await?))
}

/// Check and store the library's delivery terms (its admins): the API's and the settings
/// page's one way.
pub async fn save_settings(
    st: &AppState,
    user: &CurrentUser,
    input: DeliverySettings,
) -> ApiResult<DeliverySettings> {
    if !user.roles.iter().any(|r| r.is_admin()) {
        return Err(ApiError::forbidden(
            "delivery terms are set by the library's admins",
            "提供条款由本馆管理员设置",
        ));
    }
    let mut input = input;
    let mut errors = input.validate();
    // Trusted senders are partners of the directory, by their code, each once.
    let mut senders: Vec<String> = Vec::new();
    for (i, code) in input.trusted_senders.iter().enumerate() {
        let code = code.trim().to_uppercase();
        if code == user.library_id {
            errors.push(domain::citation::FieldError::new(
                "trusted_senders",
                "own_library",
                format!("trusted_senders[{i}]: {code} is this library itself"),
            ));
        } else if st.store.library(&code).await.is_err() {
            errors.push(domain::citation::FieldError::new(
                "trusted_senders",
                "unknown_library",
                format!("trusted_senders[{i}]: {code} is not a library of the directory"),
            ));
        } else if !senders.contains(&code) {
            senders.push(code);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    input.trusted_senders = senders;
    let (lib, now, saved) = (user.library_id.clone(), st.now(), input.clone());
    st.store
        .write(move |tx| Box::pin(async move { tx.set_delivery_settings(&lib, &saved, now).await }))
        .await?;
    Ok(input)
}

/// Staff issue the reader a new link (the old one stops working), e.g. after it expired.
#[utoipa::path(post, path = "/api/v1/requests/{id}/document/reissue", tag = "borrowing",
    params(("id" = String, Path, description = "borrowing request id")),
    responses((status = 200, body = IssuedLink), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reissue(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<IssuedLink>> {
    let req = crate::flow::borrow::visible_borrow(&st, &user, &id).await?;
    if !user.can(Actor::BorrowingStaff) {
        return Err(ApiError::forbidden(
            "re-issuing a reader's link is for borrowing staff",
            "为读者重新签发链接须由借入馆员操作",
        ));
    }
    let (config, now, actor) = (st.config.clone(), st.now(), user.user_id.clone());
    let issued = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let req = tx.borrow_request_for_update(&req.request_id).await?;
                let issued = issue_link(tx, &config, &req, now).await?;
                let offset = tx.library(&req.library_id).await?.offset();
                if let Some(l) = &issued {
                    tx.insert_event(
                        &NewEvent {
                            library_id: &req.library_id,
                            side: "borrow",
                            request_id: &req.request_id,
                            actor_id: Some(&actor),
                            actor: "borrowing_staff",
                            action: "document_link_reissued",
                            from_state: Some(&req.state),
                            to_state: &req.state,
                            note: Some(&format!(
                                "new link until {}",
                                offset.time_label(l.expires_at)
                            )),
                            message_id: None,
                            data: Some(serde_json::json!({
                                "note_zh": format!(
                                    "新链接有效期至 {}",
                                    offset.time_label(l.expires_at)
                                ),
                            })),
                        },
                        now,
                    )
                    .await?;
                }
                Ok::<_, crate::flow::FlowError>(issued)
            })
        })
        .await?;
    issued
        .map(axum::Json)
        .ok_or(ApiError::NotFound("delivered copy"))
}

/// The stored file an address of ours names, when the key in it is right: a copy shipped by
/// a library on this node is delivered without a second transfer.
pub async fn local_file_of(
    tx: &mut Tx<'_>,
    url: &str,
) -> Result<Option<String>, store::StoreError> {
    let Some((_, rest)) = url.split_once("/api/v1/files/") else {
        return Ok(None);
    };
    let (id, query) = rest.split_once('?').unwrap_or((rest, ""));
    let Some(key) = query.split('&').find_map(|kv| kv.strip_prefix("key=")) else {
        return Ok(None);
    };
    let found = tx.file(id).await?.filter(|f| {
        f.purged_at.is_none()
            && f.fetch_token_hash
                .as_deref()
                .is_some_and(|h| constant_eq(h, &hash_token(key)))
    });
    Ok(found.map(|f| f.file_id))
}

/// Fetch a copy a lender on another node shipped (the address from its message), check it like
/// an upload and store it as the borrowing library's. Returns the new file's id.
pub async fn fetch_remote_copy(
    st: &AppState,
    library_id: &str,
    request_id: &str,
    url: &str,
) -> ApiResult<String> {
    let max = st.config.max_file_bytes;
    let unreachable = |why: String| {
        ApiError::Unacceptable(
            502,
            "copy_not_fetched",
            format!(
                "the copy could not be fetched from the lender ({why}); try again, or ask the lender to send it again"
            ),
        )
    };
    let resp = st
        .peers
        .get(url)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(unreachable(format!("HTTP {}", resp.status().as_u16())));
    }
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(unreachable(format!("larger than {max} bytes")));
    }
    let filename = resp
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("filename=\"").nth(1))
        .and_then(|v| v.split('"').next())
        .unwrap_or("copy")
        .to_owned();
    // Streamed into the store as it arrives, checked like an upload: a large copy is never
    // held whole in memory.
    let file_id = uuid::Uuid::now_v7().to_string();
    let key = format!("files/{library_id}/{file_id}");
    let mut body = Box::pin(futures::stream::unfold(Some(resp), |resp| async move {
        let mut resp = resp?;
        match resp.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(resp))),
            Ok(None) => None,
            // The error ends the stream.
            Err(e) => Some((Err::<Bytes, _>(e), None)),
        }
    }));
    let stored = match st.files.put_stream(&key, &mut body, max as u64).await {
        Ok(stored) => stored,
        Err(PutRefused::Empty) => return Err(unreachable("the file is empty".to_owned())),
        Err(PutRefused::TooLarge) => {
            return Err(unreachable(format!("larger than {max} bytes")));
        }
        Err(PutRefused::NotAccepted) => {
            return Err(unreachable(format!("not a {ACCEPTED} file")));
        }
        Err(PutRefused::Body(why)) => return Err(unreachable(why)),
        Err(PutRefused::Store(e)) => {
            return Err(ApiError::internal(e.context("storing a fetched copy")));
        }
    };
    // Dropped from here on (the borrowing action given up), the copy is removed, not left
    // unnamed.
    let guard = st.files.unrecorded(&key);
    let content_type = stored.content_type;
    let cover_plan = cover_plan_of(st, &file_id, &key, &stored).await;
    let sha256 = stored.sha256.clone();
    let row = StoredFile {
        file_id: file_id.clone(),
        library_id: library_id.to_owned(),
        lend_request_id: None,
        filename: clean_filename(&filename, content_type),
        content_type: content_type.to_owned(),
        size_bytes: i64::try_from(stored.size).unwrap_or(i64::MAX),
        sha256,
        storage_key: key.clone(),
        fetch_token_hash: None,
        created_at: st.now(),
        purged_at: None,
        cover_plan,
    };
    let rid = request_id.to_owned();
    let stored = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.insert_file(&row).await?;
                tx.set_borrow_document(&rid, None, Some(&row.file_id)).await
            })
        })
        .await;
    if let Err(e) = stored {
        if let Err(d) = st.files.delete(&key).await {
            tracing::warn!(error = %d, key, "could not remove an orphaned copy");
        }
        guard.settled();
        return Err(e.into());
    }
    guard.settled();
    Ok(file_id)
}

/// A stored copy the file store does not have (deleted by hand, or stored before the node
/// moved to another store) is gone for the reader, not a server failure.
fn missing_or_internal(e: anyhow::Error) -> ApiError {
    match e.downcast_ref::<object_store::Error>() {
        Some(object_store::Error::NotFound { .. }) => ApiError::Gone(
            "file_missing",
            "the stored copy cannot be found in the file store; ask the library to send it again"
                .to_owned(),
        ),
        _ => ApiError::internal(e),
    }
}
