//! What a reader pays for a request, decided by the library's reader fee policy: checked when
//! the request is placed (a deposit that will not cover the expected charge flags the request
//! for staff, it is not refused) and recorded when the lender ships, with who paid it (the
//! library's subsidy, the reader's deposit or an invoice to the reader). The flag is looked at
//! again whenever the deposit, the subsidy used or the policy changes. Each writes in the
//! transaction of the step that causes it, with an event.

use domain::citation::RequestFormat;
use domain::library::Service;
use domain::money::{Currency, Money};
use domain::people::PatronType;
use domain::reader_fees::{Payer, ReaderCharge, ReaderFeePolicy, payer};
use domain::requester::BorrowState;
use store::{
    BorrowRequest, ChargeReviewRow, FeeStanding, NewBorrowRequest, NewDepositMovement, NewEvent,
    ReaderChargeRow, Tx,
};
use time::OffsetDateTime;

use super::FlowError;

/// The reader's type, if the account has one.
async fn patron_type(tx: &mut Tx<'_>, patron_id: &str) -> Result<Option<PatronType>, FlowError> {
    Ok(tx
        .user_by_id(patron_id)
        .await?
        .and_then(|u| u.patron_type)
        .as_deref()
        .and_then(PatronType::parse))
}

fn service_of(format: &str) -> Result<Service, FlowError> {
    RequestFormat::parse(format)
        .map(Service::for_format)
        .ok_or_else(|| FlowError::Internal(format!("format {format}")))
}

/// What lenders charged the library for this request, in one currency; else the fee the
/// current lender listed when the request was routed (a lender on another node records its
/// charge there, not here).
/// The year it is at `library_id`: subsidies and charges count by the library's own year,
/// which starts at its midnight on 1 January, not UTC's.
async fn local_year(
    tx: &mut Tx<'_>,
    library_id: &str,
    now: time::OffsetDateTime,
) -> Result<i32, FlowError> {
    Ok(tx.library(library_id).await?.offset().date(now).year())
}

async fn lender_charge(tx: &mut Tx<'_>, req: &BorrowRequest) -> Result<Option<Money>, FlowError> {
    let rows = tx
        .lender_charges_of_borrow_request(&req.request_id, &req.library_id)
        .await?;
    if let [(currency, minor)] = rows.as_slice() {
        let currency = Currency::parse(currency)
            .map_err(|e| FlowError::Internal(format!("stored fee currency: {e}")))?;
        return Ok(Some(Money::new(*minor, currency)));
    }
    if rows.len() > 1 {
        // Charges in several currencies have no one sum: staff settle this by hand.
        return Ok(None);
    }
    Ok(req
        .rota
        .0
        .entries
        .iter()
        .find(|e| Some(e.library.as_str()) == req.lender_id.as_deref())
        .and_then(|e| e.fee.clone()))
}

/// Whether the subsidy, the deposit or an invoice pays `charge` for this reader now, with the
/// deposit balance in the charge's currency.
async fn who_pays(
    tx: &mut Tx<'_>,
    policy: &ReaderFeePolicy,
    patron_id: &str,
    service: Service,
    charge: &Money,
    year: i32,
) -> Result<(Payer, i64), FlowError> {
    let quota = policy.quota(patron_type(tx, patron_id).await?, service);
    let used = tx
        .subsidy_used(patron_id, i64::from(year), service.as_str())
        .await?;
    let balance = tx
        .deposit_balance(patron_id, charge.currency.as_str())
        .await?;
    let used = u32::try_from(used).unwrap_or(u32::MAX);
    Ok((payer(charge.minor, quota, used, Some(balance)), balance))
}

/// The charge the reader is expected to pay when neither the subsidy nor the deposit covers it,
/// with the deposit balance in its currency; `None` when it is covered or nothing is due.
async fn shortfall(
    tx: &mut Tx<'_>,
    policy: &ReaderFeePolicy,
    patron_id: &str,
    format: &str,
    listed: Option<&Money>,
    year: i32,
) -> Result<Option<(ReaderCharge, i64)>, FlowError> {
    let service = service_of(format)?;
    let Some(expected) = policy.reader_charge(service, listed) else {
        return Ok(None);
    };
    let (who, balance) = who_pays(tx, policy, patron_id, service, &expected.money, year).await?;
    Ok((who == Payer::Invoice).then_some((expected, balance)))
}

