//! What borrowing staff review on a request's page besides its stage: the copyright standing
//! (with the clearance form while clearance is required), the earlier request it repeats (with
//! "fill from the delivered copy" where that copy can be used) and the fees recorded for it.
//! The forms post to the same flow functions as `/api/v1/requests/{id}/copyright-clearance`
//! and `/api/v1/requests/{id}/fill-from-copy`.

use axum::Form;
use axum::extract::Path;
use axum::extract::rejection::FormRejection;
use axum::response::Response;
use domain::copyright::Clearance;
use domain::money::{Currency, Money};

use super::accounts::{Pairs, pairs, value};
use super::catalog::Msg;
use super::forms::{Block, Cell, FormView, Input, Opt, TableView};
use super::reader::{DetailQuery, detail_page, when};
use super::{Ctx, WebResult, percent_encode, see_other};
use crate::error::ApiError;
use crate::flow::copyright::{self as flow, ClearanceInput};

fn clearance_label(m: &Msg, c: &str) -> String {
    let zh = m.lang == "zh-CN";
    let (en, cn) = match Clearance::parse(c) {
        Some(Clearance::NotNeeded) => ("Within the guidelines", "在合理使用范围内"),
        Some(Clearance::Required) => (
            "Over the limit: clearance required before sending",
            "超出限额：发送前须进行版权审核",
        ),
        Some(Clearance::RoyaltyPaid) => ("Cleared: royalty paid", "已放行：已支付版税"),
        Some(Clearance::Permission) => (
            "Cleared: permission from the rights holder",
            "已放行：已获权利人授权",
        ),
        Some(Clearance::Override) => ("Cleared: staff override", "已放行：馆员说明理由后放行"),
        None => return c.to_owned(),
    };
    if zh { cn } else { en }.to_owned()
}

fn matched_label(m: &Msg, by: &str) -> String {
    let zh = m.lang == "zh-CN";
    let (en, cn) = match by {
        "doi" => ("same DOI", "DOI 相同"),
        "pmid" => ("same PMID", "PMID 相同"),
        "isbn" => ("same ISBN", "ISBN 相同"),
        "citation" => ("similar citation", "题录相似"),
        other => return other.to_owned(),
    };
    if zh { cn } else { en }.to_owned()
}

fn clearance_form(m: &'static Msg, id: &str, p: &Pairs) -> FormView {
    let method = value(p, "method");
    let currency = match value(p, "currency") {
        c if c.is_empty() => "CNY".to_owned(),
        c => c,
    };
    let methods = [
        ("royalty_paid", m.clear_royalty),
        ("permission", m.clear_permission),
        ("override", m.clear_override),
    ]
    .into_iter()
    .map(|(v, l)| Opt::new(v, l, method == v))
    .collect();
    FormView::post(
        "clearance",
        &format!("/requests/{}/clearance", percent_encode(id)),
        m.clear_submit,
    )
    .heading(m.clearance_heading)
    .input(Input::new("method", m.f_method, "select", "").options(methods))
    .input(
        Input::new("note", m.f_clear_note, "textarea", &value(p, "note")).hint(m.hint_clear_note),
    )
    .input(Input::text("royalty", m.f_royalty, &value(p, "royalty")).hint(m.hint_royalty))
    .input(Input::text("currency", m.f_currency, &currency))
}

