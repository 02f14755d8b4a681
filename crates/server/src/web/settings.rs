//! More admin pages: the library's fee schedule, statements and corrections, and its letters (edit, preview with sample
//! values, back to the default). Saved through the functions of `/api/v1/libraries/{code}/fees`
//! and `/api/v1/libraries/{code}/letters/…`; a refusal is shown next to the field it names,
//! with the line where the letter API gives one.

use axum::Form;
use axum::extract::Path;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use domain::fees::{FeeSchedule, FeeScheduleInput, PartnerGroup, Rates, ReciprocalGroup};
use domain::library::LibraryOffset;
use domain::money::{Currency, Money};

use super::accounts::{DoneQuery, Pairs, admin, pairs, value};
use super::catalog::Msg;
use super::forms::{AdminPage, Block, Cell, FormView, Input, TableView};
use super::{Ctx, QueryIn, WebResult, percent_encode, query, see_other};
use crate::api::letters::{PreviewInput, TemplateInput, preview_letter, reset_template};
use crate::error::ApiError;
use crate::letters::LetterKind;

fn respond(ctx: &Ctx, page: AdminPage) -> Response {
    let status = if page.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    ctx.respond(status, page)
}

fn at_line(m: &Msg, n: usize) -> String {
    if m.lang == "zh-CN" {
        format!("第 {n} 行")
    } else {
        format!("Line {n}")
    }
}

// ---------------------------------------------------------------------------------------
// Fee schedule

fn amount(minor: i64, currency: &Currency) -> String {
    Money::new(minor, currency.clone()).to_decimal_string()
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', ',', '，', '、', ';'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
}

