//! Pages for a library's admins: the partner directory (list, edit, add, import a file), the
//! library's closed days, lender groups and routing rules, copyright and delivery terms. Every
//! save goes through the function the JSON API uses; a refusal comes back next to its field.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Multipart, Path};
use axum::http::StatusCode;
use axum::response::Response;
use domain::copyright::{ComplianceCode, CopyrightSettings};
use domain::library::{DeliverySettings, Service};
use domain::partner::RowError;
use domain::people::{PatronType, Role};
use domain::routing::{LenderGroup, RoutingSettings, SendRule};

use super::accounts::{DoneQuery, Pairs, admin, pairs, patron_type_label, value};
use super::catalog::Msg;
use super::forms::{AdminPage, Block, Cell, FormView, Input, Opt, TableView};
use super::{Ctx, QueryIn, WebError, WebResult, percent_encode, query, see_other};
use crate::auth::CurrentUser;
use crate::error::ApiError;

fn respond(ctx: &Ctx, page: AdminPage) -> Response {
    let status = if page.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    ctx.respond(status, page)
}

fn saved(m: &'static Msg, q: &DoneQuery) -> Option<String> {
    q.done.as_ref().map(|_| m.saved.to_owned())
}

fn back_to_admin(m: &'static Msg, page: &mut AdminPage) {
    page.links
        .push(("/admin".to_owned(), m.nav_admin.to_owned()));
}

/// `GET /admin`: what an admin can set, one link each.
pub async fn home(ctx: Ctx) -> Response {
    let r = async {
        admin(&ctx)?;
        let m = ctx.m;
        let mut page = AdminPage::new(m, ctx.chrome(), m.admin_title);
        let rows = [
            ("/admin/users", m.users_title, m.users_intro),
            ("/admin/partners", m.partners_title, m.partners_intro),
            ("/admin/closed-days", m.closed_title, m.closed_intro),
            ("/admin/routing", m.routing_title, m.routing_intro),
            ("/admin/copyright", m.copyright_title, m.copyright_intro),
            ("/admin/delivery", m.delivery_title, m.delivery_intro),
            ("/admin/holdings", m.holdings_title, m.holdings_intro),
            ("/admin/licences", m.licences_title, m.licences_intro),
            ("/admin/fees", m.fees_title, m.fees_intro),
            (
                "/admin/reader-fees",
                m.pick("Reader charges", "读者收费"),
                m.pick(
                    "What readers pay when a lender ships, subsidies by reader type per year, and readers' deposits.",
                    "出借馆发货时读者支付的费用、按读者类型的年度补贴，以及读者预存款。",
                ),
            ),
            ("/admin/letters", m.letters_title, m.letters_intro),
            (
                "/admin/evaluation",
                m.pick("Partner evaluation", "合作馆评估"),
                m.pick(
                    "Each partner's capability score as a lender (fill rate, speed, reliability, load), as routing uses it.",
                    "各合作馆作为出借馆的能力评分（满足率、速度、可靠性、负载），路由排序即依据此评分。",
                ),
            ),
        ]
        .into_iter()
        .map(|(href, title, intro)| vec![Cell::link(title, href), Cell::text(intro)])
        .collect();
        page.blocks.push(Block::table(TableView {
            caption: None,
            headers: vec![m.col_page.to_owned(), m.col_what.to_owned()],
            rows,
            empty: String::new(),
        }));
        Ok(ctx.page(page))
    }
    .await;
    ctx.finish(r)
}

// ---------------------------------------------------------------------------------------
// Partners

/// Whose terms a partner form sets: what each partner grants the admin's library, or (a hub
/// admin) each partner's default terms. The same rule as the import API.
fn terms_for(user: &CurrentUser) -> Option<&str> {
    if user.roles.contains(&Role::HubAdmin) {
        None
    } else {
        Some(user.library_id.as_str())
    }
}

fn fee_text(p: &domain::library::PartnerPolicy) -> String {
    let fee = |f: &Option<domain::money::Money>| {
        f.as_ref().map_or_else(
            || "0".to_owned(),
            |m| format!("{} {}", m.to_decimal_string(), m.currency.as_str()),
        )
    };
    format!("{} / {}", fee(&p.loan_fee), fee(&p.copy_fee))
}

/// `GET /admin/partners`: every partner with the terms it grants, an import form.
pub async fn partners(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let q = query(q)?;
        let page = partners_page(&ctx, a, saved(ctx.m, &q), import_form(ctx.m, "")).await?;
        Ok(respond(&ctx, page))
    }
    .await;
    ctx.finish(r)
}