/// Flag a request for staff (or update the flag's figures) and, when it was not flagged yet,
/// say so in its history.
#[allow(clippy::too_many_arguments)]
async fn flag_short(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    library_id: &str,
    request_id: &str,
    state: &str,
    expected: &ReaderCharge,
    balance: i64,
    already: bool,
) -> Result<(), FlowError> {
    tx.insert_charge_review(&ChargeReviewRow {
        borrow_request_id: request_id.to_owned(),
        library_id: library_id.to_owned(),
        expected_minor: expected.money.minor,
        currency: expected.money.currency.as_str().to_owned(),
        balance_minor: balance,
        created_at: now,
    })
    .await?;
    if already {
        return Ok(());
    }
    let shown = Money::new(balance, expected.money.currency.clone());
    let note = format!(
        "The reader's deposit ({shown}) does not cover the expected charge of {} ({})",
        expected.money, expected.basis
    );
    let note_zh = format!(
        "读者押金（{shown}）不足以支付预计费用 {}（{}）",
        expected.money, expected.basis_zh
    );
    tx.insert_event(
        &NewEvent {
            library_id,
            side: "borrow",
            request_id,
            actor_id: None,
            actor: "system",
            action: "deposit_short",
            from_state: None,
            to_state: state,
            note: Some(&note),
            message_id: None,
            data: Some(serde_json::json!({
                "expected": expected.money,
                "balance": shown,
                "basis": expected.basis,
                "basis_zh": expected.basis_zh,
                "note_zh": note_zh,
            })),
        },
        now,
    )
    .await?;
    Ok(())
}

/// At a new request: when the reader will be charged and neither a subsidy nor the deposit
/// covers the expected charge, flag the request for staff and say so in its history.
pub async fn check_new_request(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &NewBorrowRequest,
) -> Result<(), FlowError> {
    let Some(policy) = tx.reader_fee_policy(&req.library_id).await? else {
        return Ok(());
    };
    let listed = req.rota.entries.first().and_then(|e| e.fee.clone());
    let year = local_year(tx, &req.library_id, now).await?;
    let short = shortfall(
        tx,
        &policy,
        &req.patron_id,
        &req.format,
        listed.as_ref(),
        year,
    )
    .await?;
    if let Some((expected, balance)) = short {
        flag_short(
            tx,
            now,
            &req.library_id,
            &req.request_id,
            &req.state,
            &expected,
            balance,
            false,
        )
        .await?;
    }
    Ok(())
}