/// The schedule as the form shows it.
fn fee_values(s: Option<&FeeSchedule>) -> Pairs {
    let Some(s) = s else {
        return vec![("currency".to_owned(), "CNY".to_owned())];
    };
    let c = &s.currency;
    let rates = |r: &Rates| {
        [r.loan, r.copy_flat, r.copy_per_page, r.express]
            .iter()
            .map(|v| amount(*v, c))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    vec![
        ("currency".to_owned(), c.as_str().to_owned()),
        ("rates.loan".to_owned(), amount(s.rates.loan, c)),
        ("rates.copy_flat".to_owned(), amount(s.rates.copy_flat, c)),
        (
            "rates.copy_per_page".to_owned(),
            amount(s.rates.copy_per_page, c),
        ),
        ("rates.express".to_owned(), amount(s.rates.express, c)),
        (
            "partner_groups".to_owned(),
            s.partner_groups
                .iter()
                .map(|g| format!("{} | {} | {}", g.name, g.members.join(" "), rates(&g.rates)))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        (
            "reciprocal_groups".to_owned(),
            s.reciprocal_groups
                .iter()
                .map(|g| format!("{} | {}", g.name, g.members.join(" ")))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ]
}

fn fees_form(m: &'static Msg, p: &Pairs) -> FormView {
    let v = |k: &str| value(p, k);
    FormView::post("fees", "/admin/fees", m.save)
        .input(Input::text("currency", m.f_currency, &v("currency")).hint(m.hint_currency))
        .input(Input::text("rates.loan", m.f_rate_loan, &v("rates.loan")).hint(m.hint_amount))
        .input(
            Input::text("rates.copy_flat", m.f_rate_copy_flat, &v("rates.copy_flat"))
                .hint(m.hint_amount),
        )
        .input(
            Input::text(
                "rates.copy_per_page",
                m.f_rate_copy_per_page,
                &v("rates.copy_per_page"),
            )
            .hint(m.hint_amount),
        )
        .input(
            Input::text("rates.express", m.f_rate_express, &v("rates.express")).hint(m.hint_amount),
        )
        .input(
            Input::new(
                "partner_groups",
                m.f_partner_groups,
                "textarea",
                &v("partner_groups"),
            )
            .hint(m.hint_partner_groups),
        )
        .input(
            Input::new(
                "reciprocal_groups",
                m.f_reciprocal_groups,
                "textarea",
                &v("reciprocal_groups"),
            )
            .hint(m.hint_reciprocal_groups),
        )
}

/// The typed amounts in minor units of the typed currency; what cannot be read is named by
/// field (and line), in the page's language.
fn fee_input(m: &'static Msg, p: &Pairs) -> Result<FeeScheduleInput, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let currency_text = value(p, "currency").to_uppercase();
    // A bad currency is reported by the schedule's own check; amounts are read in CNY's
    // two decimals meanwhile so that their errors show too.
    let currency = Currency::parse(&currency_text)
        .or_else(|_| Currency::parse("CNY"))
        .ok();
    let mut minor = |field: &str, text: &str, line: Option<usize>| -> i64 {
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
                let at = line
                    .map(|n| format!("{}: ", at_line(m, n)))
                    .unwrap_or_default();
                errors.push((field.to_owned(), format!("{at}{} {text}", m.err_not_amount)));
                0
            }
        }
    };
    let rates = Rates {
        loan: minor("rates.loan", &value(p, "rates.loan"), None),
        copy_flat: minor("rates.copy_flat", &value(p, "rates.copy_flat"), None),
        copy_per_page: minor(
            "rates.copy_per_page",
            &value(p, "rates.copy_per_page"),
            None,
        ),
        express: minor("rates.express", &value(p, "rates.express"), None),
    };
    let mut partner_groups = Vec::new();
    let mut bad_lines = Vec::new();
    for (n, line) in value(p, "partner_groups")
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        if !(2..=6).contains(&parts.len()) {
            bad_lines.push(("partner_groups", n + 1, m.err_partner_group_line));
            continue;
        }
        let part = |i: usize| parts.get(i).copied().unwrap_or_default();
        let rates = Rates {
            loan: minor("partner_groups", part(2), Some(n + 1)),
            copy_flat: minor("partner_groups", part(3), Some(n + 1)),
            copy_per_page: minor("partner_groups", part(4), Some(n + 1)),
            express: minor("partner_groups", part(5), Some(n + 1)),
        };
        partner_groups.push(PartnerGroup {
            name: part(0).to_owned(),
            members: words(part(1)).map(str::to_uppercase).collect(),
            rates,
        });
    }
    let mut reciprocal_groups = Vec::new();
    for (n, line) in value(p, "reciprocal_groups")
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, members] = parts.as_slice() else {
            bad_lines.push(("reciprocal_groups", n + 1, m.err_reciprocal_group_line));
            continue;
        };
        reciprocal_groups.push(ReciprocalGroup {
            name: (*name).to_owned(),
            members: words(members).map(str::to_uppercase).collect(),
        });
    }
    for (field, n, what) in bad_lines {
        errors.push((field.to_owned(), format!("{}: {what}", at_line(m, n))));
    }
    if errors.is_empty() {
        Ok(FeeScheduleInput {
            currency: currency_text,
            rates,
            partner_groups,
            reciprocal_groups,
        })
    } else {
        Err(errors)
    }
}

/// The correction form: the library the amount is seen from (a hub admin may name a member),
/// the other library, the signed amount, its currency and the reason.
fn correction_form(m: &'static Msg, p: &Pairs) -> FormView {
    let v = |k: &str| value(p, k);
    FormView::post("correction", "/admin/fees/corrections", m.pick("Record the correction", "登记更正"))
        .heading(m.pick("Correction after a closed month", "已结算月份的更正"))
        .intro(m.pick(
            "A closed month never changes: a correction is booked in the next open month, shown with its reason on both libraries' statements.",
            "已结算的月份不再改动：更正记入下一个未结算月份，并连同原因显示在双方的结算单上。",
        ))
        .input(
            Input::text("library", m.pick("Library", "本馆"), &v("library"))
                .hint(m.pick(
                    "The library the amount is seen from (hub admins may name a member)",
                    "金额以哪个馆为准（中心馆管理员可填成员馆代码）",
                ))
                .required(),
        )
        .input(
            Input::text("counterparty", m.pick("Other library", "对方图书馆"), &v("counterparty"))
                .hint(m.pick("Library code, e.g. HTU", "图书馆代码，例如 HTU"))
                .required(),
        )
        .input(
            Input::text("amount", m.pick("Amount", "金额"), &v("amount"))
                .hint(m.pick(
                    "Positive: the other library owes it to us; negative: we owe it (e.g. -12.50)",
                    "正数：对方应付本馆；负数：本馆应付对方（例如 -12.50）",
                ))
                .required(),
        )
        .input(Input::text("currency", m.f_currency, &v("currency")).hint(m.hint_currency).required())
        .input(Input::new("reason", m.pick("Reason", "原因"), "textarea", &v("reason")).required())
}