/// The review blocks of a borrowing request for staff; `review` is a clearance form sent back
/// with its refusal.
pub async fn blocks(
    ctx: &Ctx,
    req: &store::BorrowRequest,
    review: Option<(Pairs, ApiError)>,
) -> WebResult<Vec<Block>> {
    let m = ctx.m;
    let st = &ctx.st;
    let mut out = Vec::new();
    if let Some(u) = st.store.copyright_use(&req.request_id).await? {
        out.push(Block::heading(m.copyright_heading));
        let mut facts = vec![
            (m.f_source_title.to_owned(), u.journal_title.clone()),
            (m.earlier_copies.to_owned(), u.earlier.to_string()),
            (
                m.copyright_standing.to_owned(),
                clearance_label(m, &u.clearance),
            ),
        ];
        if let Some(issn) = &u.issn {
            facts.insert(1, (m.f_issn.to_owned(), issn.clone()));
        }
        if let Some(y) = u.pub_year {
            facts.insert(1, (m.f_year.to_owned(), y.to_string()));
        }
        if let Some(n) = &u.clearance_note {
            facts.push((m.f_clear_note.to_owned(), n.clone()));
        }
        if let (Some(r), Some(c)) = (u.royalty_minor, &u.royalty_currency)
            && let Ok(cur) = Currency::parse(c)
        {
            facts.push((
                m.f_royalty.to_owned(),
                format!("{} {}", Money::new(r, cur).to_decimal_string(), c),
            ));
        }
        out.push(Block::facts(facts));
        if Clearance::parse(&u.clearance) == Some(Clearance::Required) {
            let (typed, refusal) = match review {
                Some((p, e)) => (p, Some(e)),
                None => (Vec::new(), None),
            };
            let mut form = clearance_form(m, &req.request_id, &typed);
            if let Some(e) = refusal {
                // The flow names the royalty in minor units; the form takes it as an amount.
                let e = match e {
                    ApiError::Invalid(mut fields) => {
                        for f in &mut fields {
                            if f.field == "royalty_minor" {
                                f.field = "royalty";
                            }
                        }
                        ApiError::Invalid(fields)
                    }
                    other => other,
                };
                form.refusal(m, e)?;
            }
            out.push(Block::text(m.clearance_intro));
            out.push(Block::form(form));
        }
    }
    if let Some(d) = st.store.duplicate_of(&req.request_id).await? {
        out.push(Block::heading(m.duplicate_heading));
        out.push(Block::table(TableView {
            caption: None,
            headers: vec![
                m.earlier_request.to_owned(),
                m.matched_by.to_owned(),
                m.match_score.to_owned(),
            ],
            rows: vec![vec![
                Cell::link(
                    d.earlier_request_id.clone(),
                    format!("/requests/{}", percent_encode(&d.earlier_request_id)),
                ),
                Cell::text(matched_label(m, &d.matched_by)),
                Cell::text(format!("{} %", d.score_percent)),
            ]],
            empty: String::new(),
        }));
        if flow::can_fill_from_copy(st, req).await {
            out.push(Block::form(
                FormView::post(
                    "fill",
                    &format!(
                        "/requests/{}/fill-from-copy",
                        percent_encode(&req.request_id)
                    ),
                    m.fill_from_copy,
                )
                .intro(m.fill_intro),
            ));
        } else {
            out.push(Block::text(m.no_copy_to_fill));
        }
    }
    let fees = st.store.fees_of_borrow_request(&req.request_id).await?;
    if !fees.is_empty() {
        out.push(Block::heading(m.fees_heading));
        let rows = fees
            .into_iter()
            .map(|f| {
                let amount = Currency::parse(&f.currency).map_or_else(
                    |_| format!("{} {}", f.amount_minor, f.currency),
                    |c| {
                        format!(
                            "{} {}",
                            Money::new(f.amount_minor, c).to_decimal_string(),
                            f.currency
                        )
                    },
                );
                vec![
                    Cell::text(f.lender_id),
                    Cell::text(if f.service == "copy" {
                        m.service_copy
                    } else {
                        m.service_loan
                    }),
                    Cell::text(amount),
                    Cell::text(f.basis),
                    Cell::text(when(f.occurred_at)),
                    Cell::text(f.month),
                ]
            })
            .collect();
        out.push(Block::table(TableView {
            caption: None,
            headers: vec![
                m.col_lender.to_owned(),
                m.col_service.to_owned(),
                m.col_amount.to_owned(),
                m.col_basis.to_owned(),
                m.col_when.to_owned(),
                m.col_month.to_owned(),
            ],
            rows,
            empty: String::new(),
        }));
    }
    out.extend(reader_charge_blocks(st, m, req).await?);
    Ok(out)
}

