//! The checks a new borrowing request goes through inside the transaction that creates it:
//! the rule of five for article copies (a warning and a clearance stage when the library's
//! limit for the journal is reached), and the search for an earlier request it repeats. Staff
//! then clear copyright, or fill the request at once from a copy already delivered.

use domain::citation::{Citation, RequestFormat};
use domain::copyright::{self, Clearance, ComplianceCode};
use domain::duplicate::Prepared;
use domain::requester::{BorrowAction, BorrowState};
use serde::Deserialize;
use store::{CopyrightUse, Duplicate, NewEvent, Tx};
use time::{Duration, OffsetDateTime};

use super::borrow::{Extra, apply_borrow, visible_borrow};
use super::{Acting, FlowError};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::letters::LetterKind;

/// States in which a request ended without a copy: such requests do not count.
const NOT_SUPPLIED: [BorrowState; 2] = [BorrowState::Cancelled, BorrowState::Unfilled];

/// Who created the request, for the events the checks write.
pub struct Creator<'a> {
    pub user_id: &'a str,
    pub label: &'a str,
}

/// Run the checks for a request just inserted (state `pending_review`), in its transaction.
pub async fn check_new_request(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    library_id: &str,
    request_id: &str,
    format: RequestFormat,
    citation: &Citation,
    by: &Creator<'_>,
) -> Result<(), FlowError> {
    let settings = tx.copyright_settings(library_id).await?;
    let state = BorrowState::PendingReview.as_str();
    if let Some(journal) = copyright::journal_of(format, citation) {
        // The library's own year: the limit counts from its midnight on 1 January.
        let local_year = tx.library(library_id).await?.offset().date(now).year();
        let year = i64::from(local_year);
        let not_supplied = NOT_SUPPLIED.map(|s| s.as_str());
        let earlier = tx
            .count_copyright_uses(library_id, &journal.key, year, &not_supplied)
            .await?;
        let pub_year = copyright::publication_year(citation);
        let a = copyright::assess(
            &settings,
            pub_year,
            local_year,
            u32::try_from(earlier).unwrap_or(u32::MAX),
        );
        let clearance = if a.over_limit {
            Clearance::Required
        } else {
            Clearance::NotNeeded
        };
        tx.insert_copyright_use(&CopyrightUse {
            request_id: request_id.to_owned(),
            library_id: library_id.to_owned(),
            journal_key: journal.key.clone(),
            journal_title: journal.label.clone(),
            issn: journal.issn.clone(),
            pub_year: pub_year.map(i64::from),
            use_year: year,
            counted: a.counted,
            earlier,
            clearance: clearance.as_str().to_owned(),
            cleared_by: None,
            cleared_at: None,
            clearance_note: None,
            royalty_minor: None,
            royalty_currency: None,
            created_at: now,
        })
        .await?;
        if a.over_limit {
            let note = format!(
                "{earlier} copies from {} already this year (limit {}): copyright clearance needed before sending",
                journal.label, settings.limit
            );
            let note_zh = format!(
                "本年度已从《{}》复制 {earlier} 篇（限额 {}）：发送前须经版权审核",
                journal.label, settings.limit
            );
            tx.insert_event(
                &NewEvent {
                    library_id,
                    side: "borrow",
                    request_id,
                    actor_id: Some(by.user_id),
                    actor: by.label,
                    action: "copyright_warning",
                    from_state: Some(state),
                    to_state: state,
                    note: Some(&note),
                    message_id: None,
                    data: Some(serde_json::json!({
                        "journal": journal.label, "journal_key": journal.key,
                        "earlier": earlier, "limit": settings.limit, "year": year,
                        "note_zh": note_zh,
                    })),
                },
                now,
            )
            .await?;
        }
    }

    let probe = Prepared::new(format, citation);
    let keys = probe.keys();
    let since = now - Duration::days(i64::from(settings.duplicate_window_days));
    let candidates = tx.match_candidates(library_id, &keys, since).await?;
    let best = candidates
        .iter()
        .filter(|c| c.request_id != request_id)
        .filter_map(|c| {
            let f = RequestFormat::parse(&c.format)?;
            probe
                .compare(&Prepared::new(f, &c.citation.0))
                .map(|m| (c, m))
        })
        .max_by(|a, b| {
            a.1.score
                .total_cmp(&b.1.score)
                .then(a.0.created_at.cmp(&b.0.created_at))
        });
    if let Some((earlier, m)) = best {
        let score_percent = (m.score * 100.0).round() as i64;
        // The day the earlier request was placed, as the library's staff count days.
        let placed = tx
            .library(library_id)
            .await?
            .offset()
            .date(earlier.created_at);
        tx.insert_duplicate(&Duplicate {
            request_id: request_id.to_owned(),
            library_id: library_id.to_owned(),
            earlier_request_id: earlier.request_id.clone(),
            matched_by: m.by.as_str().to_owned(),
            score_percent,
            created_at: now,
        })
        .await?;
        let note = format!(
            "repeats request {} of {} (matched by {})",
            earlier.request_id,
            placed,
            m.by.as_str()
        );
        let note_zh = format!(
            "与 {} 提交的请求 {} 重复（匹配依据：{}）",
            placed,
            earlier.request_id,
            m.by.as_str()
        );
        tx.insert_event(
            &NewEvent {
                library_id,
                side: "borrow",
                request_id,
                actor_id: Some(by.user_id),
                actor: by.label,
                action: "duplicate_found",
                from_state: Some(state),
                to_state: state,
                note: Some(&note),
                message_id: None,
                data: Some(serde_json::json!({
                    "earlier_request_id": earlier.request_id,
                    "matched_by": m.by.as_str(), "score_percent": score_percent,
                    "note_zh": note_zh,
                })),
            },
            now,
        )
        .await?;
    }
    tx.insert_match_keys(library_id, request_id, &keys, now)
        .await?;
    Ok(())
}