fn correction_defaults(library: &str) -> Pairs {
    vec![
        ("library".to_owned(), library.to_owned()),
        ("currency".to_owned(), "CNY".to_owned()),
    ]
}

/// How many of the latest closed months list every member's statements for a hub's admins.
const MEMBER_MONTHS: usize = 3;

/// The parts of the fees page below the schedule: the library's statements of closed months
/// (CSV, XLSX, PDF), the correction form, and the corrections recorded so far.
async fn settlement_blocks(ctx: &Ctx, library: &str, form: FormView) -> WebResult<Vec<Block>> {
    let m = ctx.m;
    let mut blocks = vec![Block::heading(m.pick("Statements", "结算单"))];
    let months = ctx.st.store.closed_months(24).await?;
    let code = percent_encode(library);
    let rows = months
        .iter()
        .map(|(month, mode)| {
            let href = |ext: &str| format!("/admin/fees/statements/{month}/{code}.{ext}");
            vec![
                Cell::text(month.clone()),
                Cell::text(if mode == "hub" {
                    m.pick("hub clearing", "中心清算")
                } else {
                    m.pick("bilateral netting", "双边轧差")
                }),
                Cell::link("CSV", href("csv")),
                Cell::link("XLSX", href("xlsx")),
                Cell::link("PDF", href("pdf")),
            ]
        })
        .collect();
    blocks.push(Block::table(TableView {
        caption: None,
        headers: vec![
            m.pick("Month", "月份").to_owned(),
            m.pick("Mode", "方式").to_owned(),
            "CSV".to_owned(),
            "XLSX".to_owned(),
            "PDF".to_owned(),
        ],
        rows,
        empty: m
            .pick("No month has been closed yet.", "尚无已结算的月份。")
            .to_owned(),
    }));
    // A hub's admins download their members' statements: the latest closed months.
    let user = ctx.user()?;
    if user.roles.contains(&domain::people::Role::HubAdmin) && !months.is_empty() {
        let members: Vec<_> = ctx
            .st
            .store
            .libraries()
            .await?
            .into_iter()
            .filter(|l| l.hub_id.as_deref() == Some(user.library_id.as_str()))
            .collect();
        let mut rows = Vec::new();
        for (month, _) in months.iter().take(MEMBER_MONTHS) {
            for l in &members {
                let code = percent_encode(&l.library_id);
                let href = |ext: &str| format!("/admin/fees/statements/{month}/{code}.{ext}");
                rows.push(vec![
                    Cell::text(month.clone()),
                    Cell::text(format!("{} {} {}", l.library_id, l.name_zh, l.name_en)),
                    Cell::link("CSV", href("csv")),
                    Cell::link("XLSX", href("xlsx")),
                    Cell::link("PDF", href("pdf")),
                ]);
            }
        }
        blocks.push(Block::table(TableView {
            caption: Some(m.pick("Members' statements", "成员馆结算单").to_owned()),
            headers: vec![
                m.pick("Month", "月份").to_owned(),
                m.pick("Library", "图书馆").to_owned(),
                "CSV".to_owned(),
                "XLSX".to_owned(),
                "PDF".to_owned(),
            ],
            rows,
            empty: m
                .pick("The hub has no members.", "本中心馆尚无成员馆。")
                .to_owned(),
        }));
    }
    blocks.push(Block::form(form));
    let (_, corrections) = crate::api::fees::corrections_of(&ctx.st, ctx.user()?, library).await?;
    let rows = corrections
        .into_iter()
        .map(|c| {
            vec![
                Cell::text(c.month),
                Cell::text(c.counterparty),
                Cell::text(format!("{} {}", c.amount_text, c.amount.currency.as_str())),
                Cell::text(c.reason),
                Cell::text(c.recorded_at),
            ]
        })
        .collect();
    blocks.push(Block::table(TableView {
        caption: Some(m.pick("Corrections recorded", "已登记的更正").to_owned()),
        headers: vec![
            m.pick("Booked in", "记入月份").to_owned(),
            m.pick("Other library", "对方图书馆").to_owned(),
            m.pick("Amount (+ receive / − pay)", "金额（+ 收 / − 付）")
                .to_owned(),
            m.pick("Reason", "原因").to_owned(),
            m.pick("Recorded at (UTC)", "登记时间（UTC）").to_owned(),
        ],
        rows,
        empty: m.pick("No corrections.", "没有更正。").to_owned(),
    }));
    Ok(blocks)
}

