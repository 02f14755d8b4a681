//! Logging in and out of the web pages. A session is an API token (random, stored as its
//! SHA-256 hash in `api_token`, expiring and revocable) carried in an HttpOnly, SameSite=Lax
//! cookie, so the pages and the JSON API share one account model and one revocation.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::Query;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use domain::people::AccountStatus;
use serde::Deserialize;

use super::catalog::Msg;
use super::{Chrome, Ctx, SESSION_COOKIE, WebError, local_path, see_other, set_cookie};
use crate::auth::{new_token, verify_password};

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub next: String,
    pub username: String,
    pub error: Option<&'static str>,
    pub notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub out: Option<String>,
    /// Back from setting a new password.
    #[serde(default)]
    pub reset: Option<String>,
    /// Back from registering.
    #[serde(default)]
    pub registered: Option<String>,
}

pub async fn login_page(ctx: Ctx, q: super::QueryIn<LoginQuery>) -> Response {
    // A mangled `next` is no reason to refuse the login page itself.
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let next = q
        .next
        .as_deref()
        .and_then(local_path)
        .unwrap_or_default()
        .to_owned();
    let notice = if q.registered.is_some() {
        Some(ctx.m.register_done)
    } else if q.reset.is_some() {
        Some(ctx.m.reset_done)
    } else if q.out.is_some() {
        Some(ctx.m.logged_out)
    } else if !next.is_empty() {
        Some(ctx.m.login_needed)
    } else {
        None
    };
    let page = LoginPage {
        m: ctx.m,
        ch: ctx.chrome(),
        next,
        username: String::new(),
        error: None,
        notice,
    };
    ctx.page(page)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub next: String,
}

/// Check the password, open a session, and go where the user was heading.
#[tracing::instrument(skip_all)]
pub async fn login(ctx: Ctx, form: Result<Form<LoginForm>, FormRejection>) -> Response {
    let Ok(Form(form)) = form else {
        return ctx.error(WebError::Bad(|m| m.err_bad_form, None));
    };
    let st = &ctx.st;
    let user = match st.store.user_by_username(form.username.trim()).await {
        Ok(u) => u,
        Err(e) => return ctx.error(WebError::Api(e.into())),
    };
    let refuse = |error: &'static str| {
        let page = LoginPage {
            m: ctx.m,
            ch: ctx.chrome(),
            next: local_path(&form.next).unwrap_or_default().to_owned(),
            username: form.username.clone(),
            error: Some(error),
            notice: None,
        };
        ctx.respond(StatusCode::UNAUTHORIZED, page)
    };
    let Some(user) = user else {
        // Spend the time of a real check so that usernames cannot be told apart by timing.
        let _ = verify_password(
            form.password.clone(),
            crate::api::auth::DUMMY_HASH.to_owned(),
        )
        .await;
        return refuse(ctx.m.login_failed);
    };
    if !verify_password(form.password.clone(), user.password_hash.clone()).await {
        return refuse(ctx.m.login_failed);
    }
    if user.status != AccountStatus::Active.as_str() {
        return refuse(ctx.m.account_inactive);
    }
    let (token, hash) = new_token();
    let now = st.now();
    let ttl_hours = i64::from(st.config.token_ttl_hours.max(1));
    let expires_at = now + time::Duration::hours(ttl_hours);
    let user_id = user.user_id.clone();
    let written = st
        .store
        .write(move |tx| {
            Box::pin(async move { tx.insert_token(&hash, &user_id, now, expires_at).await })
        })
        .await;
    if let Err(e) = written {
        return ctx.error(WebError::Api(e.into()));
    }
    let to = local_path(&form.next).unwrap_or("/start");
    let mut resp = see_other(to);
    let cookie = set_cookie(st, SESSION_COOKIE, &token, ttl_hours * 3600, true);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Revoke the session's token and forget the cookie.
pub async fn logout(ctx: Ctx) -> Response {
    if let Some(u) = &ctx.user {
        let hash = u.token_hash.clone();
        let now = ctx.st.now();
        let revoked = ctx
            .st
            .store
            .write(move |tx| Box::pin(async move { tx.revoke_token(&hash, now).await }))
            .await;
        if let Err(e) = revoked {
            return ctx.error(WebError::Api(e.into()));
        }
    }
    let mut resp = see_other("/login?out=1");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&ctx.st, SESSION_COOKIE, "", 0, true)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
