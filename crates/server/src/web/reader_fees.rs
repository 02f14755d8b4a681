//! The admin page of what readers pay: the reader fee policy (per service the lender's charge,
//! a flat fee or nothing; subsidies by reader type, one per line), readers' deposits with a
//! top-up / refund form, and each deposit's balance. Saved through the functions of
//! `/api/v1/libraries/{code}/reader-fees` and `/api/v1/readers/{id}/deposit`; a refusal is
//! shown next to the field it names.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use domain::money::{Currency, Money};
use domain::reader_fees::{
    Charging, DepositInput, ReaderFeePolicy, ReaderFeePolicyInput, ServiceChargeInput, SubsidyInput,
};

use super::accounts::{DoneQuery, Pairs, admin, pairs, patron_type_label, value};
use super::catalog::Msg;
use super::forms::{AdminPage, Block, Cell, FormView, Input, Opt, TableView};
use super::{Ctx, QueryIn, WebResult, query, see_other};

const PATH: &str = "/admin/reader-fees";

fn at_line(m: &Msg, n: usize) -> String {
    if m.is_zh() {
        format!("第 {n} 行")
    } else {
        format!("Line {n}")
    }
}

/// The policy as the form shows it.
fn policy_values(p: Option<&ReaderFeePolicy>) -> Pairs {
    let Some(p) = p else {
        return vec![
            ("currency".to_owned(), "CNY".to_owned()),
            ("loan.mode".to_owned(), "none".to_owned()),
            ("copy.mode".to_owned(), "none".to_owned()),
        ];
    };
    let amount = |minor: i64| {
        if minor == 0 {
            String::new()
        } else {
            Money::new(minor, p.currency.clone()).to_decimal_string()
        }
    };
    vec![
        ("currency".to_owned(), p.currency.as_str().to_owned()),
        ("loan.mode".to_owned(), p.loan.mode.as_str().to_owned()),
        ("loan.flat".to_owned(), amount(p.loan.flat)),
        ("copy.mode".to_owned(), p.copy.mode.as_str().to_owned()),
        ("copy.flat".to_owned(), amount(p.copy.flat)),
        (
            "subsidies".to_owned(),
            p.subsidies
                .iter()
                .map(|s| format!("{} | {} | {}", s.patron_type, s.loans, s.copies))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ]
}

fn mode_options(m: &Msg, chosen: &str) -> Vec<Opt> {
    [
        (
            Charging::None,
            m.pick("Nothing: the library pays", "不收费：由图书馆支付"),
        ),
        (
            Charging::Lender,
            m.pick("The lender's charge, passed on", "按出借馆收费转收"),
        ),
        (Charging::Flat, m.pick("A flat reader fee", "读者固定费用")),
    ]
    .into_iter()
    .map(|(c, label)| Opt::new(c.as_str(), label, c.as_str() == chosen))
    .collect()
}

fn policy_form(m: &'static Msg, p: &Pairs) -> FormView {
    let v = |k: &str| value(p, k);
    let amount_hint = m.pick(
        "For a flat fee: the amount, e.g. 5.00",
        "选择固定费用时填写金额，例如 5.00",
    );
    FormView::post("policy", PATH, m.save)
        .heading(m.pick("Charges and subsidies", "收费与补贴"))
        .intro(m.pick(
            "What a reader is charged when the lender ships, and what the library pays for each reader type in a calendar year. Beyond the subsidy, the charge comes from the reader's deposit when it covers it, else it is invoiced to the reader; a request whose expected charge the deposit does not cover is flagged for staff.",
            "出借馆发货时向读者收取的费用，以及每个日历年图书馆为各类读者承担的数量。超出补贴的部分，预存款足够时从预存款中扣除，否则向读者开具账单；预存款不足以支付预计费用的请求会提示馆员审核。",
        ))
        .input(
            Input::text("currency", m.f_currency, &v("currency"))
                .hint(m.hint_currency)
                .required(),
        )
        .input(
            Input::new(
                "loan.mode",
                m.pick("Loans: the reader pays", "借书：读者支付"),
                "select",
                "",
            )
            .options(mode_options(m, &v("loan.mode"))),
        )
        .input(
            Input::text(
                "loan.flat",
                m.pick("Flat fee for a loan", "借书固定费用"),
                &v("loan.flat"),
            )
            .hint(amount_hint),
        )
        .input(
            Input::new(
                "copy.mode",
                m.pick("Copies: the reader pays", "复制：读者支付"),
                "select",
                "",
            )
            .options(mode_options(m, &v("copy.mode"))),
        )
        .input(
            Input::text(
                "copy.flat",
                m.pick("Flat fee for a copy", "复制固定费用"),
                &v("copy.flat"),
            )
            .hint(amount_hint),
        )
        .input(
            Input::new(
                "subsidies",
                m.pick("Subsidies per calendar year", "每年补贴"),
                "textarea",
                &v("subsidies"),
            )
            .hint(m.pick(
                "One per line: reader type | loans | copies, e.g. phd | 10 | 20 (types: faculty, phd, master, undergraduate, staff, external)",
                "每行一条：读者类型 | 借书册数 | 复制篇数，例如 phd | 10 | 20（类型：faculty、phd、master、undergraduate、staff、external）",
            )),
        )
}

fn deposit_form(m: &'static Msg, p: &Pairs) -> FormView {
    let v = |k: &str| value(p, k);
    FormView::post(
        "deposit",
        "/admin/reader-fees/deposits",
        m.pick("Record", "登记"),
    )
    .heading(m.pick("Top up or refund a deposit", "预存款充值或退款"))
    .input(
        Input::text("reader", m.pick("Reader", "读者"), &v("reader"))
            .hint(m.pick("The reader's username", "读者的用户名"))
            .required(),
    )
    .input(
        Input::text("amount", m.pick("Amount", "金额"), &v("amount"))
            .hint(m.pick(
                "Positive to top up (e.g. 50.00), negative to pay back (e.g. -20.00)",
                "正数为充值（例如 50.00），负数为退款（例如 -20.00）",
            ))
            .required(),
    )
    .input(
        Input::text("currency", m.f_currency, &v("currency"))
            .hint(m.hint_currency)
            .required(),
    )
    .input(
        Input::new("reason", m.pick("Reason", "原因"), "textarea", &v("reason"))
            .hint(m.pick("Why, e.g. the receipt number", "原因，例如收据编号"))
            .required(),
    )
}

/// The typed policy: amounts in minor units of the typed currency, subsidies one per line.
/// What cannot be read is named by field (and line), in the page's language.
fn policy_input(m: &'static Msg, p: &Pairs) -> Result<ReaderFeePolicyInput, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let currency_text = value(p, "currency").trim().to_uppercase();
    // A bad currency is reported by the policy's own check; amounts are read in CNY's two
    // decimals meanwhile so that their errors show too.
    let currency = Currency::parse(&currency_text)
        .or_else(|_| Currency::parse("CNY"))
        .ok();
    let mut flat = |field: &str| -> i64 {
        let text = value(p, field);
        let text = text.trim();
        if text.is_empty() {
            return 0;
        }
        match currency
            .clone()
            .map(|c| Money::parse_decimal(text, c).map(|m| m.minor))
        {
            Some(Ok(v)) => v,
            _ => {
                errors.push((field.to_owned(), format!("{} {text}", m.err_not_amount)));
                0
            }
        }
    };
    let loan = ServiceChargeInput {
        mode: value(p, "loan.mode"),
        flat: flat("loan.flat"),
    };
    let copy = ServiceChargeInput {
        mode: value(p, "copy.mode"),
        flat: flat("copy.flat"),
    };
    let mut subsidies = Vec::new();
    for (n, line) in value(p, "subsidies")
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let number = |s: &str| s.parse::<i64>().ok();
        match parts.as_slice() {
            [t, loans, copies] if number(loans).is_some() && number(copies).is_some() => {
                subsidies.push(SubsidyInput {
                    patron_type: (*t).to_lowercase(),
                    loans: number(loans).unwrap_or_default(),
                    copies: number(copies).unwrap_or_default(),
                });
            }
            _ => errors.push((
                "subsidies".to_owned(),
                format!(
                    "{}: {}",
                    at_line(m, n + 1),
                    m.pick(
                        "write reader type | loans | copies, e.g. phd | 10 | 20",
                        "应写作 读者类型 | 借书册数 | 复制篇数，例如 phd | 10 | 20",
                    )
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(ReaderFeePolicyInput {
            currency: currency_text,
            loan,
            copy,
            subsidies,
        })
    } else {
        Err(errors)
    }
}

/// Every reader of the library with a deposit, and the balance.
async fn deposits_table(ctx: &Ctx, library: &str) -> WebResult<Block> {
    let m = ctx.m;
    let users = ctx.st.store.users(library).await?;
    let rows = ctx
        .st
        .store
        .library_deposits(library)
        .await?
        .into_iter()
        .map(|b| {
            let who = users.iter().find(|u| u.user_id == b.patron_id);
            let amount = Currency::parse(&b.currency).map_or_else(
                |_| format!("{} {}", b.balance_minor, b.currency),
                |c| Money::new(b.balance_minor, c).to_string(),
            );
            vec![
                Cell::text(who.map_or_else(|| b.patron_id.clone(), |u| u.username.clone())),
                Cell::text(who.map_or_else(String::new, |u| u.display_name.clone())),
                Cell::text(
                    who.and_then(|u| u.patron_type.as_deref())
                        .map_or_else(String::new, |t| patron_type_label(m, t)),
                ),
                Cell::text(amount),
            ]
        })
        .collect();
    Ok(Block::table(TableView {
        caption: Some(m.pick("Deposits", "预存款").to_owned()),
        headers: vec![
            m.pick("Reader", "读者").to_owned(),
            m.pick("Name", "姓名").to_owned(),
            m.pick("Reader type", "读者类型").to_owned(),
            m.pick("Balance", "余额").to_owned(),
        ],
        rows,
        empty: m
            .pick("No reader has a deposit yet.", "尚无读者预存款。")
            .to_owned(),
    }))
}

async fn page(
    ctx: &Ctx,
    policy: FormView,
    deposit: FormView,
    notice: Option<String>,
) -> WebResult<Response> {
    let m = ctx.m;
    let library = ctx.user()?.library_id.clone();
    let mut page = AdminPage::new(m, ctx.chrome(), m.pick("Reader charges", "读者收费"));
    page.links
        .push(("/admin".to_owned(), m.nav_admin.to_owned()));
    page.notice = notice;
    page.blocks.push(Block::form(policy));
    page.blocks.push(Block::form(deposit));
    page.blocks.push(deposits_table(ctx, &library).await?);
    let status = if page.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.respond(status, page))
}

fn deposit_defaults(currency: &str) -> Pairs {
    vec![("currency".to_owned(), currency.to_owned())]
}

async fn current(ctx: &Ctx) -> WebResult<(FormView, String)> {
    let a = admin(ctx)?;
    let (_, policy) = crate::api::reader_fees::policy_of(&ctx.st, a, &a.library_id).await?;
    let currency = policy
        .as_ref()
        .map_or_else(|| "CNY".to_owned(), |p| p.currency.as_str().to_owned());
    Ok((
        policy_form(ctx.m, &policy_values(policy.as_ref())),
        currency,
    ))
}

/// `GET /admin/reader-fees`
pub async fn show(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        admin(&ctx)?;
        let q = query(q)?;
        let (form, currency) = current(&ctx).await?;
        let notice = match q.done.as_deref() {
            Some("deposit") => Some(
                ctx.m
                    .pick("The deposit movement is recorded.", "预存款变动已登记。")
                    .to_owned(),
            ),
            Some(_) => Some(ctx.m.saved.to_owned()),
            None => None,
        };
        page(
            &ctx,
            form,
            deposit_form(ctx.m, &deposit_defaults(&currency)),
            notice,
        )
        .await
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/reader-fees`: saved through the API's function.
pub async fn save(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let mut form = policy_form(ctx.m, &p);
        match policy_input(ctx.m, &p) {
            Err(errors) => {
                for (field, e) in errors {
                    form.field_error(&field, e);
                }
            }
            Ok(input) => {
                match crate::api::reader_fees::save_policy(&ctx.st, a, &a.library_id, input).await {
                    Ok(_) => return Ok(see_other(&format!("{PATH}?done=saved"))),
                    Err(e) => form.refusal(ctx.m, e)?,
                }
            }
        }
        let currency = value(&p, "currency");
        page(
            &ctx,
            form,
            deposit_form(ctx.m, &deposit_defaults(&currency)),
            None,
        )
        .await
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/reader-fees/deposits`: recorded through the API's function; a reader who is
/// not one of the library's is said at the field.
pub async fn deposit_save(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let mut deposit = deposit_form(ctx.m, &p);
        let input = DepositInput {
            amount: value(&p, "amount"),
            currency: value(&p, "currency"),
            reason: value(&p, "reason"),
        };
        match crate::api::reader_fees::record_deposit(&ctx.st, a, &value(&p, "reader"), input).await
        {
            Ok(_) => return Ok(see_other(&format!("{PATH}?done=deposit"))),
            Err(crate::error::ApiError::NotFound(_)) => deposit.field_error(
                "reader",
                ctx.m
                    .pick(
                        "No reader of this library has this username",
                        "本馆没有使用此用户名的读者",
                    )
                    .to_owned(),
            ),
            Err(e) => deposit.refusal(ctx.m, e)?,
        }
        let (form, _) = current(&ctx).await?;
        page(&ctx, form, deposit, None).await
    }
    .await;
    ctx.finish(r)
}

#[cfg(test)]
mod tests {
    use domain::people::PatronType;

    use super::*;

    /// The subsidies hint lists the reader types by hand: it must keep up with `PatronType`.
    #[test]
    fn the_hint_names_every_reader_type() {
        let m = &super::super::catalog::EN;
        let form = policy_form(m, &Vec::new());
        let hint = form
            .inputs
            .iter()
            .find(|i| i.name == "subsidies")
            .and_then(|i| i.hint.clone())
            .unwrap_or_default();
        for t in PatronType::ALL {
            assert!(hint.contains(t.as_str()), "{t}");
        }
    }
}
