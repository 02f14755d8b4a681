//! Accounts in the pages: a reader registers (`/register`), staff approve or refuse the
//! registrations waiting (`/staff/readers`), and a library's admins keep its accounts and roles
//! (`/admin/users`). Each page calls the same functions as the JSON API.

use axum::Form;
use axum::extract::Path;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use domain::people::{AccountStatus, PatronType, Role, UserKind};
use serde::Deserialize;

use super::catalog::Msg;
use super::forms::{AdminPage, Block, Cell, FormView, Input, Opt, TableView};
use super::reader::when;
use super::{Ctx, QueryIn, WebError, WebResult, percent_encode, query, see_other};
use crate::api::patrons::{Registration, register_reader, require_staff, set_status};
use crate::auth::CurrentUser;
use crate::error::ApiError;

/// A form as posted: every field by name, repeated ones (checkboxes) kept in order.
pub type Pairs = Vec<(String, String)>;

pub fn value(pairs: &Pairs, key: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

pub fn values(pairs: &Pairs, key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The posted pairs, or the page saying the form could not be read.
pub fn pairs(form: Result<Form<Pairs>, FormRejection>) -> WebResult<Pairs> {
    form.map(|Form(p)| p)
        .map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))
}

pub fn patron_type_label(m: &Msg, t: &str) -> String {
    let zh = m.lang == "zh-CN";
    let (en, cn) = match PatronType::parse(t) {
        Some(PatronType::Faculty) => ("Faculty", "教师"),
        Some(PatronType::Phd) => ("PhD student", "博士生"),
        Some(PatronType::Master) => ("Master's student", "硕士生"),
        Some(PatronType::Undergraduate) => ("Undergraduate", "本科生"),
        Some(PatronType::Staff) => ("Library or university staff", "教职工"),
        Some(PatronType::External) => ("External reader", "校外读者"),
        None => return t.to_owned(),
    };
    if zh { cn } else { en }.to_owned()
}

pub fn role_label(m: &Msg, r: Role) -> &'static str {
    let (en, zh) = match r {
        Role::BorrowingOperator => ("Borrowing operator", "借入馆员"),
        Role::LendingOperator => ("Lending operator", "借出馆员"),
        Role::ResourceSharingManager => ("Resource sharing manager", "资源共享主管"),
        Role::LibraryAdmin => ("Library admin", "图书馆管理员"),
        Role::HubAdmin => ("Hub admin", "联盟管理员"),
    };
    if m.lang == "zh-CN" { zh } else { en }
}

