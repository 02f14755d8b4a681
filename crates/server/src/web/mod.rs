//! The web pages for readers and staff: server-rendered HTML (askama) that works without
//! JavaScript, with htmx (served from the project) for partial updates. Sessions are API tokens
//! kept in an HttpOnly cookie; cross-site form posts are refused by Sec-Fetch-Site / Origin.

pub mod accounts;
pub mod admin;
pub mod catalog;
pub mod chart;
pub mod forms;
pub mod holdings;
pub mod licences;
pub mod mail;
pub mod openurl;
pub mod reader;
pub mod reader_fees;
pub mod reset;
pub mod review;
pub mod session;
pub mod settings;
pub mod staff;
pub mod stats;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::Actor;
use domain::people::AccountStatus;

use crate::AppState;
use crate::auth::{CurrentUser, token_hash};
use crate::error::ApiError;
use crate::i18n::{Locale, negotiate};
use catalog::Msg;

pub const SESSION_COOKIE: &str = "librelay_session";
pub const LANG_COOKIE: &str = "librelay_lang";

/// The pages, with the cross-site check on every unsafe method.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/reset-password", get(reset::ask_page).post(reset::ask))
        .route(
            "/reset-password/{token}",
            get(reset::new_page).post(reset::set),
        )
        .route(
            "/register",
            get(accounts::register_get).post(accounts::register_post),
        )
        .route("/lang", post(switch_language))
        .route("/start", get(start))
        .route("/openurl", get(reader::openurl))
        .route("/my/requests", get(reader::my_requests))
        .route(
            "/my/requests/new",
            get(reader::new_form).post(reader::create),
        )
        .route("/requests/{id}", get(reader::detail))
        .route("/requests/{id}/act", post(reader::act))
        .route("/requests/{id}/copy", get(reader::copy))
        .route("/requests/{id}/clearance", post(review::clear))
        .route("/requests/{id}/fill-from-copy", post(review::fill))
        .route("/requests/{id}/fill-from-link", post(licences::fill))
        .route("/requests/{id}/partner-answer", post(mail::answer))
        .route("/staff/mail", get(mail::unmatched))
        .route("/staff/mail/{id}/file", post(mail::file))
        .route("/staff/readers", get(accounts::readers))
        .route(
            "/staff/readers/{id}/approve",
            post(accounts::approve_reader),
        )
        .route("/staff/readers/{id}/reject", post(accounts::reject_reader))
        .route("/admin", get(admin::home))
        .route(
            "/admin/users",
            get(accounts::users).post(accounts::create_user),
        )
        .route("/admin/users/{id}/roles", post(accounts::change_roles))
        .route("/admin/users/{id}/disable", post(accounts::disable_user))
        .route("/admin/users/{id}/enable", post(accounts::enable_user))
        .route("/admin/partners", get(admin::partners))
        .route(
            "/admin/partners/new",
            get(admin::partner_new).post(admin::partner_create),
        )
        .route("/admin/partners/import", post(admin::partner_import))
        .route(
            "/admin/partners/{code}",
            get(admin::partner_edit).post(admin::partner_save),
        )
        .route(
            "/admin/closed-days",
            get(admin::closed_days).post(admin::closed_days_save),
        )
        .route(
            "/admin/routing",
            get(admin::routing).post(admin::routing_save),
        )
        .route(
            "/admin/copyright",
            get(admin::copyright).post(admin::copyright_save),
        )
        .route(
            "/admin/licences",
            // A publisher's KBART file may be larger than an ordinary form: up to the size of
            // a delivered copy, like the API's import.
            get(licences::licences).post(licences::upload).layer(
                axum::extract::DefaultBodyLimit::max(
                    state.config.max_file_bytes.max(state.config.max_body_bytes),
                ),
            ),
        )
        .route(
            "/admin/holdings",
            // A library's holdings file is larger than an ordinary form: up to the size of a
            // delivered copy, like the licences page.
            get(holdings::holdings).post(holdings::upload).layer(
                axum::extract::DefaultBodyLimit::max(
                    state.config.max_file_bytes.max(state.config.max_body_bytes),
                ),
            ),
        )
        .route(
            "/admin/delivery",
            get(admin::delivery).post(admin::delivery_save),
        )
        .route("/admin/fees", get(settings::fees).post(settings::fees_save))
        .route("/admin/fees/corrections", post(settings::correction_save))
        .route(
            "/admin/reader-fees",
            get(reader_fees::show).post(reader_fees::save),
        )
        .route(
            "/admin/reader-fees/deposits",
            post(reader_fees::deposit_save),
        )
        .route(
            "/admin/fees/statements/{month}/{file}",
            get(settings::statement),
        )
        .route("/admin/letters", get(settings::letters))
        .route("/admin/letters/settings", post(settings::letter_rules_save))
        .route(
            "/admin/letters/{kind}/{locale}",
            get(settings::letter).post(settings::letter_save),
        )
        .route(
            "/admin/letters/{kind}/{locale}/reset",
            post(settings::letter_reset),
        )
        .route("/staff/stats", get(stats::page))
        .route("/staff/stats/export", get(stats::export))
        .route("/admin/evaluation", get(stats::evaluation))
        .route("/staff/borrowing", get(staff::borrowing))
        .route(
            "/staff/borrowing/new",
            get(reader::new_form).post(reader::create),
        )
        .route("/staff/borrowing/bulk", post(staff::borrowing_bulk))
        .route("/staff/borrowing/{id}/act", post(staff::borrowing_act))
        .route(
            "/staff/borrowing/{id}/assign",
            post(staff::borrowing_assign),
        )
        .route(
            "/staff/borrowing/{id}/release",
            post(staff::borrowing_release),
        )
        .route("/staff/borrowing/{id}/note", post(staff::borrowing_note))
        .route("/staff/borrowing/{id}/close", post(staff::borrowing_close))
        .route("/staff/lending", get(staff::lending))
        .route("/staff/lending/bulk", post(staff::lending_bulk))
        .route("/staff/lending/{id}", get(staff::lend_detail))
        .route("/staff/lending/{id}/slip", get(staff::lend_slip))
        .route(
            "/staff/lending/{id}/slip/printed",
            post(staff::lend_slip_printed),
        )
        .route("/staff/lending/{id}/act", post(staff::lending_act))
        .route(
            "/staff/lending/{id}/ship-file",
            // The copy streams into the store, held to its own limit there (max_file_bytes);
            // the route lets that much through, with room for the form's other fields.
            post(staff::lending_ship_file).layer(axum::extract::DefaultBodyLimit::max(
                state.config.max_file_bytes.saturating_add(64 * 1024),
            )),
        )
        .route("/staff/lending/{id}/assign", post(staff::lending_assign))
        .route("/staff/lending/{id}/release", post(staff::lending_release))
        .route("/staff/lending/{id}/note", post(staff::lending_note))
        .route("/staff/lending/{id}/close", post(staff::lending_close))
        .route("/staff/lending/{id}/labels", post(staff::lending_label))
        .route(
            "/staff/lending/slips",
            get(staff::lending_slips).post(staff::lending_slips),
        )
        .route("/static/web.css", get(css))
        .route("/static/htmx.min.js", get(htmx))
        .route("/static/htmx.LICENSE", get(htmx_license))
        .layer(axum::middleware::from_fn(refuse_cross_site))
        .with_state(state)
}

