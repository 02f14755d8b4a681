//! Answers of e-mail partners, recorded by borrowing staff from the partner's mail. Each answer
//! is turned into the ISO 18626 supplyingAgencyMessage the partner would have sent and applied
//! through the same code as one received over the wire (`receive::apply_recorded`), with the
//! staff member's own event, in one transaction.

use ::iso18626 as wire;
use domain::machine::CONDITION_MARKER;
use domain::peer::PeerSystem;
use serde::{Deserialize, Serialize};
use store::{BorrowRequest, NewEvent};
use time::Date;

use super::{FlowError, iso};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};

/// What an e-mail partner answered, as staff record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerAnswer {
    /// The partner has the request and is looking (ExpectToSupply).
    ExpectToSupply,
    /// It will supply (WillSupply).
    WillSupply,
    /// It will supply on a condition, given in `note` (the borrower must answer).
    Conditional,
    /// It cannot supply; `reason` is the ISO 18626 reasonUnfilled.
    Unfilled,
    /// It cannot supply now but could on terms: `reason` (reasonRetry), and any of the cost,
    /// the dates, a loan condition or another format.
    RetryPossible,
    /// It shipped the loan; `due_date` is when it is due back.
    Loaned,
    /// It sent the copy; `url` where it can be fetched, if it gave one.
    CopyCompleted,
    /// It agreed to renew; `due_date` is the new due date.
    RenewYes,
    /// It did not agree to renew.
    RenewNo,
    /// It cancelled the request as asked.
    CancelYes,
    /// It could not cancel (already shipped).
    CancelNo,
    /// It recalls the loan.
    Recalled,
    /// It says the loan is overdue.
    Overdue,
    /// It received the returned item: the loan is complete.
    LoanCompleted,
    /// A note, nothing changes.
    Note,
}