async fn fees_page(
    ctx: &Ctx,
    form: FormView,
    correction: FormView,
    notice: Option<String>,
) -> WebResult<Response> {
    let m = ctx.m;
    let library = ctx.user()?.library_id.clone();
    let mut page = AdminPage::new(m, ctx.chrome(), m.fees_title);
    page.links
        .push(("/admin".to_owned(), m.nav_admin.to_owned()));
    page.intro = Some(m.fees_intro.to_owned());
    page.notice = notice;
    page.blocks.push(Block::form(form));
    page.blocks
        .extend(settlement_blocks(ctx, &library, correction).await?);
    Ok(respond(ctx, page))
}

/// `GET /admin/fees`: the library's fee schedule, statements and corrections.
pub async fn fees(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let q = query(q)?;
        let (_, schedule) = crate::api::fees::schedule_of(&ctx.st, a, &a.library_id).await?;
        let form = fees_form(ctx.m, &fee_values(schedule.as_ref()));
        let mut defaults = correction_defaults(&a.library_id);
        if let Some(s) = &schedule {
            defaults[1].1 = s.currency.as_str().to_owned();
        }
        let correction = correction_form(ctx.m, &defaults);
        let notice = match q.done.as_deref() {
            Some("corrected") => Some(
                ctx.m
                    .pick("The correction is recorded.", "更正已登记。")
                    .to_owned(),
            ),
            Some(_) => Some(ctx.m.saved.to_owned()),
            None => None,
        };
        fees_page(&ctx, form, correction, notice).await
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/fees`: saved through the API's function.
pub async fn fees_save(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let mut form = fees_form(ctx.m, &p);
        match fee_input(ctx.m, &p) {
            Err(errors) => {
                for (field, e) in errors {
                    form.field_error(&field, e);
                }
            }
            Ok(input) => {
                match crate::api::fees::save_schedule(&ctx.st, a, &a.library_id, input).await {
                    Ok(_) => return Ok(see_other("/admin/fees?done=saved")),
                    Err(e) => form.refusal(ctx.m, e)?,
                }
            }
        }
        let correction = correction_form(ctx.m, &correction_defaults(&a.library_id));
        fees_page(&ctx, form, correction, None).await
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/fees/corrections`: recorded through the API's function; a refusal is shown
/// next to the field it names.
pub async fn correction_save(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let mut correction = correction_form(ctx.m, &p);
        let input = crate::api::fees::CorrectionInput {
            amount: Some(serde_json::Value::String(value(&p, "amount"))),
            currency: Some(value(&p, "currency")),
            counterparty: Some(value(&p, "counterparty")),
            reason: Some(value(&p, "reason")),
        };
        let library = value(&p, "library");
        let library = if library.trim().is_empty() {
            a.library_id.clone()
        } else {
            library
        };
        match crate::api::fees::record_correction(&ctx.st, a, &library, input).await {
            Ok(_) => return Ok(see_other("/admin/fees?done=corrected")),
            Err(
                e @ (ApiError::Forbidden(_) | ApiError::Bilingual(403, ..) | ApiError::NotFound(_)),
            ) => {
                // Another library than one's own (or the hub's member): said at the field.
                let msg = ctx.m.pick(
                    "You keep the fees of your own library (hub admins: of its members) only",
                    "只能登记本馆（中心馆管理员：成员馆）的更正",
                );
                tracing::debug!(error = %e, "correction for another library refused");
                correction.field_error("library", msg.to_owned());
            }
            Err(e) => correction.refusal(ctx.m, e)?,
        }
        let (_, schedule) = crate::api::fees::schedule_of(&ctx.st, a, &a.library_id).await?;
        let form = fees_form(ctx.m, &fee_values(schedule.as_ref()));
        fees_page(&ctx, form, correction, None).await
    }
    .await;
    ctx.finish(r)
}