fn import_form(m: &'static Msg, text: &str) -> FormView {
    let mut f = FormView::post("import", "/admin/partners/import", m.import_button)
        .heading(m.import_title)
        .intro(m.import_intro)
        .input(Input::new("file", m.import_file, "file", "").hint(m.import_hint))
        .input(Input::new("text", m.import_paste, "textarea", text));
    f.multipart = true;
    f
}

/// The uploaded file (or, when none was chosen, the pasted text) of the import form.
async fn import_text(mut form: Multipart) -> WebResult<Result<String, &'static str>> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        WebError::Bad(|m| m.err_bad_form, Some(e.body_text()))
    };
    let (mut file, mut pasted) = (Vec::new(), String::new());
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("file") => file = field.bytes().await.map_err(bad)?.to_vec(),
            Some("text") => pasted = field.text().await.map_err(bad)?,
            _ => {}
        }
    }
    if file.is_empty() {
        return Ok(if pasted.trim().is_empty() {
            Err("file")
        } else {
            Ok(pasted)
        });
    }
    Ok(String::from_utf8(file).map_err(|_| "utf8"))
}

async fn partners_page(
    ctx: &Ctx,
    a: &CurrentUser,
    notice: Option<String>,
    import: FormView,
) -> WebResult<AdminPage> {
    let m = ctx.m;
    let zh = m.lang == "zh-CN";
    let mut rows = Vec::new();
    for lib in ctx.st.store.libraries().await? {
        if lib.library_id == a.library_id {
            continue;
        }
        let policy = match terms_for(a) {
            Some(own) => ctx.st.store.policy_between(&lib.library_id, own).await?,
            None => ctx
                .st
                .store
                .policies(&lib.library_id)
                .await?
                .into_iter()
                .find(|p| p.partner_id.is_none())
                .map(|p| p.policy.0),
        };
        let (services, loan_days, fees, active) = match &policy {
            Some(p) => (
                p.services
                    .iter()
                    .map(|s| service_label(m, *s))
                    .collect::<Vec<_>>()
                    .join(", "),
                p.loan_days.to_string(),
                fee_text(p),
                if p.active { m.yes } else { m.no },
            ),
            None => (m.no_terms.to_owned(), String::new(), String::new(), m.no),
        };
        let href = format!("/admin/partners/{}", percent_encode(&lib.library_id));
        rows.push(vec![
            Cell::link(lib.library_id.clone(), href),
            Cell::text(if zh { lib.name_zh } else { lib.name_en }),
            Cell::text(lib.region),
            Cell::text(services),
            Cell::text(loan_days),
            Cell::text(fees),
            Cell::text(active),
        ]);
    }
    let mut page = AdminPage::new(m, ctx.chrome(), m.partners_title);
    back_to_admin(m, &mut page);
    page.links
        .push(("/admin/partners/new".to_owned(), m.add_partner.to_owned()));
    page.intro = Some(
        if terms_for(a).is_some() {
            m.partners_terms_for_us
        } else {
            m.partners_terms_default
        }
        .to_owned(),
    );
    page.notice = notice;
    page.blocks.push(Block::table(TableView {
        caption: None,
        headers: vec![
            m.f_code.to_owned(),
            m.f_name.to_owned(),
            m.f_region.to_owned(),
            m.f_services.to_owned(),
            m.f_loan_days.to_owned(),
            m.col_fees.to_owned(),
            m.f_active.to_owned(),
        ],
        rows,
        empty: m.no_partners.to_owned(),
    }));
    page.blocks.push(Block::form(import));
    Ok(page)
}

fn service_label(m: &Msg, s: Service) -> String {
    match s {
        Service::Loan => m.service_loan.to_owned(),
        Service::Copy => m.service_copy.to_owned(),
    }
}

/// The message of a row error in the page's language, without the "line 1" a file needs.
fn row_error_text(m: &Msg, e: &RowError) -> String {
    if m.lang == "zh-CN" {
        crate::i18n::field_zh(&e.field, e.code).unwrap_or_else(|| {
            e.message_zh
                .trim_start_matches(&format!("第 {} 行 ", e.line))
                .to_owned()
        })
    } else {
        e.message
            .trim_start_matches(&format!("line {}: ", e.line))
            .to_owned()
    }
}

const PARTNER_FIELDS: &[&str] = &[
    "code",
    "agency",
    "name_en",
    "name_zh",
    "kind",
    "region",
    "address",
    "latitude",
    "longitude",
    "hub",
    "services",
    "currency",
    "loan_fee",
    "copy_fee",
    "loan_days",
    "answer_days",
    "delivery_methods",
    "payment_methods",
    "closed_weekdays",
    "closed_dates",
    "active",
    "utc_offset",
];