impl PartnerAnswer {
    pub const ALL: &'static [PartnerAnswer] = &[
        PartnerAnswer::ExpectToSupply,
        PartnerAnswer::WillSupply,
        PartnerAnswer::Conditional,
        PartnerAnswer::Unfilled,
        PartnerAnswer::RetryPossible,
        PartnerAnswer::Loaned,
        PartnerAnswer::CopyCompleted,
        PartnerAnswer::RenewYes,
        PartnerAnswer::RenewNo,
        PartnerAnswer::CancelYes,
        PartnerAnswer::CancelNo,
        PartnerAnswer::Recalled,
        PartnerAnswer::Overdue,
        PartnerAnswer::LoanCompleted,
        PartnerAnswer::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PartnerAnswer::ExpectToSupply => "expect_to_supply",
            PartnerAnswer::WillSupply => "will_supply",
            PartnerAnswer::Conditional => "conditional",
            PartnerAnswer::Unfilled => "unfilled",
            PartnerAnswer::RetryPossible => "retry_possible",
            PartnerAnswer::Loaned => "loaned",
            PartnerAnswer::CopyCompleted => "copy_completed",
            PartnerAnswer::RenewYes => "renew_yes",
            PartnerAnswer::RenewNo => "renew_no",
            PartnerAnswer::CancelYes => "cancel_yes",
            PartnerAnswer::CancelNo => "cancel_no",
            PartnerAnswer::Recalled => "recalled",
            PartnerAnswer::Overdue => "overdue",
            PartnerAnswer::LoanCompleted => "loan_completed",
            PartnerAnswer::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Option<PartnerAnswer> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s.trim())
    }

    /// For the staff page: (en, zh).
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            PartnerAnswer::ExpectToSupply => ("Expects to supply", "预计可提供"),
            PartnerAnswer::WillSupply => ("Will supply", "将提供"),
            PartnerAnswer::Conditional => ("Will supply on a condition", "有条件提供"),
            PartnerAnswer::Unfilled => ("Cannot supply", "无法提供"),
            PartnerAnswer::RetryPossible => ("Could supply on terms", "可按条件重试"),
            PartnerAnswer::Loaned => ("Shipped the loan", "已寄出（借阅）"),
            PartnerAnswer::CopyCompleted => ("Sent the copy", "已发送复制件"),
            PartnerAnswer::RenewYes => ("Renewal granted", "同意续借"),
            PartnerAnswer::RenewNo => ("Renewal refused", "不同意续借"),
            PartnerAnswer::CancelYes => ("Cancelled as asked", "已按请求取消"),
            PartnerAnswer::CancelNo => ("Could not cancel", "无法取消"),
            PartnerAnswer::Recalled => ("Recalls the loan", "召回"),
            PartnerAnswer::Overdue => ("Says it is overdue", "告知已逾期"),
            PartnerAnswer::LoanCompleted => ("Received the return", "已收到归还"),
            PartnerAnswer::Note => ("A note", "附言"),
        }
    }

    /// The ISO 18626 reasonForMessage, status and answer the partner's message would carry.
    fn wire(self) -> (wire::ReasonForMessage, wire::Status, Option<bool>) {
        use wire::ReasonForMessage as R;
        use wire::Status as S;
        match self {
            PartnerAnswer::ExpectToSupply => (R::RequestResponse, S::ExpectToSupply, None),
            PartnerAnswer::WillSupply => (R::RequestResponse, S::WillSupply, None),
            PartnerAnswer::Conditional => (R::Notification, S::WillSupply, None),
            PartnerAnswer::Unfilled => (R::RequestResponse, S::Unfilled, None),
            PartnerAnswer::RetryPossible => (R::RequestResponse, S::RetryPossible, None),
            PartnerAnswer::Loaned => (R::StatusChange, S::Loaned, None),
            PartnerAnswer::CopyCompleted => (R::StatusChange, S::CopyCompleted, None),
            PartnerAnswer::RenewYes => (R::RenewResponse, S::Loaned, Some(true)),
            PartnerAnswer::RenewNo => (R::RenewResponse, S::Loaned, Some(false)),
            PartnerAnswer::CancelYes => (R::CancelResponse, S::Cancelled, Some(true)),
            PartnerAnswer::CancelNo => (R::CancelResponse, S::WillSupply, Some(false)),
            PartnerAnswer::Recalled => (R::StatusChange, S::Recalled, None),
            PartnerAnswer::Overdue => (R::StatusChange, S::Overdue, None),
            PartnerAnswer::LoanCompleted => (R::StatusChange, S::LoanCompleted, None),
            PartnerAnswer::Note => (R::Notification, S::RequestReceived, None),
        }
    }
}

/// An answer to record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// `expect_to_supply`, `will_supply`, `conditional`, `unfilled`, `loaned`,
    /// `copy_completed`, `renew_yes`, `renew_no`, `cancel_yes`, `cancel_no`, `recalled`,
    /// `overdue`, `loan_completed` or `note`.
    pub answer: String,
    /// What the partner wrote (the condition, for `conditional`; the text, for `note`).
    #[serde(default)]
    pub note: Option<String>,
    /// `unfilled`: ISO 18626 reasonUnfilled, e.g. `NotHeld`, `NotOnShelf`;
    /// `retry_possible`: reasonRetry, e.g. `CostExceedsMaxCost`, `OnLoan`.
    #[serde(default)]
    pub reason: Option<String>,
    /// `retry_possible`: the cost the partner would charge, in minor units of `currency`.
    #[serde(default)]
    pub cost_minor: Option<i64>,
    /// `retry_possible`: ISO 4217 code of `cost_minor`, e.g. `CNY`.
    #[serde(default)]
    pub currency: Option<String>,
    /// `retry_possible`: from when the partner could supply.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub retry_after: Option<Date>,
    /// `retry_possible`: until when the offer holds.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub retry_before: Option<Date>,
    /// `retry_possible`: a loan condition it would lend under, e.g. `LibraryUseOnly`.
    #[serde(default)]
    pub loan_condition: Option<String>,
    /// `retry_possible`: a format it could supply instead, e.g. `PDF`.
    #[serde(default)]
    pub item_format: Option<String>,
    /// `loaned`, `renew_yes`: the due date the partner gave.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<Date>,
    /// `copy_completed`: where the copy can be fetched (http or https), if the partner gave
    /// an address.
    #[serde(default)]
    pub url: Option<String>,
    /// The received mail this answer was read from, to link it in the history.
    #[serde(default)]
    pub mail_id: Option<i64>,
}