/// Everything a page needs about who asks and in which language.
pub struct Ctx {
    pub st: AppState,
    pub m: &'static Msg,
    pub user: Option<CurrentUser>,
    pub display_name: String,
    /// Path and query of this request, to come back to after a language switch or login.
    pub path: String,
    /// An htmx request that wants a fragment, not a whole page.
    pub htmx: bool,
}

/// One cookie's value from the Cookie headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The remembered choice, else the browser's Accept-Language.
pub fn locale_of(headers: &HeaderMap) -> Locale {
    match cookie(headers, LANG_COOKIE) {
        Some("zh-CN") => Locale::ZhCn,
        Some("en") => Locale::En,
        _ => negotiate(
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        ),
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let m = Msg::for_locale(locale_of(&parts.headers));
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let htmx = parts.headers.contains_key("hx-request")
            && !parts.headers.contains_key("hx-history-restore-request");
        let mut ctx = Ctx {
            st: st.clone(),
            m,
            user: None,
            display_name: String::new(),
            path,
            htmx,
        };
        if let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty()) {
            let hash = token_hash(token);
            match st.store.token_owner(&hash, st.now()).await {
                Ok(Some(row)) if row.status == AccountStatus::Active.as_str() => {
                    match CurrentUser::from_row(&row, hash) {
                        Ok(u) => {
                            ctx.display_name = row.display_name.clone();
                            ctx.user = Some(u);
                        }
                        Err(e) => return Err(ctx.error(WebError::Api(e))),
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(ctx.error(WebError::Api(ApiError::from(e)))),
            }
        }
        Ok(ctx)
    }
}

/// What can go wrong in a page handler.
#[derive(Debug)]
pub enum WebError {
    Api(ApiError),
    /// Not logged in: go to the login page and come back.
    Login,
    /// Input the pages themselves refuse: what is wrong, from the catalog, and any technical
    /// detail (a parser's words) after it.
    Bad(fn(&Msg) -> &'static str, Option<String>),
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError::Api(e)
    }
}

impl From<store::StoreError> for WebError {
    fn from(e: store::StoreError) -> Self {
        WebError::Api(e.into())
    }
}

pub type WebResult<T> = Result<T, WebError>;

/// A query string as a handler takes it, so that a malformed one is a clear 400, not axum's.
pub type QueryIn<T> = Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>;

/// The parsed query, or the error that says which parameter was wrong.
pub fn query<T>(q: QueryIn<T>) -> WebResult<T> {
    q.map(|axum::extract::Query(v)| v)
        .map_err(|e| WebError::Bad(|m| m.err_bad_address, Some(e.body_text())))
}

/// A menu entry.
pub struct MenuItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The frame around every page: language, who is logged in, the menu for their role.
pub struct Chrome {
    pub lang: &'static str,
    pub path: String,
    pub user: Option<String>,
    pub menu: Vec<MenuItem>,
}

impl Ctx {
    pub fn user(&self) -> WebResult<&CurrentUser> {
        self.user.as_ref().ok_or(WebError::Login)
    }

    /// The menu: each role sees what it may do and nothing else.
    pub fn chrome(&self) -> Chrome {
        let m = self.m;
        let mut menu = Vec::new();
        if let Some(u) = &self.user {
            let mut add = |href: &'static str, label: &'static str| {
                let path = self.path.split('?').next().unwrap_or_default();
                menu.push(MenuItem {
                    href,
                    label,
                    current: path == href,
                });
            };
            if u.is_patron() {
                add("/my/requests", m.nav_my_requests);
                add("/my/requests/new", m.nav_new_request);
            }
            if u.can(Actor::BorrowingStaff) {
                add("/staff/borrowing", m.nav_borrowing);
                add("/staff/borrowing/new", m.nav_request_for_reader);
                add("/staff/mail", m.pick("Unmatched mail", "未归档邮件"));
                add("/staff/stats", m.pick("Statistics", "统计"));
            }
            if u.can(Actor::LendingStaff) {
                add("/staff/lending", m.nav_lending);
            }
            if crate::api::patrons::require_staff(u).is_ok() {
                add("/staff/readers", m.nav_readers);
            }
            if u.roles.iter().any(|r| r.is_admin()) {
                add("/admin", m.nav_admin);
            }
        }
        Chrome {
            lang: m.lang,
            path: self.path.clone(),
            user: self.user.as_ref().map(|_| self.display_name.clone()),
            menu,
        }
    }

    /// The page for an error, in the reader's language; 5xx causes go to the log only.
    pub fn error(&self, e: WebError) -> Response {
        let m = self.m;
        let (status, message, detail) = match e {
            WebError::Login => {
                let to = format!("/login?next={}", percent_encode(&self.path));
                return see_other(&to);
            }
            WebError::Bad(what, detail) => {
                let text = match detail {
                    Some(d) => format!("{} {d}", what(m)),
                    None => what(m).to_owned(),
                };
                (StatusCode::BAD_REQUEST, m.err_bad_request, Some(text))
            }
            WebError::Api(e) => match e {
                ApiError::NotFound(_) => (StatusCode::NOT_FOUND, m.err_not_found, None),
                ApiError::Forbidden(_) | ApiError::Unauthenticated | ApiError::BadCredentials => {
                    (StatusCode::FORBIDDEN, m.err_forbidden, None)
                }
                ApiError::Refused(domain::Refusal::NotAllowed { .. }) => {
                    (StatusCode::CONFLICT, m.err_not_allowed, None)
                }
                ApiError::Refused(domain::Refusal::Forbidden { .. }) => {
                    (StatusCode::FORBIDDEN, m.err_action_forbidden, None)
                }
                ApiError::Conflict(_) => (StatusCode::CONFLICT, m.err_conflict, None),
                ApiError::BadRequest(msg) => {
                    (StatusCode::BAD_REQUEST, m.err_bad_request, Some(msg))
                }
                ApiError::Gone(_, msg) => (StatusCode::GONE, m.err_bad_request, Some(msg)),
                ApiError::Unacceptable(status, _, msg) => (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                    m.err_bad_request,
                    Some(msg),
                ),
                ApiError::Invalid(fields) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    m.err_bad_request,
                    Some(
                        fields
                            .iter()
                            .map(|f| m.field_error_of(f))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                ),
                ApiError::Bilingual(status, _, en, zh) => (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                    // The heading follows the kind of refusal; the sentence says which.
                    match status {
                        403 => m.err_forbidden,
                        404 => m.err_not_found,
                        409 => m.err_not_allowed,
                        _ => m.err_bad_request,
                    },
                    Some(if m.lang == "en" { en } else { zh }),
                ),
                ApiError::Internal(cause) => {
                    let id = uuid::Uuid::new_v4().to_string();
                    tracing::error!(request_id = %id, error = ?cause, "internal error in a page");
                    (StatusCode::INTERNAL_SERVER_ERROR, m.err_internal, Some(id))
                }
            },
        };
        let page = ErrorPage {
            m,
            ch: self.chrome(),
            message,
            detail,
        };
        self.respond(status, page)
    }

    /// A rendered page with its status and language.
    pub fn respond(&self, status: StatusCode, page: impl IntoResponse) -> Response {
        let mut resp = (status, page).into_response();
        resp.headers_mut().insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(self.m.lang),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    pub fn page(&self, page: impl IntoResponse) -> Response {
        self.respond(StatusCode::OK, page)
    }

    /// Turn a handler's result into the response.
    pub fn finish(&self, r: WebResult<Response>) -> Response {
        r.unwrap_or_else(|e| self.error(e))
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub message: &'static str,
    pub detail: Option<String>,
}

/// Percent-encoding of everything but unreserved characters, for a path carried in a query.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// 303 See Other to `to`. Unlike `Redirect::to`, a value that cannot be a header (it would
/// have to come from a bad `next` or `back`) leads home instead of panicking.
pub fn see_other(to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/start"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// A path on this site to go back to; anything else (another host, `//evil`) becomes `None`.
pub fn local_path(p: &str) -> Option<&str> {
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && !p.chars().any(|c| c.is_control());
    ok.then_some(p)
}

/// A `Set-Cookie` value with the attributes every librelay cookie has.
pub fn set_cookie(
    st: &AppState,
    name: &str,
    value: &str,
    max_age_secs: i64,
    http_only: bool,
) -> String {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age_secs}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if st.config.cookie_secure {
        c.push_str("; Secure");
    }
    c
}

/// Where a user starts after logging in: the first entry of their menu.
async fn start(ctx: Ctx) -> Response {
    let r = start_page(&ctx);
    ctx.finish(r)
}

fn start_page(ctx: &Ctx) -> WebResult<Response> {
    ctx.user()?;
    match ctx.chrome().menu.first() {
        Some(item) => Ok(see_other(item.href)),
        None => Err(WebError::Api(ApiError::Forbidden(
            "no page for this role".to_owned(),
        ))),
    }
}

#[derive(serde::Deserialize)]
struct LangForm {
    to: String,
    #[serde(default)]
    back: String,
}

/// Remember the chosen language in a cookie and go back to the page.
async fn switch_language(
    ctx: Ctx,
    form: Result<axum::Form<LangForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = match form {
        Ok(axum::Form(f)) => f,
        Err(e) => return ctx.error(WebError::Bad(|m| m.err_bad_form, Some(e.body_text()))),
    };
    let tag = match form.to.as_str() {
        "zh-CN" => "zh-CN",
        "en" => "en",
        _ => return ctx.error(WebError::Bad(|m| m.err_bad_language, None)),
    };
    let back = local_path(&form.back).unwrap_or("/login");
    let mut resp = see_other(back);
    let cookie = set_cookie(&ctx.st, LANG_COOKIE, tag, 365 * 24 * 3600, true);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Unsafe methods from another site are refused (the CSRF defence): the browser's
/// Sec-Fetch-Site when it sends one, else Origin against Host. Requests with neither come from
/// programs, not from a page on another site, and carry no ambient cookie to abuse.
async fn refuse_cross_site(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || !is_cross_site(req.headers()) {
        return next.run(req).await;
    }
    let m = Msg::for_locale(locale_of(req.headers()));
    tracing::warn!(path = %req.uri().path(), "refused a cross-site form post");
    let page = ErrorPage {
        m,
        ch: Chrome {
            lang: m.lang,
            path: "/login".to_owned(),
            user: None,
            menu: Vec::new(),
        },
        message: m.err_cross_site,
        detail: None,
    };
    let mut resp = (StatusCode::FORBIDDEN, page).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(m.lang));
    resp
}

/// A browser navigating (Accept names text/html), as opposed to a program calling the API.
pub fn wants_html(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// The "no such page" page, in the browser's language, for addresses no route knows.
pub fn not_found_page(h: &HeaderMap) -> Response {
    let m = Msg::for_locale(locale_of(h));
    let page = ErrorPage {
        m,
        ch: Chrome {
            lang: m.lang,
            path: "/start".to_owned(),
            user: None,
            menu: Vec::new(),
        },
        message: m.err_not_found,
        detail: None,
    };
    let mut resp = (StatusCode::NOT_FOUND, page).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(m.lang));
    resp
}

pub fn is_cross_site(h: &HeaderMap) -> bool {
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = h.get(header::ORIGIN) else {
        return false;
    };
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        _ => true,
    }
}

const CSS: &str = include_str!("../../static/web.css");
const HTMX: &str = include_str!("../../static/htmx.min.js");
const HTMX_LICENSE: &str = include_str!("../../static/htmx.LICENSE");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn htmx_license() -> Response {
    asset("text/plain; charset=utf-8", HTMX_LICENSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn cross_site_posts_are_told_apart() {
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!is_cross_site(&headers(&[("host", "a.example:8080")])));
        assert!(!is_cross_site(&headers(&[
            ("host", "a.example:8080"),
            ("origin", "http://a.example:8080")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "a.example:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "a.example"),
            ("origin", "null")
        ])));
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/my/requests?x=1"), Some("/my/requests?x=1"));
        assert_eq!(local_path("//evil.example/"), None);
        assert_eq!(local_path("https://evil.example/"), None);
        assert_eq!(local_path("/\\evil.example"), None);
    }

    #[test]
    fn the_language_cookie_wins_over_the_browser() {
        let h = headers(&[
            ("cookie", "a=b; librelay_lang=zh-CN"),
            ("accept-language", "en"),
        ]);
        assert_eq!(locale_of(&h), Locale::ZhCn);
        assert_eq!(
            locale_of(&headers(&[("accept-language", "zh")])),
            Locale::ZhCn
        );
        assert_eq!(locale_of(&headers(&[])), Locale::En);
    }
}