/// The partner form with `values` (by column), the code fixed when editing.
fn partner_form(m: &'static Msg, action: &str, values: &Pairs, editing: bool) -> FormView {
    let v = |k: &str| value(values, k);
    let kinds = ["university", "public", "research", "supplier", "hub"]
        .into_iter()
        .map(|k| {
            Opt::new(
                k,
                kind_label(m, k),
                v("kind") == k || (v("kind").is_empty() && k == "university"),
            )
        })
        .collect();
    let services_now = v("services");
    let services = [Service::Loan, Service::Copy]
        .into_iter()
        .map(|s| {
            Opt::new(
                s.as_str(),
                service_label(m, s),
                services_now
                    .split([';', ','])
                    .any(|x| x.trim() == s.as_str()),
            )
        })
        .collect();
    let active = !matches!(v("active").as_str(), "false" | "no" | "0");
    let mut f = FormView::post("partner", action, m.save);
    if editing {
        f = f.hidden("code", &v("code"));
    } else {
        f = f.input(
            Input::text("code", m.f_code, &v("code"))
                .hint(m.hint_code)
                .required(),
        );
    }
    f.input(
        Input::text("agency", m.f_agency, &v("agency"))
            .hint(m.hint_agency)
            .required(),
    )
    .input(Input::text("name_en", m.f_name_en, &v("name_en")).required())
    .input(Input::text("name_zh", m.f_name_zh, &v("name_zh")).required())
    .input(Input::new("kind", m.f_kind, "select", "").options(kinds))
    .input(Input::text("region", m.f_region, &v("region")))
    .input(Input::text("address", m.f_address, &v("address")))
    .input(Input::text("latitude", m.f_latitude, &v("latitude")).hint(m.hint_coordinates))
    .input(Input::text("longitude", m.f_longitude, &v("longitude")))
    .input(Input::text("hub", m.f_hub, &v("hub")))
    .input(
        Input::text("utc_offset", m.f_partner_utc_offset, &v("utc_offset"))
            .hint(m.hint_partner_utc_offset),
    )
    .input(Input::new("services", m.f_services, "checkboxes", "").options(services))
    .input(Input::text("currency", m.f_currency, &v("currency")).hint(m.hint_currency))
    .input(Input::text("loan_fee", m.f_loan_fee, &v("loan_fee")).hint(m.hint_fee))
    .input(Input::text("copy_fee", m.f_copy_fee, &v("copy_fee")).hint(m.hint_fee))
    .input(Input::text("loan_days", m.f_loan_days, &v("loan_days")).hint(m.hint_loan_days))
    .input(Input::text("answer_days", m.f_answer_days, &v("answer_days")).hint(m.hint_answer_days))
    .input(
        Input::text(
            "delivery_methods",
            m.f_delivery_methods,
            &v("delivery_methods"),
        )
        .hint(m.hint_list),
    )
    .input(
        Input::text(
            "payment_methods",
            m.f_payment_methods,
            &v("payment_methods"),
        )
        .hint(m.hint_list),
    )
    .input(
        Input::text(
            "closed_weekdays",
            m.f_closed_weekdays,
            &v("closed_weekdays"),
        )
        .hint(m.hint_weekdays),
    )
    .input(Input::text("closed_dates", m.f_closed_dates, &v("closed_dates")).hint(m.hint_dates))
    .input(Input::new(
        "active",
        m.f_active,
        "checkbox",
        if active { "on" } else { "" },
    ))
}

fn kind_label(m: &Msg, k: &str) -> String {
    let zh = m.lang == "zh-CN";
    let (en, cn) = match k {
        "university" => ("University library", "高校图书馆"),
        "public" => ("Public library", "公共图书馆"),
        "research" => ("Research library", "科研图书馆"),
        "supplier" => ("Document supplier", "文献供应机构"),
        "hub" => ("Consortium centre", "联盟中心"),
        other => return other.to_owned(),
    };
    if zh { cn } else { en }.to_owned()
}

fn partner_page(ctx: &Ctx, title: String, form: FormView) -> Response {
    let m = ctx.m;
    let mut page = AdminPage::new(m, ctx.chrome(), &title);
    page.links
        .push(("/admin/partners".to_owned(), m.partners_title.to_owned()));
    page.blocks.push(Block::form(form));
    respond(ctx, page)
}