fn bad(code: &'static str, en: String, zh: String) -> ApiError {
    ApiError::Bilingual(422, code, en, zh)
}

/// Check the input for its answer; every refusal names the field.
fn checked(input: &AnswerInput) -> ApiResult<PartnerAnswer> {
    let answer = PartnerAnswer::parse(&input.answer).ok_or_else(|| {
        let known: Vec<_> = PartnerAnswer::ALL.iter().map(|a| a.as_str()).collect();
        bad(
            "unknown_answer",
            format!(
                "answer: {:?} is not one of {}",
                input.answer,
                known.join(", ")
            ),
            format!(
                "answer：{:?} 不是可记录的答复；可选 {}",
                input.answer,
                known.join("、")
            ),
        )
    })?;
    let note = input.note.as_deref().map(str::trim).unwrap_or_default();
    if note.chars().count() > 4000 {
        return Err(bad(
            "note_too_long",
            "note: at most 4,000 characters".to_owned(),
            "note：附言最多 4000 字".to_owned(),
        ));
    }
    match answer {
        PartnerAnswer::Conditional | PartnerAnswer::Note if note.is_empty() => {
            return Err(bad(
                "note_required",
                format!(
                    "note: a {} answer needs the partner's words",
                    answer.as_str()
                ),
                format!("note：“{}”需要填写对方的原话", answer.label().1),
            ));
        }
        PartnerAnswer::Unfilled => {
            let reason = input.reason.as_deref().map(str::trim).unwrap_or_default();
            if !super::REASONS_UNFILLED.contains(&reason) {
                return Err(bad(
                    "unknown_reason",
                    format!(
                        "reason: {reason:?} is not an ISO 18626 reasonUnfilled; one of {}",
                        super::REASONS_UNFILLED.join(", ")
                    ),
                    format!(
                        "reason：{reason:?} 不是 ISO 18626 的无法提供原因；可选 {}",
                        super::REASONS_UNFILLED.join("、")
                    ),
                ));
            }
        }
        PartnerAnswer::RetryPossible => {
            super::lend::retry_terms(&retry_input(input)).map_err(ApiError::from)?;
        }
        PartnerAnswer::Loaned | PartnerAnswer::RenewYes if input.due_date.is_none() => {
            return Err(bad(
                "due_date_required",
                format!(
                    "due_date: a {} answer needs the due date the partner gave",
                    answer.as_str()
                ),
                format!("due_date：“{}”需要填写对方给出的应还日期", answer.label().1),
            ));
        }
        _ => {}
    }
    if let Some(url) = input
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        && (!(url.starts_with("http://") || url.starts_with("https://"))
            || url.contains(char::is_whitespace))
    {
        return Err(bad(
            "invalid_url",
            "url: an http:// or https:// address".to_owned(),
            "url：应为 http:// 或 https:// 开头的地址".to_owned(),
        ));
    }
    Ok(answer)
}

/// The retry terms of an answer, as the lender's own `offer_retry` takes them (one check).
fn retry_input(input: &AnswerInput) -> super::ActionInput {
    super::ActionInput {
        action: "offer_retry".to_owned(),
        reason: input.reason.clone(),
        cost_minor: input.cost_minor,
        currency: input.currency.clone(),
        retry_after: input.retry_after,
        retry_before: input.retry_before,
        loan_condition: input.loan_condition.clone(),
        item_format: input.item_format.clone(),
        ..super::ActionInput::default()
    }
}