/// `GET /admin/fees/statements/{month}/{file}`: a statement downloaded from the fees page,
/// through the API's function (the library's own admins and its hub's admins).
pub async fn statement(ctx: Ctx, Path((month, file)): Path<(String, String)>) -> Response {
    let r = async {
        let u = ctx.user()?;
        Ok(crate::api::fees::statement_download(&ctx.st, u, &month, &file).await?)
    }
    .await;
    ctx.finish(r)
}

// ---------------------------------------------------------------------------------------
// Letters

pub fn letter_label(m: &Msg, k: LetterKind) -> &'static str {
    let (en, zh) = match k {
        LetterKind::RequestReceived => ("Request received", "已收到请求"),
        LetterKind::SentToLender => ("Sent to a lending library", "已发往出借馆"),
        LetterKind::ConditionalNeedsAnswer => ("Conditions need an answer", "出借馆条件待答复"),
        LetterKind::Shipped => ("Shipped", "已寄出"),
        LetterKind::ReadyForPickup => ("Ready for pickup", "可以取书"),
        LetterKind::DocumentDelivered => ("Copy delivered", "文献已送达"),
        LetterKind::AvailableNow => (
            "Available now (licensed or open access)",
            "可直接获取（订购资源或开放获取）",
        ),
        LetterKind::DueSoon => ("Due soon", "即将到期"),
        LetterKind::Overdue => ("Overdue", "已逾期"),
        LetterKind::Recalled => ("Recalled", "已召回"),
        LetterKind::Unfilled => ("Could not be supplied", "未能满足"),
        LetterKind::Cancelled => ("Cancelled", "已取消"),
        LetterKind::Assigned => ("Assigned to a staff member", "已分派给馆员"),
        LetterKind::RegistrationApproved => ("Registration approved", "注册已批准"),
        LetterKind::PasswordReset => ("Password reset", "重设密码"),
        LetterKind::Digest => ("Daily digest", "每日汇总"),
        LetterKind::PartnerRequest => ("Request to an e-mail partner", "致邮件合作馆的申请"),
        LetterKind::PartnerMessage => (
            "Later message to an e-mail partner",
            "致邮件合作馆的后续消息",
        ),
    };
    if m.lang == "zh-CN" { zh } else { en }
}

fn locale_label(l: &str) -> &'static str {
    if l == "en" { "English" } else { "中文" }
}

/// `GET /admin/letters`: every letter in both languages, the library's own or the default.
pub async fn letters(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let q = query(q)?;
        let settings = ctx.st.store.letter_settings(&a.library_id).await?;
        let offset = ctx.st.store.library(&a.library_id).await?.offset();
        let form = rules_form(ctx.m, &rules_values(&settings, offset));
        let notice = q.done.as_ref().map(|_| ctx.m.saved.to_owned());
        letters_page(&ctx, &a.library_id, form, notice).await
    }
    .await;
    ctx.finish(r)
}