async fn partner_values(ctx: &Ctx, a: &CurrentUser, code: &str) -> WebResult<Pairs> {
    let lib = match ctx.st.store.library(code).await {
        Ok(l) if l.library_id != a.library_id => l,
        Ok(_) | Err(store::StoreError::NotFound) => {
            return Err(WebError::Api(ApiError::NotFound("partner")));
        }
        Err(e) => return Err(e.into()),
    };
    let policy = match terms_for(a) {
        Some(own) => ctx.st.store.policy_between(&lib.library_id, own).await?,
        None => ctx
            .st
            .store
            .policies(&lib.library_id)
            .await?
            .into_iter()
            .find(|p| p.partner_id.is_none())
            .map(|p| p.policy.0),
    };
    Ok(crate::partners::columns_of(&lib, policy.as_ref()))
}

/// `GET /admin/partners/{code}`: one partner and its terms, to edit.
pub async fn partner_edit(ctx: Ctx, Path(code): Path<String>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let values = partner_values(&ctx, a, &code).await?;
        let action = format!("/admin/partners/{}", percent_encode(&code));
        let title = format!("{} {}", ctx.m.edit_partner, code);
        Ok(partner_page(
            &ctx,
            title,
            partner_form(ctx.m, &action, &values, true),
        ))
    }
    .await;
    ctx.finish(r)
}

/// `GET /admin/partners/new`.
pub async fn partner_new(ctx: Ctx) -> Response {
    let r = async {
        admin(&ctx)?;
        let form = partner_form(ctx.m, "/admin/partners/new", &Vec::new(), false);
        Ok(partner_page(&ctx, ctx.m.add_partner.to_owned(), form))
    }
    .await;
    ctx.finish(r)
}

/// The form's fields as a partner file's row: every column, with services and the active box
/// written as a file writes them.
fn row_of(p: &Pairs, code: &str) -> Vec<(String, String)> {
    PARTNER_FIELDS
        .iter()
        .map(|&k| {
            let v = match k {
                "code" => code.to_owned(),
                "services" => super::accounts::values(p, "services").join(";"),
                "active" => (!value(p, "active").is_empty()).to_string(),
                _ => value(p, k),
            };
            (k.to_owned(), v)
        })
        .collect()
}