fn status_label(m: &Msg, s: &str) -> String {
    match AccountStatus::parse(s) {
        Some(AccountStatus::Pending) => m.status_pending.to_owned(),
        Some(AccountStatus::Active) => m.status_active.to_owned(),
        Some(AccountStatus::Suspended) => m.status_suspended.to_owned(),
        None => s.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Registration

async fn register_form(ctx: &Ctx, p: &Pairs) -> WebResult<FormView> {
    let m = ctx.m;
    let zh = m.lang == "zh-CN";
    let chosen = value(p, "library").to_uppercase();
    let libraries = ctx
        .st
        .store
        .libraries()
        .await?
        .into_iter()
        .filter(|l| !matches!(l.kind.as_str(), "hub" | "supplier"))
        .map(|l| {
            let label = format!(
                "{} ({})",
                if zh { &l.name_zh } else { &l.name_en },
                l.library_id
            );
            Opt::new(l.library_id.clone(), label, l.library_id == chosen)
        });
    let mut libs = vec![Opt::new("", m.choose_one, chosen.is_empty())];
    libs.extend(libraries);
    let ptype = value(p, "patron_type");
    let mut types = vec![Opt::new("", m.choose_one, ptype.is_empty())];
    types.extend(PatronType::ALL.iter().map(|t| {
        Opt::new(
            t.as_str(),
            patron_type_label(m, t.as_str()),
            t.as_str() == ptype,
        )
    }));
    let locale = match value(p, "locale").as_str() {
        "" => m.lang.to_owned(),
        l => l.to_owned(),
    };
    Ok(FormView::post("register", "/register", m.register_submit)
        .input(
            Input::new("library", m.f_library, "select", "")
                .options(libs)
                .required(),
        )
        .input(
            Input::text("username", m.username, &value(p, "username"))
                .hint(m.hint_username)
                .autocomplete("username")
                .required(),
        )
        .input(
            Input::text("display_name", m.f_display_name, &value(p, "display_name"))
                .autocomplete("name")
                .required(),
        )
        .input(Input::new("email", m.f_email, "email", &value(p, "email")).autocomplete("email"))
        .input(
            Input::new("password", m.new_password, "password", "")
                .autocomplete("new-password")
                .required(),
        )
        .input(
            Input::new("patron_type", m.f_patron_type, "select", "")
                .options(types)
                .required(),
        )
        .input(Input::text(
            "department",
            m.f_department,
            &value(p, "department"),
        ))
        .input(Input::new("locale", m.f_locale, "select", "").options(vec![
            Opt::new("zh-CN", "中文", locale == "zh-CN"),
            Opt::new("en", "English", locale == "en"),
        ])))
}

fn register_page(ctx: &Ctx, form: FormView) -> Response {
    let mut page = AdminPage::new(ctx.m, ctx.chrome(), ctx.m.register_title);
    page.intro = Some(ctx.m.register_intro.to_owned());
    page.links
        .push(("/login".to_owned(), ctx.m.log_in.to_owned()));
    page.blocks.push(Block::form(form));
    let status = if page.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    ctx.respond(status, page)
}

/// `GET /register`: the registration form, for anyone.
pub async fn register_get(ctx: Ctx) -> Response {
    let r = async {
        let form = register_form(&ctx, &Vec::new()).await?;
        Ok(register_page(&ctx, form))
    }
    .await;
    ctx.finish(r)
}

/// `POST /register`: register through the API's function; the account waits for staff.
#[tracing::instrument(skip_all)]
pub async fn register_post(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let p = pairs(form)?;
        let reg = Registration {
            library: value(&p, "library"),
            username: value(&p, "username"),
            // Passwords are taken as typed: spaces may be part of them.
            password: p
                .iter()
                .find(|(k, _)| k == "password")
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            display_name: value(&p, "display_name"),
            email: Some(value(&p, "email")),
            patron_type: value(&p, "patron_type"),
            department: Some(value(&p, "department")),
            locale: Some(value(&p, "locale")).filter(|l| !l.is_empty()),
        };
        match register_reader(&ctx.st, reg).await {
            Ok(_) => Ok(see_other("/login?registered=1")),
            Err(ApiError::Conflict(_) | ApiError::Bilingual(409, ..)) => {
                let mut f = register_form(&ctx, &p).await?;
                f.field_error("username", ctx.m.err_username_taken.to_owned());
                Ok(register_page(&ctx, f))
            }
            Err(e) => {
                let mut f = register_form(&ctx, &p).await?;
                f.refusal(ctx.m, e)?;
                Ok(register_page(&ctx, f))
            }
        }
    }
    .await;
    ctx.finish(r)
}

// ---------------------------------------------------------------------------------------
// Registrations waiting for staff

fn reader_staff(ctx: &Ctx) -> WebResult<&CurrentUser> {
    let u = ctx.user()?;
    require_staff(u)?;
    Ok(u)
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    pub done: Option<String>,
}

/// `GET /staff/readers`: the readers who registered and wait, with approve and refuse.
pub async fn readers(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let user = reader_staff(&ctx)?;
        let q = query(q)?;
        let m = ctx.m;
        let users = ctx.st.store.users(&user.library_id).await?;
        let rows = users
            .into_iter()
            .filter(|u| {
                u.kind == UserKind::Patron.as_str() && u.status == AccountStatus::Pending.as_str()
            })
            .map(|u| {
                let base = format!("/staff/readers/{}", percent_encode(&u.user_id));
                vec![
                    Cell::code(u.username),
                    Cell::text(u.display_name),
                    Cell::text(
                        u.patron_type
                            .as_deref()
                            .map(|t| patron_type_label(m, t))
                            .unwrap_or_default(),
                    ),
                    Cell::text(u.department.unwrap_or_default()),
                    Cell::text(u.email.unwrap_or_default()),
                    Cell::text(when(u.created_at)),
                    Cell::default()
                        .button(&format!("{base}/approve"), m.approve_reader, &[])
                        .button(&format!("{base}/reject"), m.reject_reader, &[]),
                ]
            })
            .collect();
        let mut page = AdminPage::new(m, ctx.chrome(), m.readers_title);
        page.intro = Some(m.readers_intro.to_owned());
        page.notice = match q.done.as_deref() {
            Some("approved") => Some(m.reader_approved.to_owned()),
            Some("rejected") => Some(m.reader_rejected.to_owned()),
            _ => None,
        };
        page.blocks.push(Block::table(TableView {
            caption: None,
            headers: vec![
                m.username.to_owned(),
                m.f_display_name.to_owned(),
                m.f_patron_type.to_owned(),
                m.f_department.to_owned(),
                m.f_email.to_owned(),
                m.registered_at.to_owned(),
                m.col_actions.to_owned(),
            ],
            rows,
            empty: m.no_pending_readers.to_owned(),
        }));
        Ok(ctx.page(page))
    }
    .await;
    ctx.finish(r)
}