/// What the reader pays for the request and who pays it, and the review flag of a deposit
/// that will not cover the expected charge, with the reader's balance now.
pub(crate) async fn reader_charge_blocks(
    st: &crate::AppState,
    m: &'static Msg,
    req: &store::BorrowRequest,
) -> Result<Vec<Block>, ApiError> {
    let mut out = Vec::new();
    let review = st.store.charge_review(&req.request_id).await?;
    let charge = st.store.reader_charge(&req.request_id).await?;
    if review.is_none() && charge.is_none() {
        return Ok(out);
    }
    out.push(Block::heading(m.pick("The reader's charge", "读者费用")));
    if let Some(r) = review {
        let r = crate::api::reader_fees::review_view(r)?;
        out.push(Block::text(if m.is_zh() {
            r.message_zh
        } else {
            r.message
        }));
        let now: Vec<String> = st
            .store
            .deposit_balances(&req.patron_id)
            .await?
            .into_iter()
            .map(|b| {
                Currency::parse(&b.currency).map_or_else(
                    |_| format!("{} {}", b.balance_minor, b.currency),
                    |c| Money::new(b.balance_minor, c).to_string(),
                )
            })
            .collect();
        let now = if now.is_empty() {
            m.pick("no deposit", "无预存款").to_owned()
        } else {
            now.join(", ")
        };
        out.push(Block::facts(vec![(
            m.pick("Deposit balance now", "当前预存款余额").to_owned(),
            now,
        )]));
    }
    if let Some(c) = charge {
        let c = crate::api::reader_fees::charge_view(c)?;
        let zh = m.is_zh();
        let mut facts = vec![
            (
                m.pick("Charged to the reader", "向读者收取").to_owned(),
                format!("{} {}", c.amount.text, c.amount.currency),
            ),
            (
                m.pick("Paid by", "支付方式").to_owned(),
                if zh { c.payer_text_zh } else { c.payer_text },
            ),
            (
                m.col_basis.to_owned(),
                if zh { c.basis_zh } else { c.basis },
            ),
        ];
        if let (Some(en), Some(zh_text)) = (c.refunded_text, c.refunded_text_zh) {
            facts.push((
                m.pick("Refunded", "已退还").to_owned(),
                if zh { zh_text } else { en },
            ));
        }
        out.push(Block::facts(facts));
    }
    Ok(out)
}

/// The royalty typed as an amount (`15.00`) in the currency typed, in minor units.
fn royalty(p: &Pairs) -> Result<(Option<i64>, Option<String>), ApiError> {
    let (amount, currency) = (value(p, "royalty"), value(p, "currency"));
    if amount.is_empty() {
        return Ok((None, None));
    }
    let cur = Currency::parse(&currency).map_err(|e| {
        ApiError::Invalid(vec![domain::citation::FieldError::new(
            "currency",
            e.code(),
            e.to_string(),
        )])
    })?;
    let money = Money::parse_decimal(&amount, cur).map_err(|e| {
        ApiError::Invalid(vec![domain::citation::FieldError::new(
            "royalty",
            "invalid_amount",
            format!("{amount:?} is not an amount such as 15.00: {e}"),
        )])
    })?;
    Ok((Some(money.minor), Some(money.currency.as_str().to_owned())))
}

/// `POST /requests/{id}/clearance`: clear copyright through the API's flow; a refusal comes
/// back on the request's page next to the field.
#[tracing::instrument(skip_all, fields(request = %id))]
pub async fn clear(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<Pairs>, FormRejection>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        let p = pairs(form)?;
        let result = match royalty(&p) {
            Ok((royalty_minor, currency)) => {
                let input = ClearanceInput {
                    method: value(&p, "method"),
                    note: Some(value(&p, "note")),
                    royalty_minor,
                    currency,
                };
                flow::clear(&ctx.st, user, &id, input).await.map(|_| ())
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => Ok(see_other(&format!(
                "/requests/{}?done=clearance",
                percent_encode(&id)
            ))),
            Err(e @ ApiError::Invalid(_)) => {
                detail_page(&ctx, &id, &DetailQuery::default(), Some((p, e))).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    ctx.finish(r)
}

/// `POST /requests/{id}/fill-from-copy`: the reader gets their own link to the copy already
/// delivered for the earlier request.
#[tracing::instrument(skip_all, fields(request = %id))]
pub async fn fill(ctx: Ctx, Path(id): Path<String>) -> Response {
    let r = async {
        let user = ctx.user()?;
        flow::fill_from_copy(&ctx.st, user, &id).await?;
        Ok(see_other(&format!(
            "/requests/{}?done=fill_from_copy",
            percent_encode(&id)
        )))
    }
    .await;
    ctx.finish(r)
}