/// The code to put in `copyrightCompliance` of a request sent now: CCL when staff cleared it
/// beyond the guidelines (royalty, permission, override), else the library's choice.
pub async fn compliance_for(
    tx: &mut Tx<'_>,
    library_id: &str,
    request_id: &str,
) -> Result<ComplianceCode, FlowError> {
    let settings = tx.copyright_settings(library_id).await?;
    let cleared = tx
        .copyright_use(request_id)
        .await?
        .and_then(|u| Clearance::parse(&u.clearance))
        .is_some_and(Clearance::is_clearing);
    Ok(if cleared {
        ComplianceCode::Ccl
    } else {
        settings.compliance
    })
}

/// Refuse to send a request still waiting for copyright clearance.
pub async fn ensure_cleared(tx: &mut Tx<'_>, request_id: &str) -> Result<(), FlowError> {
    let pending = tx
        .copyright_use(request_id)
        .await?
        .and_then(|u| Clearance::parse(&u.clearance))
        .is_some_and(|c| !c.allows_sending());
    if pending {
        return Err(FlowError::BadInput {
            status: 409,
            code: "copyright_clearance_required",
            en: CLEARANCE_NEEDED.replace("{id}", request_id),
            zh: CLEARANCE_NEEDED_ZH.replace("{id}", request_id),
        });
    }
    Ok(())
}

pub const CLEARANCE_NEEDED_ZH: &str = "本馆对该期刊的版权复制限额已满：发送前请先办理版权许可（已付版税、已获授权，或注明理由后放行），接口为 POST /api/v1/requests/{id}/copyright-clearance";

pub const CLEARANCE_NEEDED: &str = "the library's copyright limit for this journal is reached: clear copyright (royalty_paid, permission or override with a reason) with POST /api/v1/requests/{id}/copyright-clearance before sending";

/// How staff cleared copyright for a request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearanceInput {
    /// `royalty_paid`, `permission` or `override`.
    pub method: String,
    /// Why, or the permission's reference; required for `override`.
    #[serde(default)]
    pub note: Option<String>,
    /// `royalty_paid`: the royalty in minor units (e.g. fen, cents).
    #[serde(default)]
    pub royalty_minor: Option<i64>,
    /// `royalty_paid`: ISO 4217 currency of the royalty, e.g. CNY.
    #[serde(default)]
    pub currency: Option<String>,
}

fn field(field: &'static str, code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError::Invalid(vec![domain::citation::FieldError::new(field, code, msg)])
}