/// Look again at the review flag of requests not yet charged, after what pays for them
/// changed: the reader's deposit (a top-up, a refund, a charge taken from it), the subsidy used
/// (a charge the library paid), or the library's policy (every reader's, without `patron_id`).
/// A request the deposit or subsidy no longer covers is flagged (`deposit_short`); a flagged
/// one that is covered now, or no longer charged, is cleared (`deposit_covered`). Each in the
/// transaction of the change, with an event.
///
/// In one pass: the open requests and what pays for them (readers' types, subsidies used,
/// balances, flags) are read in a fixed number of statements, the flags worked out here, and
/// only the flags that change are written (a policy saved for a library with thousands of
/// open requests read each one's reader, subsidy, balance and flag in turn).
pub async fn review_open_requests(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    library_id: &str,
    patron_id: Option<&str>,
) -> Result<(), FlowError> {
    let states: Vec<&str> = BorrowState::ALL
        .iter()
        .filter(|s| s.is_before_shipment())
        .map(|s| s.as_str())
        .collect();
    let requests = tx
        .uncharged_requests(library_id, patron_id, &states)
        .await?;
    if requests.is_empty() {
        return Ok(());
    }
    let policy = tx.reader_fee_policy(library_id).await?;
    let year = local_year(tx, library_id, now).await?;
    let standing = tx
        .fee_standing(library_id, patron_id, &states, i64::from(year))
        .await?;
    for req in requests {
        let flag = standing.reviews.get(&req.request_id);
        let short = match &policy {
            Some(policy) => {
                // The fee of the lender it is with, else of the first it will be sent to.
                let entries = &req.rota.0.entries;
                let listed = entries
                    .iter()
                    .find(|e| Some(e.library.as_str()) == req.lender_id.as_deref())
                    .or_else(|| entries.first())
                    .and_then(|e| e.fee.clone());
                shortfall_in(
                    &standing,
                    policy,
                    &req.patron_id,
                    &req.format,
                    listed.as_ref(),
                )?
            }
            None => None,
        };
        match (short, flag) {
            (Some((expected, balance)), flag) => {
                let unchanged = flag.is_some_and(|f| {
                    f.expected_minor == expected.money.minor
                        && f.currency == expected.money.currency.as_str()
                        && f.balance_minor == balance
                });
                if !unchanged {
                    flag_short(
                        tx,
                        now,
                        &req.library_id,
                        &req.request_id,
                        &req.state,
                        &expected,
                        balance,
                        flag.is_some(),
                    )
                    .await?;
                }
            }
            (None, Some(_)) => {
                tx.clear_charge_review(&req.request_id).await?;
                tx.insert_event(
                    &NewEvent {
                        library_id: &req.library_id,
                        side: "borrow",
                        request_id: &req.request_id,
                        actor_id: None,
                        actor: "system",
                        action: "deposit_covered",
                        from_state: None,
                        to_state: &req.state,
                        note: Some(
                            "The reader's subsidy or deposit now covers the expected charge (or none is due): no review needed",
                        ),
                        message_id: None,
                        data: Some(serde_json::json!({
                            "note_zh": "读者的补贴或押金现已足以支付预计费用（或无需付费）：无需复核",
                        })),
                    },
                    now,
                )
                .await?;
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// `shortfall` from figures read beforehand (`Tx::fee_standing`).
fn shortfall_in(
    standing: &FeeStanding,
    policy: &ReaderFeePolicy,
    patron_id: &str,
    format: &str,
    listed: Option<&Money>,
) -> Result<Option<(ReaderCharge, i64)>, FlowError> {
    let service = service_of(format)?;
    let Some(expected) = policy.reader_charge(service, listed) else {
        return Ok(None);
    };
    let patron_type = standing
        .patron_types
        .get(patron_id)
        .and_then(|t| t.as_deref())
        .and_then(PatronType::parse);
    let quota = policy.quota(patron_type, service);
    let used = standing
        .subsidy_used
        .get(&(patron_id.to_owned(), service.as_str().to_owned()))
        .copied()
        .unwrap_or(0);
    let balance = standing
        .balances
        .get(&(
            patron_id.to_owned(),
            expected.money.currency.as_str().to_owned(),
        ))
        .copied()
        .unwrap_or(0);
    let used = u32::try_from(used).unwrap_or(u32::MAX);
    let who = payer(expected.money.minor, quota, used, Some(balance));
    Ok((who == Payer::Invoice).then_some((expected, balance)))
}

/// When a request moves from `from` to `to` and so ends without the reader getting the item
/// (see `domain::reader_fees::charge_refunded_on`): the reader's charge is given back, once,
/// in the transaction of that step. A deposit gets the money back (a `charge_refund`
/// movement); a subsidy charge no longer counts against the year's subsidy; an invoiced
/// charge is no longer owed. Said in the history (`reader_charge_refunded`).
pub async fn refund_if_not_received(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &BorrowRequest,
    from: BorrowState,
    to: BorrowState,
) -> Result<(), FlowError> {
    if !domain::reader_fees::charge_refunded_on(from, to) {
        return Ok(());
    }
    let Some(charge) = tx.refund_reader_charge(&req.request_id, now).await? else {
        return Ok(());
    };
    let currency = Currency::parse(&charge.currency)
        .map_err(|e| FlowError::Internal(format!("stored charge currency: {e}")))?;
    let money = Money::new(charge.amount_minor, currency);
    let who = Payer::parse(&charge.payer)
        .ok_or_else(|| FlowError::Internal(format!("stored charge payer {}", charge.payer)))?;
    let mut deposit_after = None;
    if who == Payer::Deposit {
        let reason = format!(
            "refund of the charge for request {}: the reader did not get the item",
            req.request_id
        );
        let reason_zh = format!("退还请求 {} 的费用：读者未收到所借资料", req.request_id);
        let moved = tx
            .move_deposit(
                &NewDepositMovement {
                    library_id: &req.library_id,
                    patron_id: &charge.patron_id,
                    currency: money.currency.as_str(),
                    amount_minor: money.minor,
                    kind: "charge_refund",
                    borrow_request_id: Some(&req.request_id),
                    reason: &reason,
                    reason_zh: Some(&reason_zh),
                    actor_id: None,
                },
                now,
            )
            .await?;
        deposit_after = moved.map(|m| m.balance_minor);
    }
    let (how_en, how_zh) = match who {
        Payer::Deposit => ("credited to the reader's deposit", "已退回读者预存款"),
        Payer::Subsidy => (
            "the library's subsidy is given back to the reader",
            "已恢复读者的图书馆补贴额度",
        ),
        Payer::Invoice => ("the reader no longer owes it", "读者无需再支付"),
    };
    let note = format!(
        "Reader charge refunded: {money} ({}), {how_en}; the reader did not get the item",
        charge.basis
    );
    let note_zh = format!(
        "已退还读者费用：{money}（{}），{how_zh}；读者未收到所借资料",
        charge.basis_zh
    );
    tx.insert_event(
        &NewEvent {
            library_id: &req.library_id,
            side: "borrow",
            request_id: &req.request_id,
            actor_id: None,
            actor: "system",
            action: "reader_charge_refunded",
            from_state: Some(to.as_str()),
            to_state: to.as_str(),
            note: Some(&note),
            message_id: None,
            data: Some(serde_json::json!({
                "amount": money,
                "payer": who.as_str(),
                "deposit_balance": deposit_after,
                "note_zh": note_zh,
                "lender": req.lender_id,
            })),
        },
        now,
    )
    .await?;
    // The money or the subsidy given back may cover the reader's other requests now.
    if who != Payer::Invoice {
        review_open_requests(tx, now, &req.library_id, Some(&charge.patron_id)).await?;
    }
    Ok(())
}

/// When the lender has shipped: record what the reader is charged and who pays it (taking it
/// from the deposit when the deposit pays), once per request, with an event.
pub async fn charge_on_shipment(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &BorrowRequest,
) -> Result<(), FlowError> {
    let Some(policy) = tx.reader_fee_policy(&req.library_id).await? else {
        return Ok(());
    };
    if tx.reader_charge_exists(&req.request_id).await? {
        return Ok(());
    }
    let service = service_of(&req.format)?;
    let lent = lender_charge(tx, req).await?;
    let Some(ReaderCharge {
        money,
        basis,
        basis_zh,
    }) = policy.reader_charge(service, lent.as_ref())
    else {
        tx.clear_charge_review(&req.request_id).await?;
        return Ok(());
    };
    let year = local_year(tx, &req.library_id, now).await?;
    let (mut who, _) = who_pays(tx, &policy, &req.patron_id, service, &money, year).await?;
    let mut deposit_after = None;
    if who == Payer::Deposit {
        let reason = format!("charge for request {}: {basis}", req.request_id);
        let reason_zh = format!("请求 {} 的费用：{basis_zh}", req.request_id);
        match tx
            .move_deposit(
                &NewDepositMovement {
                    library_id: &req.library_id,
                    patron_id: &req.patron_id,
                    currency: money.currency.as_str(),
                    amount_minor: -money.minor,
                    kind: "charge",
                    borrow_request_id: Some(&req.request_id),
                    reason: &reason,
                    reason_zh: Some(&reason_zh),
                    actor_id: None,
                },
                now,
            )
            .await?
        {
            Some(m) => deposit_after = Some(m.balance_minor),
            // Spent in between by another charge: the reader is invoiced instead.
            None => who = Payer::Invoice,
        }
    }
    tx.insert_reader_charge(&ReaderChargeRow {
        borrow_request_id: req.request_id.clone(),
        library_id: req.library_id.clone(),
        patron_id: req.patron_id.clone(),
        service: service.as_str().to_owned(),
        amount_minor: money.minor,
        currency: money.currency.as_str().to_owned(),
        payer: who.as_str().to_owned(),
        basis: basis.clone(),
        basis_zh: basis_zh.clone(),
        year: i64::from(year),
        created_at: now,
        refunded_at: None,
    })
    .await?;
    tx.clear_charge_review(&req.request_id).await?;
    let (en, _) = who.words();
    let note = format!("The reader is charged {money} ({basis}), {en}");
    tx.insert_event(
        &NewEvent {
            library_id: &req.library_id,
            side: "borrow",
            request_id: &req.request_id,
            actor_id: None,
            actor: "system",
            action: "reader_charged",
            from_state: Some(&req.state),
            to_state: &req.state,
            note: Some(&note),
            message_id: None,
            data: Some(serde_json::json!({
                "amount": money,
                "payer": who.as_str(),
                "basis": basis,
                "basis_zh": basis_zh,
                "deposit_balance": deposit_after,
                // Routing reads the lender after each step from here.
                "lender": req.lender_id,
            })),
        },
        now,
    )
    .await?;
    // The deposit or the subsidy this charge used may no longer cover the reader's other
    // requests.
    if who != Payer::Invoice {
        review_open_requests(tx, now, &req.library_id, Some(&req.patron_id)).await?;
    }
    Ok(())
}