/// The supplyingAgencyMessage the partner's answer stands for.
fn message(
    req: &BorrowRequest,
    ours: &store::LibraryRow,
    partner: &store::LibraryRow,
    answer: PartnerAnswer,
    input: &AnswerInput,
    now: time::OffsetDateTime,
) -> Result<wire::SupplyingAgencyMessage, FlowError> {
    let (reason, status, yes) = answer.wire();
    let mut note = input
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if answer == PartnerAnswer::Conditional {
        note = Some(format!("{CONDITION_MARKER} {}", note.unwrap_or_default()));
    }
    let url = input
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    let delivery = (answer == PartnerAnswer::CopyCompleted || answer == PartnerAnswer::Loaned)
        .then(|| wire::DeliveryInfo {
            date_sent: iso::timestamp(now),
            url: url.clone(),
            sent_via: Some(if url.is_some() { "URL" } else { "Mail" }.to_owned()),
            ..Default::default()
        });
    let header = iso::header(
        iso::agency(ours),
        iso::agency(partner),
        &super::borrow::wire_id(req),
        req.lender_request_id.as_deref(),
        now,
    );
    let mut sam = wire::SupplyingAgencyMessage {
        header,
        message_info: wire::MessageInfo {
            reason_for_message: reason,
            answer_yes_no: yes,
            note,
            reason_unfilled: (answer == PartnerAnswer::Unfilled).then(|| {
                input
                    .reason
                    .as_deref()
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            }),
            ..Default::default()
        },
        status_info: wire::StatusInfo {
            status,
            due_date: input.due_date.map(iso::due_date_text),
            last_change: iso::timestamp(now),
            ..Default::default()
        },
        delivery_info: delivery,
        ..Default::default()
    };
    if answer == PartnerAnswer::RetryPossible {
        super::lend::retry_terms(&retry_input(input))?.apply(&mut sam, partner.offset());
    }
    Ok(sam)
}