async fn save_partner(
    ctx: &Ctx,
    a: &CurrentUser,
    p: Pairs,
    code: String,
    editing: bool,
) -> WebResult<Response> {
    let m = ctx.m;
    let action = if editing {
        format!("/admin/partners/{}", percent_encode(&code))
    } else {
        "/admin/partners/new".to_owned()
    };
    let title = if editing {
        format!("{} {}", m.edit_partner, code)
    } else {
        m.add_partner.to_owned()
    };
    let mut form = partner_form(m, &action, &p, editing);
    let upper = code.trim().to_uppercase();
    if upper == a.library_id {
        form.field_error("code", m.err_own_library.to_owned());
        return Ok(partner_page(ctx, title, form));
    }
    if !editing && !upper.is_empty() {
        match ctx.st.store.library(&upper).await {
            Ok(_) => {
                form.field_error("code", m.err_partner_exists.to_owned());
                return Ok(partner_page(ctx, title, form));
            }
            Err(store::StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let row = (1, row_of(&p, &code));
    let summary =
        crate::partners::import_rows(&ctx.st.store, vec![row], terms_for(a), ctx.st.now()).await?;
    if summary.errors.is_empty() {
        tracing::info!(partner = %code, admin = %a.username, "partner saved from the page");
        return Ok(see_other("/admin/partners?done=saved"));
    }
    for e in &summary.errors {
        let text = row_error_text(m, e);
        form.field_error(&e.field, text);
    }
    Ok(partner_page(ctx, title, form))
}

/// `POST /admin/partners/{code}`: save the partner through the import's checks and writes.
pub async fn partner_save(
    ctx: Ctx,
    Path(code): Path<String>,
    form: Result<Form<Pairs>, FormRejection>,
) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        partner_values(&ctx, a, &code).await?;
        save_partner(&ctx, a, p, code, true).await
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/partners/new`.
pub async fn partner_create(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let code = value(&p, "code");
        save_partner(&ctx, a, p, code, false).await
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/partners/import`: a CSV or JSON file pasted in; the summary and every bad row
/// by line and field, as the API gives them.
#[tracing::instrument(skip_all)]
pub async fn partner_import(
    ctx: Ctx,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let form = form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        let m = ctx.m;
        let text = match import_text(form).await? {
            Ok(t) => t,
            Err(problem) => {
                let mut form = import_form(m, "");
                form.field_error(
                    "file",
                    if problem == "utf8" {
                        m.err_not_utf8
                    } else {
                        m.err_no_file
                    }
                    .to_owned(),
                );
                let page = partners_page(&ctx, a, None, form).await?;
                return Ok(respond(&ctx, page));
            }
        };
        let zh = m.lang == "zh-CN";
        match crate::partners::import(&ctx.st.store, &text, terms_for(a), ctx.st.now()).await? {
            Ok(s) => {
                let notice = format!(
                    "{} {} · {} {} · {} {} · {} {}",
                    m.import_read,
                    s.read,
                    m.import_created,
                    s.created,
                    m.import_updated,
                    s.updated,
                    m.import_rejected,
                    s.rejected
                );
                let form = import_form(m, "");
                let mut page = partners_page(&ctx, a, Some(notice), form).await?;
                // The rows left out, by line and field: the rest were imported, so the page
                // is an answer, not a refusal.
                let rows: Vec<Vec<Cell>> = s
                    .errors
                    .iter()
                    .map(|e| {
                        vec![
                            Cell::text(e.line.to_string()),
                            Cell::code(e.field.clone()),
                            Cell::text(if zh {
                                e.message_zh.clone()
                            } else {
                                e.message.clone()
                            }),
                        ]
                    })
                    .collect();
                if !rows.is_empty() {
                    page.blocks.push(Block::heading(m.import_rejected_rows));
                    page.blocks.push(Block::table(TableView {
                        caption: None,
                        headers: vec![
                            m.col_line.to_owned(),
                            m.col_field.to_owned(),
                            m.col_problem.to_owned(),
                        ],
                        rows,
                        empty: String::new(),
                    }));
                }
                Ok(respond(&ctx, page))
            }
            Err(errors) => {
                let mut form = import_form(m, &text);
                for e in &errors {
                    form.field_error(
                        "file",
                        if zh {
                            e.message_zh.clone()
                        } else {
                            e.message.clone()
                        },
                    );
                }
                let page = partners_page(&ctx, a, None, form).await?;
                Ok(respond(&ctx, page))
            }
        }
    }
    .await;
    ctx.finish(r)
}

// ---------------------------------------------------------------------------------------
// Closed days

const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn weekday_label(m: &Msg, w: &str) -> &'static str {
    let (en, zh) = match w {
        "monday" => ("Monday", "周一"),
        "tuesday" => ("Tuesday", "周二"),
        "wednesday" => ("Wednesday", "周三"),
        "thursday" => ("Thursday", "周四"),
        "friday" => ("Friday", "周五"),
        "saturday" => ("Saturday", "周六"),
        _ => ("Sunday", "周日"),
    };
    if m.lang == "zh-CN" { zh } else { en }
}

fn closed_form(m: &'static Msg, weekdays: &[String], dates: &str) -> FormView {
    FormView::post("closed", "/admin/closed-days", m.save)
        .input(
            Input::new("weekdays", m.f_closed_weekdays, "checkboxes", "").options(
                WEEKDAYS
                    .iter()
                    .map(|w| {
                        Opt::new(
                            *w,
                            weekday_label(m, w),
                            weekdays.iter().any(|x| x.as_str() == *w),
                        )
                    })
                    .collect(),
            ),
        )
        .input(Input::new("dates", m.f_closed_dates, "textarea", dates).hint(m.hint_dates_lines))
}

fn closed_page(ctx: &Ctx, form: FormView, notice: Option<String>) -> Response {
    let m = ctx.m;
    let mut page = AdminPage::new(m, ctx.chrome(), m.closed_title);
    back_to_admin(m, &mut page);
    page.intro = Some(m.closed_intro.to_owned());
    page.notice = notice;
    page.blocks.push(Block::form(form));
    respond(ctx, page)
}

/// `GET /admin/closed-days`: the library's closed weekdays and dates.
pub async fn closed_days(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let q = query(q)?;
        let lib = ctx.st.store.library(&a.library_id).await?;
        let cols = crate::partners::columns_of(&lib, None);
        let weekdays: Vec<String> = value(&cols, "closed_weekdays")
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let dates = value(&cols, "closed_dates").replace(';', "\n");
        Ok(closed_page(
            &ctx,
            closed_form(ctx.m, &weekdays, &dates),
            saved(ctx.m, &q),
        ))
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/closed-days`.
pub async fn closed_days_save(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let weekdays = super::accounts::values(&p, "weekdays");
        let dates_text = value(&p, "dates");
        let dates = dates_text
            .split(['\n', '\r', ';', ',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(";");
        match crate::partners::set_closed_days(
            &ctx.st.store,
            &a.library_id,
            &weekdays.join(";"),
            &dates,
        )
        .await?
        {
            Ok(_) => Ok(see_other("/admin/closed-days?done=saved")),
            Err(errors) => {
                let mut form = closed_form(ctx.m, &weekdays, &dates_text);
                for e in &errors {
                    let field = match e.field.as_str() {
                        "closed_weekdays" => "weekdays",
                        "closed_dates" => "dates",
                        other => other,
                    };
                    let text = if ctx.m.lang == "zh-CN" {
                        e.message_zh
                            .trim_start_matches(&format!("第 {} 行 ", e.line))
                            .to_owned()
                    } else {
                        e.message
                            .trim_start_matches(&format!("line {}: ", e.line))
                            .to_owned()
                    };
                    form.field_error(field, text);
                }
                Ok(closed_page(&ctx, form, None))
            }
        }
    }
    .await;
    ctx.finish(r)
}

// ---------------------------------------------------------------------------------------
// Lender groups and routing rules

/// Groups one per line: `tier | name | CODE CODE`.
fn groups_text(s: &RoutingSettings) -> String {
    s.groups
        .iter()
        .map(|g| format!("{} | {} | {}", g.tier, g.name, g.members.join(" ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Rules one per line: `reader types | services | free` (empty parts: any).
fn rules_text(s: &RoutingSettings) -> String {
    s.unmediated
        .iter()
        .map(|r| {
            let types: Vec<&str> = r.patron_types.iter().map(|t| t.as_str()).collect();
            let services: Vec<&str> = r.services.iter().map(|t| t.as_str()).collect();
            format!(
                "{} | {} | {}",
                types.join(" "),
                services.join(" "),
                if r.first_lender_free { "free" } else { "" }
            )
            .trim_end_matches([' ', '|'])
            .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', ',', '，', '、', ';'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
}

/// "Line 3" in the page's language.
fn at_line(m: &Msg, n: usize) -> String {
    if m.lang == "zh-CN" {
        format!("第 {n} 行")
    } else {
        format!("Line {n}")
    }
}

/// Read the two text boxes; what cannot be read is named by line, in the page's language.
fn parse_routing(
    m: &'static Msg,
    groups: &str,
    rules: &str,
    methods: (&str, &str),
    express_days: &str,
) -> Result<RoutingSettings, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let mut out = RoutingSettings {
        delivery_methods: words(methods.0).map(str::to_owned).collect(),
        payment_methods: words(methods.1).map(str::to_owned).collect(),
        ..RoutingSettings::default()
    };
    match express_days.trim() {
        "" => {}
        d => match d.parse::<u32>() {
            Ok(n) if n <= domain::routing::MAX_EXPRESS_WITHIN_DAYS => {
                out.express_within_days = Some(n);
            }
            _ => errors.push(("express_within_days", m.err_express_within_days.to_owned())),
        },
    }
    for (n, line) in groups
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let [tier, name, members] = parts.as_slice() else {
            errors.push((
                "groups",
                format!("{}: {}", at_line(m, n + 1), m.err_group_line),
            ));
            continue;
        };
        let Ok(tier) = tier.parse::<u32>() else {
            errors.push((
                "groups",
                format!("{}: {}", at_line(m, n + 1), m.err_group_tier),
            ));
            continue;
        };
        out.groups.push(LenderGroup {
            name: (*name).to_owned(),
            tier,
            members: words(members).map(str::to_uppercase).collect(),
        });
    }
    for (n, line) in rules
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        if parts.len() > 3 {
            errors.push((
                "rules",
                format!("{}: {}", at_line(m, n + 1), m.err_rule_line),
            ));
            continue;
        }
        let part = |i: usize| parts.get(i).copied().unwrap_or_default();
        let mut rule = SendRule::default();
        for w in words(part(0)) {
            match PatronType::parse(&w.to_lowercase()) {
                Some(t) => rule.patron_types.push(t),
                None => errors.push((
                    "rules",
                    format!("{}: {} {w}", at_line(m, n + 1), m.err_rule_type),
                )),
            }
        }
        for w in words(part(1)) {
            match Service::parse(&w.to_lowercase()) {
                Some(s) => rule.services.push(s),
                None => errors.push((
                    "rules",
                    format!("{}: {} {w}", at_line(m, n + 1), m.err_rule_service),
                )),
            }
        }
        match part(2).to_lowercase().as_str() {
            "" => {}
            "free" | "免费" => rule.first_lender_free = true,
            other => errors.push((
                "rules",
                format!("{}: {} {other}", at_line(m, n + 1), m.err_rule_free),
            )),
        }
        out.unmediated.push(rule);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn routing_form(
    m: &'static Msg,
    groups: &str,
    rules: &str,
    methods: (&str, &str),
    express_days: &str,
) -> FormView {
    let types = PatronType::ALL
        .iter()
        .map(|t| format!("{} ({})", t.as_str(), patron_type_label(m, t.as_str())))
        .collect::<Vec<_>>()
        .join(", ");
    FormView::post("routing", "/admin/routing", m.save)
        .input(Input::new("groups", m.f_groups, "textarea", groups).hint(m.hint_groups))
        .input(
            Input::new("rules", m.f_rules, "textarea", rules)
                .hint(&format!("{} {types}", m.hint_rules)),
        )
        .input(
            Input::text("delivery_methods", m.f_accept_delivery, methods.0)
                .hint(m.hint_accept_delivery),
        )
        .input(
            Input::text("payment_methods", m.f_accept_payment, methods.1)
                .hint(m.hint_accept_payment),
        )
        .input(
            Input::text("express_within_days", m.f_express_within_days, express_days)
                .hint(m.hint_express_within_days),
        )
}

fn routing_page(ctx: &Ctx, form: FormView, notice: Option<String>) -> Response {
    let m = ctx.m;
    let mut page = AdminPage::new(m, ctx.chrome(), m.routing_title);
    back_to_admin(m, &mut page);
    page.intro = Some(m.routing_intro.to_owned());
    page.notice = notice;
    page.blocks.push(Block::form(form));
    respond(ctx, page)
}

/// `GET /admin/routing`: lender groups with their tiers and the rules that send at once.
pub async fn routing(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let q = query(q)?;
        let s = crate::flow::route::settings(&ctx.st, &a.library_id).await?;
        let (delivery, payment) = (s.delivery_methods.join(", "), s.payment_methods.join(", "));
        let express_days = s
            .express_within_days
            .map(|d| d.to_string())
            .unwrap_or_default();
        let form = routing_form(
            ctx.m,
            &groups_text(&s),
            &rules_text(&s),
            (&delivery, &payment),
            &express_days,
        );
        Ok(routing_page(&ctx, form, saved(ctx.m, &q)))
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/routing`: saved through the API's function.
pub async fn routing_save(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let (groups, rules) = (value(&p, "groups"), value(&p, "rules"));
        let (delivery, payment) = (value(&p, "delivery_methods"), value(&p, "payment_methods"));
        let methods = (delivery.as_str(), payment.as_str());
        let express_days = value(&p, "express_within_days");
        let mut form = routing_form(ctx.m, &groups, &rules, methods, &express_days);
        match parse_routing(ctx.m, &groups, &rules, methods, &express_days) {
            Err(errors) => {
                for (field, e) in errors {
                    form.field_error(field, e);
                }
            }
            Ok(settings) => match crate::api::routing::save_settings(&ctx.st, a, settings).await {
                Ok(_) => return Ok(see_other("/admin/routing?done=saved")),
                Err(e) => form.refusal(ctx.m, e)?,
            },
        }
        Ok(routing_page(&ctx, form, None))
    }
    .await;
    ctx.finish(r)
}

// ---------------------------------------------------------------------------------------
// Copyright and delivery terms

fn copyright_form(m: &'static Msg, p: &Pairs) -> FormView {
    let v = |k: &str| value(p, k);
    let compliance = v("compliance");
    FormView::post("copyright", "/admin/copyright", m.save)
        .input(
            Input::new(
                "declaration_zh",
                m.f_declaration_zh,
                "textarea",
                &v("declaration_zh"),
            )
            .required(),
        )
        .input(
            Input::new(
                "declaration_en",
                m.f_declaration_en,
                "textarea",
                &v("declaration_en"),
            )
            .required(),
        )
        .input(Input::new("limit", m.f_limit, "number", &v("limit")).hint(m.hint_limit))
        .input(
            Input::new(
                "window_years",
                m.f_window_years,
                "number",
                &v("window_years"),
            )
            .hint(m.hint_window_years),
        )
        .input(
            Input::new("compliance", m.f_compliance, "select", "").options(vec![
                Opt::new("CCG", m.ccg_label, compliance != "CCL"),
                Opt::new("CCL", m.ccl_label, compliance == "CCL"),
            ]),
        )
        .input(
            Input::new(
                "duplicate_window_days",
                m.f_duplicate_window,
                "number",
                &v("duplicate_window_days"),
            )
            .hint(m.hint_duplicate_window),
        )
}

fn settings_page(
    ctx: &Ctx,
    title: &str,
    intro: &str,
    form: FormView,
    notice: Option<String>,
) -> Response {
    let m = ctx.m;
    let mut page = AdminPage::new(m, ctx.chrome(), title);
    back_to_admin(m, &mut page);
    page.intro = Some(intro.to_owned());
    page.notice = notice;
    page.blocks.push(Block::form(form));
    respond(ctx, page)
}

/// `GET /admin/copyright`.
pub async fn copyright(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let q = query(q)?;
        let s = ctx.st.store.copyright_settings(&a.library_id).await?;
        let p: Pairs = [
            ("declaration_zh", s.declaration_zh),
            ("declaration_en", s.declaration_en),
            ("limit", s.limit.to_string()),
            ("window_years", s.window_years.to_string()),
            ("compliance", s.compliance.as_str().to_owned()),
            ("duplicate_window_days", s.duplicate_window_days.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let m = ctx.m;
        Ok(settings_page(
            &ctx,
            m.copyright_title,
            m.copyright_intro,
            copyright_form(m, &p),
            saved(m, &q),
        ))
    }
    .await;
    ctx.finish(r)
}

/// A whole number typed into `field`, or its error (kept for the form).
fn number(p: &Pairs, field: &'static str, errors: &mut Vec<domain::citation::FieldError>) -> u32 {
    let v = value(p, field);
    v.parse::<u32>().unwrap_or_else(|_| {
        errors.push(domain::citation::FieldError::new(
            field,
            "invalid_number",
            format!("{v:?} is not a whole number"),
        ));
        0
    })
}

/// `POST /admin/copyright`: saved through the API's function.
pub async fn copyright_save(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let m = ctx.m;
        let mut errors = Vec::new();
        let settings = CopyrightSettings {
            declaration_en: value(&p, "declaration_en"),
            declaration_zh: value(&p, "declaration_zh"),
            limit: number(&p, "limit", &mut errors),
            window_years: number(&p, "window_years", &mut errors),
            compliance: if value(&p, "compliance") == "CCL" {
                ComplianceCode::Ccl
            } else {
                ComplianceCode::Ccg
            },
            duplicate_window_days: number(&p, "duplicate_window_days", &mut errors),
        };
        let mut form = copyright_form(m, &p);
        let result = if errors.is_empty() {
            crate::api::copyright::save_settings(&ctx.st, a, settings).await
        } else {
            Err(ApiError::Invalid(errors))
        };
        match result {
            Ok(_) => Ok(see_other("/admin/copyright?done=saved")),
            Err(e) => {
                form.refusal(m, e)?;
                Ok(settings_page(
                    &ctx,
                    m.copyright_title,
                    m.copyright_intro,
                    form,
                    None,
                ))
            }
        }
    }
    .await;
    ctx.finish(r)
}

fn delivery_form(m: &'static Msg, p: &Pairs) -> FormView {
    FormView::post("delivery", "/admin/delivery", m.save)
        .input(
            Input::new("max_views", m.f_max_views, "number", &value(p, "max_views"))
                .hint(m.hint_max_views),
        )
        .input(Input::new("days", m.f_days, "number", &value(p, "days")).hint(m.hint_days))
        .input(
            Input::text(
                "trusted_senders",
                m.f_trusted_senders,
                &value(p, "trusted_senders"),
            )
            .hint(m.hint_trusted_senders),
        )
}

/// `GET /admin/delivery`.
pub async fn delivery(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let q = query(q)?;
        let own = ctx.st.store.delivery_settings(&a.library_id).await?;
        let s = crate::api::files::delivery_terms(own, &ctx.st.config);
        let p: Pairs = vec![
            (
                "max_views".to_owned(),
                s.max_views.map(|v| v.to_string()).unwrap_or_default(),
            ),
            ("days".to_owned(), s.days.to_string()),
            ("trusted_senders".to_owned(), s.trusted_senders.join(", ")),
        ];
        let m = ctx.m;
        Ok(settings_page(
            &ctx,
            m.delivery_title,
            m.delivery_intro,
            delivery_form(m, &p),
            saved(m, &q),
        ))
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/delivery`: saved through the API's function.
pub async fn delivery_save(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let m = ctx.m;
        let mut errors = Vec::new();
        let max_views = if value(&p, "max_views").is_empty() {
            None
        } else {
            Some(number(&p, "max_views", &mut errors))
        };
        let settings = DeliverySettings {
            max_views,
            days: number(&p, "days", &mut errors),
            trusted_senders: value(&p, "trusted_senders")
                .split([',', ' ', '，', '、', '\n'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        let result = if errors.is_empty() {
            crate::api::files::save_settings(&ctx.st, a, settings).await
        } else {
            Err(ApiError::Invalid(errors))
        };
        match result {
            Ok(_) => Ok(see_other("/admin/delivery?done=saved")),
            Err(e) => {
                let mut form = delivery_form(m, &p);
                form.refusal(m, e)?;
                Ok(settings_page(
                    &ctx,
                    m.delivery_title,
                    m.delivery_intro,
                    form,
                    None,
                ))
            }
        }
    }
    .await;
    ctx.finish(r)
}
