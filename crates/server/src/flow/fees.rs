//! The charge for a shipment: recorded by the lender's shipping transaction, from the lender's
//! fee schedule, so that shipment, event, message and charge commit together or not at all.

use domain::citation::RequestFormat;
use domain::fees::{Charge, page_count};
use domain::library::Service;
use store::{LendRequest, NewFee, Tx};
use time::OffsetDateTime;

use super::FlowError;

/// Record what shipping `req` costs its borrower, when the lender has a schedule and the
/// borrower is a library known here. Returns the charge's note for the event, if any.
pub async fn charge_shipment(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    req: &LendRequest,
    express: bool,
) -> Result<Option<serde_json::Value>, FlowError> {
    let Some(borrower) = req.borrower_id.clone() else {
        return Ok(None);
    };
    let Some(schedule) = tx.fee_schedule(&req.library_id).await? else {
        return Ok(None);
    };
    let format = RequestFormat::parse(&req.format)
        .ok_or_else(|| FlowError::Internal(format!("format {}", req.format)))?;
    let service = Service::for_format(format);
    let pages = page_count(req.citation.0.pages.as_deref());
    let charge = schedule
        .charge(&borrower, service, pages, express)
        .map_err(|e| {
            FlowError::bad(
                format!("the fee for this shipment: {e}"),
                format!("无法按收费标准计算本次发货的费用：{e}"),
            )
        })?;
    let (money, basis) = match charge {
        Charge::Reciprocal(group) => {
            return Ok(Some(serde_json::json!({"reciprocal": group})));
        }
        Charge::Amount { money, basis } if money.minor > 0 => (money, basis),
        Charge::Amount { .. } => return Ok(None),
    };
    let row = tx
        .record_fee(&NewFee {
            lender_id: req.library_id.clone(),
            borrower_id: borrower,
            lend_request_id: req.request_id.clone(),
            borrow_request_id: super::borrow::parse_wire_id(&req.borrower_request_id)
                .0
                .to_owned(),
            service: service.as_str().to_owned(),
            amount_minor: money.minor,
            currency: money.currency.as_str().to_owned(),
            basis,
            occurred_at: now,
        })
        .await?;
    Ok(Some(serde_json::json!({
        "fee": {"minor": row.amount_minor, "currency": row.currency, "month": row.month, "kind": row.kind}
    })))
}