async fn reader_decision(ctx: Ctx, id: String, status: AccountStatus, done: &str) -> Response {
    let r = async {
        let user = reader_staff(&ctx)?;
        set_status(&ctx.st, user, &id, status).await?;
        Ok(see_other(&format!("/staff/readers?done={done}")))
    }
    .await;
    ctx.finish(r)
}

pub async fn approve_reader(ctx: Ctx, Path(id): Path<String>) -> Response {
    reader_decision(ctx, id, AccountStatus::Active, "approved").await
}

pub async fn reject_reader(ctx: Ctx, Path(id): Path<String>) -> Response {
    reader_decision(ctx, id, AccountStatus::Suspended, "rejected").await
}

// ---------------------------------------------------------------------------------------
// Users and roles

pub fn admin(ctx: &Ctx) -> WebResult<&CurrentUser> {
    let u = ctx.user()?;
    if u.roles.iter().any(|r| r.is_admin()) {
        Ok(u)
    } else {
        Err(WebError::Api(ApiError::Forbidden(
            "this page is for the library's admins".to_owned(),
        )))
    }
}

/// The roles an admin may give: all but hub admin, which only a hub admin gives.
fn grantable(admin: &CurrentUser) -> impl Iterator<Item = Role> + '_ {
    Role::ALL
        .iter()
        .copied()
        .filter(|r| *r != Role::HubAdmin || admin.roles.contains(&Role::HubAdmin))
}

fn role_boxes(m: &'static Msg, admin: &CurrentUser, chosen: &[String]) -> Vec<Opt> {
    grantable(admin)
        .map(|r| {
            Opt::new(
                r.as_str(),
                role_label(m, r),
                chosen.iter().any(|c| c == r.as_str()),
            )
        })
        .collect()
}

fn new_staff_form(m: &'static Msg, admin: &CurrentUser, p: &Pairs) -> FormView {
    FormView::post("new-staff", "/admin/users", m.add_staff)
        .heading(m.add_staff)
        .input(
            Input::text("username", m.username, &value(p, "username"))
                .hint(m.hint_username)
                .required(),
        )
        .input(Input::text("display_name", m.f_display_name, &value(p, "display_name")).required())
        .input(Input::new("email", m.f_email, "email", &value(p, "email")))
        .input(
            Input::new("password", m.new_password, "password", "")
                .autocomplete("new-password")
                .required(),
        )
        .input(
            Input::new("roles", m.f_roles, "checkboxes", "")
                .options(role_boxes(m, admin, &values(p, "roles")))
                .required(),
        )
}

#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    pub done: Option<String>,
}

/// A refused role change: the account, the roles as ticked, and why.
struct RolesRefused {
    user_id: String,
    ticked: Vec<String>,
    error: ApiError,
}