/// The letter rules and the library's time as form values.
fn rules_values(s: &domain::library::LetterSettings, offset: LibraryOffset) -> Pairs {
    vec![
        ("utc_offset".to_owned(), offset.to_string()),
        ("due_soon_days".to_owned(), s.due_soon_days.to_string()),
        (
            "allow_never".to_owned(),
            if s.allow_never { "on" } else { "" }.to_owned(),
        ),
        ("digest_hour".to_owned(), s.digest_hour.to_string()),
        ("mail_addresses".to_owned(), s.mail_addresses.join("\n")),
    ]
}

/// The library's letter rules: the due-soon reminder's days, whether people may turn letters
/// off, and the hour of the daily digest; with the library's time, which the hour (and every
/// date a letter or cover page gives) is in.
fn rules_form(m: &'static Msg, p: &Pairs) -> FormView {
    let shown = LibraryOffset::parse(&value(p, "utc_offset")).unwrap_or_default();
    let hour_hint = if m.lang == "zh-CN" {
        format!("0 至 23，按本馆时间（{}）", shown.short_label())
    } else {
        format!("0 to 23, in the library's time ({})", shown.short_label())
    };
    FormView::post("letter-rules", "/admin/letters/settings", m.save)
        .heading(m.pick("Letter rules", "通知规则"))
        .input(
            Input::text(
                "utc_offset",
                m.pick("The library's time (offset from UTC)", "本馆时间（与 UTC 的时差）"),
                &value(p, "utc_offset"),
            )
            .required()
            .hint(m.pick(
                "e.g. +08:00 (China Standard Time), +09:00, -05:00, +05:30. Dates on cover pages, links and letters, the digest hour, and the days need-by dates count from are in this time. A fixed offset: where clocks change for summer time, change it when they do.",
                "例如 +08:00（北京时间）、+09:00、-05:00、+05:30。复制件封面、链接和通知中的日期、每日汇总的发送时间以及需要日期的天数均按此时间计算。这是固定时差：如当地实行夏令时，请在调整时钟时一并修改。",
            )),
        )
        .input(
            Input::new(
                "due_soon_days",
                m.pick(
                    "Days before the due date for the reminder",
                    "到期前几天提醒",
                ),
                "number",
                &value(p, "due_soon_days"),
            )
            .hint(m.pick("1 to 30", "1 至 30")),
        )
        .input(Input::new(
            "allow_never",
            m.pick("People may turn letters off", "允许读者和馆员关闭通知"),
            "checkbox",
            &value(p, "allow_never"),
        ))
        .input(
            Input::new(
                "digest_hour",
                m.pick("Hour of the daily digest", "每日汇总发送时间（时）"),
                "number",
                &value(p, "digest_hour"),
            )
            .hint(&hour_hint),
        )
        .input(
            Input::new(
                "mail_addresses",
                m.pick("The library's mail addresses", "本馆邮箱地址"),
                "textarea",
                &value(p, "mail_addresses"),
            )
            .hint(m.pick(
                "One a line, at most 10, e.g. ill@library.example.edu: mailboxes whose mail your mail server hands to librelay. Mail to them that names no request is listed for your staff under Unmatched mail.",
                "每行一个，最多 10 个，例如 ill@library.example.edu：由本馆邮件服务器转交 librelay 的邮箱。发往这些地址、又未写明申请编号的邮件列入本馆的“未归档邮件”。",
            )),
        )
}

async fn letters_page(
    ctx: &Ctx,
    library_id: &str,
    form: FormView,
    notice: Option<String>,
) -> WebResult<Response> {
    let m = ctx.m;
    let mut rows = Vec::new();
    for kind in LetterKind::ALL {
        for lang in ["zh-CN", "en"] {
            let v = crate::api::letters::view(&ctx.st, library_id, *kind, lang).await?;
            rows.push(vec![
                Cell::link(
                    letter_label(m, *kind),
                    format!("/admin/letters/{}/{lang}", kind.as_str()),
                ),
                Cell::text(locale_label(lang)),
                Cell::text(v.subject),
                Cell::text(if v.custom {
                    m.letter_custom
                } else {
                    m.letter_default
                }),
            ]);
        }
    }
    let mut page = AdminPage::new(m, ctx.chrome(), m.letters_title);
    page.links
        .push(("/admin".to_owned(), m.nav_admin.to_owned()));
    page.intro = Some(m.letters_intro.to_owned());
    page.notice = notice;
    page.blocks.push(Block::table(TableView {
        caption: None,
        headers: vec![
            m.col_letter.to_owned(),
            m.language.to_owned(),
            m.f_subject.to_owned(),
            m.col_source.to_owned(),
        ],
        rows,
        empty: String::new(),
    }));
    page.blocks.push(Block::form(form));
    Ok(respond(ctx, page))
}