/// Record the clearance of a request over the limit; it may then be approved and sent.
pub async fn clear(
    st: &AppState,
    user: &CurrentUser,
    request_id: &str,
    input: ClearanceInput,
) -> ApiResult<CopyrightUse> {
    let req = visible_borrow(st, user, request_id).await?;
    if !user.can(domain::Actor::BorrowingStaff) {
        return Err(ApiError::forbidden(
            "copyright is cleared by borrowing staff",
            "版权审核由借入馆员处理",
        ));
    }
    let method = Clearance::parse(input.method.trim())
        .filter(|c| c.is_clearing())
        .ok_or_else(|| {
            field(
                "method",
                "invalid_method",
                format!(
                    "method must be royalty_paid, permission or override, not {:?}",
                    input.method
                ),
            )
        })?;
    let note = input
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(2000).collect::<String>());
    if method == Clearance::Override && note.is_none() {
        return Err(field(
            "note",
            "required",
            "an override needs the reason in note",
        ));
    }
    let royalty = match (method, input.royalty_minor, input.currency.as_deref()) {
        (Clearance::RoyaltyPaid, Some(m), Some(c)) => {
            if m < 0 {
                return Err(field(
                    "royalty_minor",
                    "negative",
                    "the royalty cannot be negative",
                ));
            }
            let cur = domain::money::Currency::parse(c)
                .map_err(|e| field("currency", e.code(), e.to_string()))?;
            Some((m, cur.as_str().to_owned()))
        }
        (Clearance::RoyaltyPaid, None, None) => None,
        (Clearance::RoyaltyPaid, _, _) => {
            return Err(field(
                "royalty_minor",
                "incomplete",
                "give both royalty_minor and currency, or neither",
            ));
        }
        (_, None, None) => None,
        _ => {
            return Err(field(
                "royalty_minor",
                "not_applicable",
                "a royalty goes with method royalty_paid only",
            ));
        }
    };
    let (now, actor) = (st.now(), user.user_id.clone());
    let id = req.request_id.clone();
    let saved = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let req = tx.borrow_request_for_update(&id).await?;
                let mut usage = tx.copyright_use(&id).await?.ok_or_else(|| {
                    FlowError::bad(
                        "this request is not counted under the copyright rule: nothing to clear",
                        "该请求不计入版权复制限额，无需办理许可",
                    )
                })?;
                if Clearance::parse(&usage.clearance) != Some(Clearance::Required) {
                    return Err(FlowError::bad(
                        format!(
                            "copyright needs no clearance for this request (it is {})",
                            usage.clearance
                        ),
                        format!("该请求无需办理版权许可（当前为 {}）", usage.clearance),
                    ));
                }
                usage.clearance = method.as_str().to_owned();
                usage.cleared_by = Some(actor.clone());
                usage.cleared_at = Some(now);
                usage.clearance_note = note.clone();
                usage.royalty_minor = royalty.as_ref().map(|r| r.0);
                usage.royalty_currency = royalty.as_ref().map(|r| r.1.clone());
                tx.clear_copyright(&usage).await?;
                tx.insert_event(
                    &NewEvent {
                        library_id: &req.library_id,
                        side: "borrow",
                        request_id: &req.request_id,
                        actor_id: Some(&actor),
                        actor: "borrowing_staff",
                        action: "copyright_cleared",
                        from_state: Some(&req.state),
                        to_state: &req.state,
                        note: note.as_deref(),
                        message_id: None,
                        data: Some(serde_json::json!({
                            "method": method.as_str(),
                            "royalty_minor": usage.royalty_minor,
                            "currency": usage.royalty_currency,
                        })),
                    },
                    now,
                )
                .await?;
                Ok::<_, FlowError>(usage)
            })
        })
        .await?;
    Ok(saved)
}