/// Record an e-mail partner's answer on a borrowing request: the staff member's event and the
/// answer applied as the partner's message, in one transaction.
pub async fn record_answer(
    st: &AppState,
    user: &CurrentUser,
    request_id: &str,
    input: AnswerInput,
) -> ApiResult<BorrowRequest> {
    if !user.can(domain::Actor::BorrowingStaff) {
        return Err(ApiError::forbidden(
            "partners' answers are recorded by borrowing staff",
            "合作馆的答复由借入馆员记录",
        ));
    }
    let answer = checked(&input)?;
    let existing = super::borrow::visible_borrow(st, user, request_id).await?;
    let not_email = || {
        ApiError::Bilingual(
            409,
            "not_an_email_partner",
            "the request's current lender is not an e-mail partner: its answers arrive by ISO 18626".to_owned(),
            "该申请当前的出借馆不是邮件合作馆，其答复经 ISO 18626 自动到达".to_owned(),
        )
    };
    let lender = existing.lender_id.clone().ok_or_else(not_email)?;
    let profile = st.store.peer(&lender).await?;
    if profile.is_none_or(|p| p.system != PeerSystem::Email) {
        return Err(not_email());
    }
    let ours = st.store.library(&existing.library_id).await?;
    let partner = st.store.library(&lender).await?;
    let (id, now, user_id) = (request_id.to_owned(), st.now(), user.user_id.clone());
    let touched = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let req = tx.borrow_request_for_update(&id).await?;
                if req.lender_id.as_deref() != Some(partner.library_id.as_str()) {
                    return Err(FlowError::BadInput {
                        status: 409,
                        code: "lender_changed",
                        en: "the request has moved on to another lender meanwhile; reload it"
                            .to_owned(),
                        zh: "该申请已转向其他出借馆，请刷新后再试".to_owned(),
                    });
                }
                let note = input
                    .note
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty());
                tx.insert_event(
                    &NewEvent {
                        library_id: &req.library_id,
                        side: "borrow",
                        request_id: &req.request_id,
                        actor_id: Some(&user_id),
                        actor: "staff",
                        action: "partner_answer_recorded",
                        from_state: Some(&req.state),
                        to_state: &req.state,
                        note,
                        message_id: None,
                        data: Some(serde_json::json!({
                            "answer": answer.as_str(),
                            "partner": partner.library_id,
                            "reason": input.reason,
                            "due_date": input.due_date.map(|d| d.to_string()),
                            "url": input.url,
                            "mail_id": input.mail_id,
                        })),
                    },
                    now,
                )
                .await?;
                let msg = message(&req, &ours, &partner, answer, &input, now)?;
                let touched =
                    super::receive::apply_recorded(tx, now, &req.library_id, &msg).await?;
                super::receive::deliver_here(tx, now, touched).await
            })
        })
        .await?;
    touched.publish(st);
    Ok(st.store.borrow_request(request_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(answer: &str) -> AnswerInput {
        AnswerInput {
            answer: answer.to_owned(),
            note: None,
            reason: None,
            due_date: None,
            url: None,
            mail_id: None,
            cost_minor: None,
            currency: None,
            retry_after: None,
            retry_before: None,
            loan_condition: None,
            item_format: None,
        }
    }

    #[test]
    fn every_answer_has_a_name_and_the_wire_action_it_stands_for() {
        use domain::requester::BorrowAction;
        for a in PartnerAnswer::ALL {
            assert_eq!(PartnerAnswer::parse(a.as_str()), Some(*a));
            let (reason, status, yes) = a.wire();
            let note = if *a == PartnerAnswer::Conditional {
                CONDITION_MARKER
            } else {
                ""
            };
            let action = BorrowAction::from_lender(
                iso::reason_to_domain(reason),
                iso::status_to_domain(status),
                yes,
                note,
            );
            let expected = match a {
                PartnerAnswer::ExpectToSupply => BorrowAction::LenderExpectToSupply,
                PartnerAnswer::WillSupply => BorrowAction::LenderWillSupply,
                PartnerAnswer::Conditional => BorrowAction::LenderConditional,
                PartnerAnswer::Unfilled => BorrowAction::LenderUnfilled,
                PartnerAnswer::RetryPossible => BorrowAction::LenderRetryPossible,
                PartnerAnswer::Loaned => BorrowAction::LenderLoaned,
                PartnerAnswer::CopyCompleted => BorrowAction::LenderCopyCompleted,
                PartnerAnswer::RenewYes => BorrowAction::LenderRenewYes,
                PartnerAnswer::RenewNo => BorrowAction::LenderRenewNo,
                PartnerAnswer::CancelYes => BorrowAction::LenderCancelled,
                PartnerAnswer::CancelNo => BorrowAction::LenderCancelRefused,
                PartnerAnswer::Recalled => BorrowAction::LenderRecalled,
                PartnerAnswer::Overdue => BorrowAction::LenderOverdue,
                PartnerAnswer::LoanCompleted => BorrowAction::LenderLoanCompleted,
                PartnerAnswer::Note => BorrowAction::LenderNotification,
            };
            assert_eq!(action, expected, "{a:?}");
        }
    }

    #[test]
    fn answers_missing_what_they_need_are_refused_naming_the_field() {
        let code = |i: &AnswerInput| match checked(i) {
            Err(ApiError::Bilingual(_, code, en, _)) => (code, en),
            other => panic!("{other:?}"),
        };
        assert_eq!(code(&input("shipped")).0, "unknown_answer");
        assert!(code(&input("loaned")).1.starts_with("due_date:"));
        assert!(code(&input("unfilled")).1.starts_with("reason:"));
        assert!(code(&input("conditional")).1.starts_with("note:"));
        let mut copy = input("copy_completed");
        copy.url = Some("ftp://x".into());
        assert_eq!(code(&copy).0, "invalid_url");
        let mut ok = input("unfilled");
        ok.reason = Some("NotHeld".into());
        assert_eq!(checked(&ok).ok(), Some(PartnerAnswer::Unfilled));
    }
}