/// `POST /admin/letters/settings`: saved through the API's function.
pub async fn letter_rules_save(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let mut form = rules_form(ctx.m, &p);
        let number = |field: &'static str, form: &mut FormView| -> Option<u32> {
            let v = value(&p, field);
            match v.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    let msg = if ctx.m.lang == "zh-CN" {
                        format!("{v:?} 不是整数")
                    } else {
                        format!("{v:?} is not a whole number")
                    };
                    form.field_error(field, msg);
                    None
                }
            }
        };
        let days = number("due_soon_days", &mut form);
        let hour = number("digest_hour", &mut form);
        // The library's time is checked with the rest: nothing is saved while any field is
        // wrong. A form without the field (an older page) leaves it as it is.
        let given = p.iter().any(|(k, _)| k == "utc_offset");
        let offset = if given {
            match LibraryOffset::parse(&value(&p, "utc_offset")) {
                Ok(o) => Some(o),
                Err(e) => {
                    form.field_error(
                        "utc_offset",
                        if ctx.m.lang == "zh-CN" { e.zh } else { e.en },
                    );
                    None
                }
            }
        } else {
            Some(ctx.st.store.library(&a.library_id).await?.offset())
        };
        if let (Some(due_soon_days), Some(digest_hour), Some(offset)) = (days, hour, offset) {
            let input = domain::library::LetterSettings {
                due_soon_days,
                allow_never: value(&p, "allow_never") == "on",
                digest_hour,
                mail_addresses: value(&p, "mail_addresses")
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            };
            let saved = match crate::api::letters::save_settings(&ctx.st, a, &a.library_id, input)
                .await
            {
                Ok(_) => crate::api::libraries::save_offset(&ctx.st, a, &offset.to_string()).await,
                Err(e) => Err(e),
            };
            match saved {
                Ok(_) => return Ok(see_other("/admin/letters?done=saved")),
                Err(e) => form.refusal(ctx.m, e)?,
            }
        }
        letters_page(&ctx, &a.library_id, form, None).await
    }
    .await;
    ctx.finish(r)
}

fn letter_form(m: &'static Msg, action: &str, subject: &str, body: &str) -> FormView {
    let mut f = FormView::post("letter", action, m.save)
        .input(Input::text("subject", m.f_subject, subject).required())
        .input(Input::new("body", m.f_body, "textarea", body).required());
    f.alt_submit = Some(("preview".to_owned(), m.preview_button.to_owned()));
    f
}

struct LetterPath {
    kind: LetterKind,
    locale: String,
    action: String,
}

fn letter_path(kind: &str, locale: &str) -> WebResult<LetterPath> {
    let kind = LetterKind::parse(kind).ok_or(ApiError::NotFound("letter"))?;
    if !matches!(locale, "zh-CN" | "en") {
        return Err(ApiError::NotFound("letter").into());
    }
    Ok(LetterPath {
        kind,
        locale: locale.to_owned(),
        action: format!(
            "/admin/letters/{}/{}",
            kind.as_str(),
            percent_encode(locale)
        ),
    })
}