/// Fill a copy request from the copy delivered for the earlier request it repeats: a new link
/// for this reader (with the library's terms), no lender asked. The earlier reader's link and
/// its counts are not touched.
pub async fn fill_from_copy(
    st: &AppState,
    user: &CurrentUser,
    request_id: &str,
) -> ApiResult<store::BorrowRequest> {
    let req = visible_borrow(st, user, request_id).await?;
    if !user.can(domain::Actor::BorrowingStaff) {
        return Err(ApiError::forbidden(
            "filling from a delivered copy is for borrowing staff",
            "用已交付的复制件满足请求须由借入馆员操作",
        ));
    }
    let (now, config, acting) = (st.now(), st.config.clone(), Acting::user(user));
    let id = req.request_id.clone();
    let touched = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut req = tx.borrow_request_for_update(&id).await?;
                let (earlier, file_id) = usable_copy(tx, &req, now).await?;
                tx.set_borrow_document(&req.request_id, None, Some(&file_id))
                    .await?;
                let extra = Extra {
                    internal_note: Some(format!("copy delivered for request {earlier}")),
                    data: Some(serde_json::json!({
                        "earlier_request_id": earlier, "file_id": file_id,
                        "note_zh": format!("使用为请求 {earlier} 交付的复制件"),
                    })),
                    ..Extra::default()
                };
                let touched = apply_borrow(
                    tx,
                    now,
                    &mut req,
                    BorrowAction::FillFromCopy,
                    &acting,
                    &extra,
                )
                .await?;
                let link = crate::api::files::issue_link(tx, &config, &req, now)
                    .await?
                    .ok_or_else(|| FlowError::Internal("no file after filling".into()))?;
                let vars = serde_json::json!({
                    "link": link.link,
                    "expires": tx.library(&req.library_id).await?.offset().date(link.expires_at).to_string(),
                    "views": link.max_views,
                });
                crate::letters::queue(tx, LetterKind::DocumentDelivered, (&req).into(), vars, now)
                    .await?;
                Ok::<_, FlowError>(touched)
            })
        })
        .await
        .map_err(|e| match e {
            FlowError::NotFound(what) => {
                ApiError::Unacceptable(409, "no_delivered_copy", what.to_owned())
            }
            other => other.into(),
        })?;
    touched.publish(st);
    Ok(st.store.borrow_request(request_id).await?)
}

/// The earlier request `req` repeats and the stored file delivered for it, if that copy may
/// still be given out: stored, not purged, and its reader's link still within its days (the
/// library keeps a copy only as long as its delivery terms say).
async fn usable_copy(
    tx: &mut Tx<'_>,
    req: &store::BorrowRequest,
    now: OffsetDateTime,
) -> Result<(String, String), FlowError> {
    let dup = tx
        .duplicate_of(&req.request_id)
        .await?
        .ok_or(FlowError::NotFound(
            "this request repeats no earlier request of the library",
        ))?;
    let (_, file_id) = tx.borrow_document(&dup.earlier_request_id).await?;
    let file_id = file_id.ok_or(FlowError::NotFound(
        "the earlier request has no delivered copy",
    ))?;
    let file = tx.file(&file_id).await?;
    if file.is_none_or(|f| f.purged_at.is_some()) {
        return Err(FlowError::NotFound(
            "the earlier copy has been deleted after its delivery period",
        ));
    }
    let link = tx.current_delivery_link(&dup.earlier_request_id).await?;
    if link.is_none_or(|l| l.expires_at <= now) {
        return Err(FlowError::NotFound(
            "the earlier copy's delivery period is over: it may not be given out again",
        ));
    }
    Ok((dup.earlier_request_id, file_id))
}

/// Whether the earlier copy could fill `req` now (for showing the action); read from the pool.
pub async fn can_fill_from_copy(st: &AppState, req: &store::BorrowRequest) -> bool {
    if BorrowState::parse(&req.state) != Some(BorrowState::PendingReview)
        || !RequestFormat::parse(&req.format).is_some_and(RequestFormat::is_copy)
    {
        return false;
    }
    let now = st.now();
    let Ok(Some(dup)) = st.store.duplicate_of(&req.request_id).await else {
        return false;
    };
    let Ok((_, Some(file_id))) = st.store.borrow_document(&dup.earlier_request_id).await else {
        return false;
    };
    let stored = matches!(st.store.file(&file_id).await, Ok(Some(f)) if f.purged_at.is_none());
    let live = matches!(
        st.store.delivery_link_of(&dup.earlier_request_id).await,
        Ok(Some(l)) if l.expires_at > now
    );
    stored && live
}