async fn users_page(
    ctx: &Ctx,
    admin: &CurrentUser,
    new_form: FormView,
    notice: Option<String>,
    error: Option<String>,
    mut refused: Option<RolesRefused>,
) -> WebResult<Response> {
    let m = ctx.m;
    let users = ctx.st.store.users(&admin.library_id).await?;
    let mut rows = Vec::new();
    for u in users {
        let base = format!("/admin/users/{}", percent_encode(&u.user_id));
        let staff = u.kind == UserKind::Staff.as_str();
        let roles = domain::people::parse_roles(&u.roles).unwrap_or_default();
        let mut actions = Cell::default();
        if u.user_id != admin.user_id {
            actions = if u.status == AccountStatus::Suspended.as_str() {
                actions.button(&format!("{base}/enable"), m.enable_account, &[])
            } else if u.status == AccountStatus::Active.as_str() {
                actions.button(&format!("{base}/disable"), m.disable_account, &[])
            } else {
                actions
            };
        }
        let roles_cell = if staff {
            let chosen: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
            // A refused change comes back on its own row, as ticked, with the reason there.
            let this = refused.take_if(|r| r.user_id == u.user_id);
            let ticked = this.as_ref().map_or(&chosen, |r| &r.ticked);
            let mut form = FormView::post(
                &format!("roles-{}", u.user_id),
                &format!("{base}/roles"),
                m.change_roles,
            )
            .input(
                Input::new("roles", m.f_roles, "checkboxes", "")
                    .options(role_boxes(m, admin, ticked)),
            )
            .inline();
            if let Some(r) = this {
                form.refusal(m, r.error)?;
            }
            Cell::default().form(form)
        } else {
            Cell::text(
                u.patron_type
                    .as_deref()
                    .map(|t| patron_type_label(m, t))
                    .unwrap_or_default(),
            )
        };
        rows.push(vec![
            Cell::code(u.username),
            Cell::text(u.display_name),
            Cell::text(if staff { m.kind_staff } else { m.kind_reader }),
            roles_cell,
            Cell::text(status_label(m, &u.status)),
            actions,
        ]);
    }
    let mut page = AdminPage::new(m, ctx.chrome(), m.users_title);
    page.intro = Some(m.users_intro.to_owned());
    page.links
        .push(("/admin".to_owned(), m.nav_admin.to_owned()));
    page.notice = notice;
    page.error = error;
    page.blocks.push(Block::table(TableView {
        caption: None,
        headers: vec![
            m.username.to_owned(),
            m.f_display_name.to_owned(),
            m.col_kind.to_owned(),
            m.f_roles_or_type.to_owned(),
            m.col_state.to_owned(),
            m.col_actions.to_owned(),
        ],
        rows,
        empty: String::new(),
    }));
    page.blocks.push(Block::form(new_form));
    let status = if page.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.respond(status, page))
}

fn done_notice(m: &'static Msg, done: Option<&str>) -> Option<String> {
    done.map(|_| m.saved.to_owned())
}

/// `GET /admin/users`: the library's accounts, their roles and status, and a form to add staff.
pub async fn users(ctx: Ctx, q: QueryIn<UsersQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let q = query(q)?;
        let form = new_staff_form(ctx.m, a, &Vec::new());
        users_page(
            &ctx,
            a,
            form,
            done_notice(ctx.m, q.done.as_deref()),
            None,
            None,
        )
        .await
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/users`: add a staff member; bad fields come back next to their inputs.
#[tracing::instrument(skip_all)]
pub async fn create_user(ctx: Ctx, form: Result<Form<Pairs>, FormRejection>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let input = crate::accounts::NewStaff {
            username: value(&p, "username"),
            display_name: value(&p, "display_name"),
            password: p
                .iter()
                .find(|(k, _)| k == "password")
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            email: Some(value(&p, "email")),
            roles: values(&p, "roles"),
        };
        match crate::accounts::create_staff(&ctx.st, a, input).await {
            Ok(_) => Ok(see_other("/admin/users?done=created")),
            Err(e) => {
                let mut f = new_staff_form(ctx.m, a, &p);
                f.refusal(ctx.m, e)?;
                users_page(&ctx, a, f, None, None, None).await
            }
        }
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/users/{id}/roles`.
pub async fn change_roles(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<Form<Pairs>, FormRejection>,
) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let p = pairs(form)?;
        let ticked = values(&p, "roles");
        match crate::accounts::set_roles(&ctx.st, a, &id, &ticked).await {
            Ok(_) => Ok(see_other("/admin/users?done=roles")),
            Err(e @ (ApiError::Invalid(_) | ApiError::Conflict(_) | ApiError::Bilingual(..))) => {
                let form = new_staff_form(ctx.m, a, &Vec::new());
                let refused = RolesRefused {
                    user_id: id,
                    ticked,
                    error: e,
                };
                users_page(&ctx, a, form, None, None, Some(refused)).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    ctx.finish(r)
}

async fn account_status(ctx: Ctx, id: String, status: AccountStatus) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let done = crate::accounts::set_account_status(&ctx.st, a, &id, status).await;
        match done {
            Ok(_) => Ok(see_other("/admin/users?done=status")),
            Err(e @ (ApiError::Invalid(_) | ApiError::Conflict(_) | ApiError::Bilingual(..))) => {
                let error = super::staff::refusal_text(ctx.m, &e);
                let form = new_staff_form(ctx.m, a, &Vec::new());
                users_page(&ctx, a, form, None, Some(error), None).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    ctx.finish(r)
}

pub async fn disable_user(ctx: Ctx, Path(id): Path<String>) -> Response {
    account_status(ctx, id, AccountStatus::Suspended).await
}

pub async fn enable_user(ctx: Ctx, Path(id): Path<String>) -> Response {
    account_status(ctx, id, AccountStatus::Active).await
}