fn letter_page(
    ctx: &Ctx,
    lp: &LetterPath,
    form: FormView,
    preview: Option<(String, String)>,
    custom: bool,
    notice: Option<String>,
) -> Response {
    let m = ctx.m;
    let title = format!(
        "{} · {} ({})",
        m.letters_title,
        letter_label(m, lp.kind),
        locale_label(&lp.locale)
    );
    let mut page = AdminPage::new(m, ctx.chrome(), &title);
    page.links
        .push(("/admin/letters".to_owned(), m.letters_title.to_owned()));
    page.intro = Some(format!(
        "{} {}",
        m.letter_variables,
        crate::letters::VARIABLES.join(", ")
    ));
    page.notice = notice;
    page.blocks.push(Block::form(form));
    if let Some((subject, body)) = preview {
        page.blocks.push(Block::heading(m.preview_heading));
        page.blocks
            .push(Block::facts(vec![(m.f_subject.to_owned(), subject)]));
        page.blocks.push(Block::pre(body));
    }
    if custom {
        page.blocks.push(Block::form(
            FormView::post("reset", &format!("{}/reset", lp.action), m.letter_reset)
                .intro(m.letter_reset_intro),
        ));
    }
    respond(ctx, page)
}

/// `GET /admin/letters/{kind}/{locale}`: the letter to edit.
pub async fn letter(
    ctx: Ctx,
    Path((kind, locale)): Path<(String, String)>,
    q: QueryIn<DoneQuery>,
) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let q = query(q)?;
        let lp = letter_path(&kind, &locale)?;
        let v = crate::api::letters::view(&ctx.st, &a.library_id, lp.kind, &lp.locale).await?;
        let form = letter_form(ctx.m, &lp.action, &v.subject, &v.body);
        let notice = q.done.as_ref().map(|_| ctx.m.saved.to_owned());
        Ok(letter_page(&ctx, &lp, form, None, v.custom, notice))
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/letters/{kind}/{locale}`: save the letter, or (the preview button) write the
/// draft out with sample values; either way a template that cannot work is refused next to
/// its field, naming the line.
pub async fn letter_save(
    ctx: Ctx,
    Path((kind, locale)): Path<(String, String)>,
    form: Result<Form<Pairs>, FormRejection>,
) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let lp = letter_path(&kind, &locale)?;
        // Templates are taken as typed: leading spaces may matter in a letter.
        let raw = |k: &str| {
            p.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.replace("\r\n", "\n"))
                .unwrap_or_default()
        };
        let (subject, body) = (raw("subject"), raw("body"));
        let m = ctx.m;
        let mut form = letter_form(m, &lp.action, &subject, &body);
        let code = a.library_id.clone();
        let current = crate::api::letters::view(&ctx.st, &code, lp.kind, &lp.locale).await?;
        let refusal = if value(&p, "do") == "preview" {
            let input = PreviewInput {
                subject: Some(subject.clone()),
                body: Some(body.clone()),
            };
            match preview_letter(&ctx.st, a, &code, lp.kind.as_str(), &lp.locale, input).await {
                Ok(out) => {
                    return Ok(letter_page(
                        &ctx,
                        &lp,
                        form,
                        Some((out.subject, out.body)),
                        current.custom,
                        None,
                    ));
                }
                Err(r) => r,
            }
        } else {
            let input = TemplateInput { subject, body };
            match crate::api::letters::save_template(
                &ctx.st,
                a,
                &code,
                lp.kind.as_str(),
                &lp.locale,
                input,
            )
            .await
            {
                Ok(_) => return Ok(see_other(&format!("{}?done=saved", lp.action))),
                Err(r) => r,
            }
        };
        match (refusal.field, refusal.error) {
            (Some(field), ApiError::Bilingual(_, _, en, zh)) => {
                form.field_error(field, if m.lang == "zh-CN" { zh } else { en });
            }
            (_, e) => form.refusal(m, e)?,
        }
        Ok(letter_page(&ctx, &lp, form, None, current.custom, None))
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/letters/{kind}/{locale}/reset`: back to the shipped default.
pub async fn letter_reset(ctx: Ctx, Path((kind, locale)): Path<(String, String)>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let lp = letter_path(&kind, &locale)?;
        reset_template(&ctx.st, a, &a.library_id, lp.kind.as_str(), &lp.locale).await?;
        Ok(see_other(&format!("{}?done=reset", lp.action)))
    }
    .await;
    ctx.finish(r)
}
