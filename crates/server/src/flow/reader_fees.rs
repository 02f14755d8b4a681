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
    BorrowRequest, ChargeReviewRow, NewBorrowRequest, NewDepositMovement, NewEvent,
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
    let short = shortfall(
        tx,
        &policy,
        &req.patron_id,
        &req.format,
        listed.as_ref(),
        now.year(),
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
    let policy = tx.reader_fee_policy(library_id).await?;
    for req in tx
        .uncharged_requests(library_id, patron_id, &states)
        .await?
    {
        let flagged = tx.charge_review_exists(&req.request_id).await?;
        let short = match &policy {
            Some(policy) => {
                // The fee of the lender it is with, else of the first it will be sent to.
                let entries = &req.rota.0.entries;
                let listed = entries
                    .iter()
                    .find(|e| Some(e.library.as_str()) == req.lender_id.as_deref())
                    .or_else(|| entries.first())
                    .and_then(|e| e.fee.clone());
                shortfall(
                    tx,
                    policy,
                    &req.patron_id,
                    &req.format,
                    listed.as_ref(),
                    now.year(),
                )
                .await?
            }
            None => None,
        };
        match short {
            Some((expected, balance)) => {
                flag_short(
                    tx,
                    now,
                    &req.library_id,
                    &req.request_id,
                    &req.state,
                    &expected,
                    balance,
                    flagged,
                )
                .await?;
            }
            None if flagged => {
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
            None => {}
        }
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
    let (mut who, _) = who_pays(tx, &policy, &req.patron_id, service, &money, now.year()).await?;
    let mut deposit_after = None;
    if who == Payer::Deposit {
        let reason = format!("charge for request {}: {basis}", req.request_id);
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
        year: i64::from(now.year()),
        created_at: now,
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
