//! Mail on the staff pages: on a borrowing request whose lender is an e-mail partner, the form
//! to record the partner's answer and the mail received about the request; and the unmatched
//! mail page (`/staff/mail`), where staff file a mail on a request. The forms post to the same
//! flow functions as `POST /api/v1/requests/{id}/partner-answers` and
//! `POST /api/v1/mail/{id}/file`.

use axum::Form;
use axum::extract::Path;
use axum::extract::rejection::FormRejection;
use axum::response::Response;
use domain::citation::FieldError;

use super::accounts::{Pairs, pairs, value};
use super::catalog::Msg;
use super::forms::{AdminPage, Block, Cell, FormView, Input, Opt, TableView};
use super::reader::{DetailQuery, detail_page, when};
use super::{Ctx, WebError, WebResult, percent_encode, see_other};
use crate::error::ApiError;
use crate::flow::email::{AnswerInput, PartnerAnswer, record_answer};

/// The hidden field that tells the answer form's post from the page's other forms.
pub const FORM_TAG: &str = "partner_answer";

fn answer_form(m: &'static Msg, id: &str, p: &Pairs) -> FormView {
    let chosen = value(p, "answer");
    let answers = PartnerAnswer::ALL
        .iter()
        .map(|a| {
            let (en, zh) = a.label();
            Opt::new(a.as_str(), m.pick(en, zh), chosen == a.as_str())
        })
        .collect();
    let reason = value(p, "reason");
    let mut reasons = vec![Opt::new("", "—", reason.is_empty())];
    reasons.extend(
        crate::flow::REASONS_UNFILLED
            .iter()
            .map(|r| Opt::new(*r, *r, reason == *r)),
    );
    let retry_reason = value(p, "retry_reason");
    let mut retry_reasons = vec![Opt::new("", "—", retry_reason.is_empty())];
    retry_reasons.extend(
        domain::retry::REASONS_RETRY
            .iter()
            .map(|r| Opt::new(*r, *r, retry_reason == *r)),
    );
    let terms = m.pick("For “Could supply on terms”.", "用于“可按条件重试”。");
    FormView::post(
        FORM_TAG,
        &format!("/requests/{}/partner-answer", percent_encode(id)),
        m.pick("Record the answer", "记录答复"),
    )
    .hidden("form", FORM_TAG)
    .input(Input::new("answer", m.pick("Answer", "答复"), "select", "").options(answers))
    .input(
        Input::new(
            "note",
            m.pick("The partner's words", "对方原话"),
            "textarea",
            &value(p, "note"),
        )
        .hint(m.pick(
            "Needed for a condition or a note.",
            "记录条件或附言时必填。",
        )),
    )
    .input(
        Input::new(
            "reason",
            m.pick("Reason (cannot supply)", "无法提供的原因"),
            "select",
            "",
        )
        .options(reasons),
    )
    .input(
        Input::new(
            "due_date",
            m.pick("Due date", "应还日期"),
            "date",
            &value(p, "due_date"),
        )
        .hint(m.pick(
            "For a shipped loan or a granted renewal.",
            "寄出借阅或同意续借时必填。",
        )),
    )
    .input(
        Input::text(
            "url",
            m.pick("Address of the copy", "复制件地址"),
            &value(p, "url"),
        )
        .hint(m.pick("If the partner sent a link.", "对方提供链接时填写。")),
    )
    .input(
        Input::new(
            "retry_reason",
            m.pick(
                "Why it cannot supply now (terms)",
                "暂不能提供的原因（重试条件）",
            ),
            "select",
            "",
        )
        .options(retry_reasons)
        .hint(terms),
    )
    .input(
        Input::text(
            "cost",
            m.pick(
                "Cost the partner would charge, e.g. 50.00 CNY",
                "对方收费，例如 50.00 CNY",
            ),
            &value(p, "cost"),
        )
        .hint(m.pick(
            "Needed when the reason is CostExceedsMaxCost.",
            "原因为 CostExceedsMaxCost（费用超出上限）时必填。",
        )),
    )
    .input(
        Input::new(
            "retry_after",
            m.pick("Could supply from", "最早可重新申请日期"),
            "date",
            &value(p, "retry_after"),
        )
        .hint(terms),
    )
    .input(
        Input::new(
            "retry_before",
            m.pick("The offer holds until", "条件有效期至"),
            "date",
            &value(p, "retry_before"),
        )
        .hint(terms),
    )
    .input(
        Input::text(
            "loan_condition",
            m.pick(
                "Loan condition, e.g. LibraryUseOnly",
                "借阅条件，例如 LibraryUseOnly",
            ),
            &value(p, "loan_condition"),
        )
        .hint(m.pick(
            "Needed when the reason is LoanCondition.",
            "原因为 LoanCondition（借阅条件）时必填。",
        )),
    )
    .input(
        Input::text(
            "item_format",
            m.pick(
                "Format it could supply instead, e.g. PDF",
                "可改提供的格式，例如 PDF",
            ),
            &value(p, "item_format"),
        )
        .hint(terms),
    )
}

/// A date typed in the form (YYYY-MM-DD); empty is none. A bad one names its field.
fn form_date(p: &Pairs, field: &'static str) -> Result<Option<time::Date>, FieldError> {
    match value(p, field) {
        d if d.is_empty() => Ok(None),
        d => time::Date::parse(
            &d,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(Some)
        .map_err(|_| {
            FieldError::new(
                field,
                "invalid_date",
                format!("{field}: {d:?} is not a date (YYYY-MM-DD)"),
            )
        }),
    }
}

/// "50.00 CNY" (or "CNY 50.00") as minor units and a currency; empty is none.
fn form_cost(p: &Pairs) -> Result<Option<domain::money::Money>, FieldError> {
    use domain::money::{Currency, Money};
    let text = value(p, "cost");
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        [a, b] => Currency::parse(b)
            .and_then(|c| Money::parse_decimal(a, c))
            .or_else(|_| Currency::parse(a).and_then(|c| Money::parse_decimal(b, c)))
            .ok(),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        FieldError::new(
            "cost",
            "invalid_money",
            format!("cost: {text:?} is not an amount and an ISO 4217 currency, e.g. 50.00 CNY"),
        )
    })
}

/// The answer as the flow takes it, from the form; every field that cannot be read is named.
fn answer_input(p: &Pairs) -> Result<AnswerInput, ApiError> {
    let some = |k: &str| Some(value(p, k)).filter(|v| !v.is_empty());
    let retry = value(p, "answer") == PartnerAnswer::RetryPossible.as_str();
    let mut errors = Vec::new();
    let due_date = form_date(p, "due_date").unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let (mut cost, mut retry_after, mut retry_before) = (None, None, None);
    if retry {
        cost = form_cost(p).unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        retry_after = form_date(p, "retry_after").unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        retry_before = form_date(p, "retry_before").unwrap_or_else(|e| {
            errors.push(e);
            None
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    Ok(AnswerInput {
        answer: value(p, "answer"),
        note: some("note"),
        // The reason of a retry is a reasonRetry, chosen from its own list.
        reason: if retry {
            some("retry_reason")
        } else {
            some("reason")
        },
        due_date,
        url: some("url"),
        mail_id: None,
        cost_minor: cost.as_ref().map(|c| c.minor),
        currency: cost.map(|c| c.currency.as_str().to_owned()),
        retry_after,
        retry_before,
        loan_condition: retry.then(|| some("loan_condition")).flatten(),
        item_format: retry.then(|| some("item_format")).flatten(),
    })
}

/// A refusal of the retry terms, put next to the page's field it is about.
fn on_retry_field(e: ApiError) -> ApiError {
    let ApiError::Bilingual(_, code, en, _) = &e else {
        return e;
    };
    let (field, field_code, text) = match *code {
        "retry_reason_required" => (
            "retry_reason",
            "required",
            "retry_reason: choose why the partner cannot supply now",
        ),
        "retry_cost_required" => (
            "cost",
            "retry_cost_required",
            "cost: the reason CostExceedsMaxCost needs the cost the partner would charge, e.g. 50.00 CNY",
        ),
        "retry_condition_required" => (
            "loan_condition",
            "required",
            "loan_condition: the reason LoanCondition needs the condition, e.g. LibraryUseOnly",
        ),
        "invalid_retry_dates" => (
            "retry_before",
            "before_retry_after",
            "retry_before: the offer cannot end before the partner could supply",
        ),
        "invalid_cost" | "invalid_currency" => ("cost", "invalid_money", en.as_str()),
        _ => return e,
    };
    ApiError::Invalid(vec![FieldError::new(field, field_code, text)])
}

/// Staff blocks of a borrowing request: the e-mail partner's answer form and the mail
/// received about it. `review` is the answer form sent back with its refusal.
pub async fn blocks(
    ctx: &Ctx,
    req: &store::BorrowRequest,
    review: Option<(Pairs, ApiError)>,
) -> WebResult<Vec<Block>> {
    let m = ctx.m;
    let mut out = Vec::new();
    let partner = crate::api::mail::email_partner_of(&ctx.st, req).await?;
    let user = ctx.user()?;
    if let Some(address) = &partner
        && user.can(domain::Actor::BorrowingStaff)
    {
        out.push(Block::heading(
            m.pick("The e-mail partner's answer", "邮件合作馆的答复"),
        ));
        out.push(Block::text(format!(
            "{} {address}",
            m.pick(
                "This lender works by e-mail; record what it answered. It moves the request as the partner's own message would. Its mail address:",
                "该出借馆通过邮件往来；请在此记录其答复，申请将照对方自行发送消息的方式推进。其邮箱：",
            )
        )));
        let (typed, refusal) = match review {
            Some((p, e)) => (p, Some(e)),
            None => (Vec::new(), None),
        };
        let mut form = answer_form(m, &req.request_id, &typed);
        if let Some(e) = refusal {
            form.refusal(m, e)?;
        }
        out.push(Block::form(form));
    }
    let mail = ctx
        .st
        .store
        .inbound_mail_of_request(&req.library_id, &req.request_id)
        .await?;
    if partner.is_some() || !mail.is_empty() {
        out.push(Block::heading(
            m.pick("Mail about this request", "有关此请求的邮件"),
        ));
        if mail.is_empty() {
            out.push(Block::text(
                m.pick("No mail received yet.", "尚未收到邮件。"),
            ));
        }
        for mail in mail {
            let kind = if mail.kind == "bounce" {
                m.pick("bounce", "退信")
            } else {
                m.pick("reply", "回复")
            };
            out.push(Block::facts(vec![
                (
                    m.pick("Received", "收到时间").to_owned(),
                    when(mail.received_at),
                ),
                (m.pick("Kind", "类型").to_owned(), kind.to_owned()),
                (m.pick("From", "发件人").to_owned(), mail.from_header),
                (m.pick("Subject", "主题").to_owned(), mail.subject),
            ]));
            let body: String = mail.body.chars().take(8000).collect();
            out.push(Block::pre(body));
        }
    }
    Ok(out)
}

/// `POST /requests/{id}/partner-answer`.
#[tracing::instrument(skip_all, fields(request = %id))]
pub async fn answer(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<Pairs>, FormRejection>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        let p = pairs(form)?;
        let result = match answer_input(&p) {
            Ok(input) => record_answer(&ctx.st, user, &id, input)
                .await
                .map(|_| ())
                .map_err(on_retry_field),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => Ok(see_other(&format!(
                "/requests/{}?done=answer",
                percent_encode(&id)
            ))),
            Err(e @ (ApiError::Bilingual(..) | ApiError::Invalid(_) | ApiError::Refused(_))) => {
                detail_page(&ctx, &id, &DetailQuery::default(), Some((p, e))).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    ctx.finish(r)
}

/// `GET /staff/mail`: received mail that names no request, with a form to file each.
pub async fn unmatched(ctx: Ctx) -> Response {
    let r = async { unmatched_page(&ctx, None).await }.await;
    ctx.finish(r)
}

async fn unmatched_page(ctx: &Ctx, error: Option<String>) -> WebResult<Response> {
    let m = ctx.m;
    let user = ctx.user()?;
    if user.is_patron() {
        return Err(WebError::Api(ApiError::Forbidden(
            "this page is for staff".to_owned(),
        )));
    }
    let hub = user.roles.contains(&domain::people::Role::HubAdmin);
    let rows = ctx
        .st
        .store
        .unmatched_mail(&user.library_id, hub, 200)
        .await?;
    let mut page = AdminPage::new(m, ctx.chrome(), m.pick("Unmatched mail", "未归档邮件"));
    page.intro = Some(
        m.pick(
            "Mail received that names no request (no request number in its address or subject). File each on its request by the request's number.",
            "收到的邮件中未能识别出申请编号（地址和主题中都没有）。请按申请编号将其归档到对应申请。",
        )
        .to_owned(),
    );
    page.error = error;
    page.links
        .push(("/staff/borrowing".to_owned(), m.nav_borrowing.to_owned()));
    let mut table = Vec::new();
    for r in rows {
        let form = FormView::post(
            &format!("file-{}", r.inbound_mail_id),
            &format!("/staff/mail/{}/file", r.inbound_mail_id),
            m.pick("File", "归档"),
        )
        .input(Input::text(
            "request_id",
            m.pick("Request number", "申请编号"),
            "",
        ))
        .inline();
        let body: String = r.body.chars().take(400).collect();
        table.push(vec![
            Cell::text(when(r.received_at)),
            Cell::text(if r.kind == "bounce" {
                m.pick("bounce", "退信")
            } else {
                m.pick("reply", "回复")
            }),
            Cell::text(if r.from_header.is_empty() {
                r.envelope_from
            } else {
                r.from_header
            }),
            Cell::text(r.subject),
            Cell::text(body),
            Cell {
                form: Some(form),
                ..Cell::default()
            },
        ]);
    }
    page.blocks.push(Block::table(TableView {
        caption: None,
        headers: vec![
            m.pick("Received", "收到时间").to_owned(),
            m.pick("Kind", "类型").to_owned(),
            m.pick("From", "发件人").to_owned(),
            m.pick("Subject", "主题").to_owned(),
            m.pick("Text", "正文").to_owned(),
            String::new(),
        ],
        rows: table,
        empty: m
            .pick("No unmatched mail.", "没有未归档的邮件。")
            .to_owned(),
    }));
    let status = if page.error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    Ok(ctx.respond(status, page))
}

/// `POST /staff/mail/{id}/file`.
pub async fn file(
    ctx: Ctx,
    Path(mail_id): Path<i64>,
    form: Result<Form<Pairs>, FormRejection>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        let p = pairs(form)?;
        let request_id = value(&p, "request_id");
        match crate::api::mail::file_mail(&ctx.st, user, mail_id, &request_id).await {
            Ok(()) => Ok(see_other(&format!(
                "/requests/{}",
                percent_encode(&request_id)
            ))),
            Err(e @ ApiError::Bilingual(..)) => {
                let text = super::staff::refusal_text(ctx.m, &e);
                unmatched_page(&ctx, Some(text)).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    ctx.finish(r)
}
