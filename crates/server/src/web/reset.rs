//! The password reset pages: ask for a link (the page answers the same whether or not an
//! account matched), then choose a new password with the link from the letter.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::Path;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::catalog::Msg;
use super::{Chrome, Ctx, WebError, see_other};
use crate::reset::ResetError;

#[derive(Template, WebTemplate)]
#[template(path = "reset_ask.html")]
pub struct AskPage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub sent: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "reset_new.html")]
pub struct NewPage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub token: String,
    pub works: bool,
    pub error: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub struct AskForm {
    #[serde(default)]
    pub login: String,
}

#[derive(Debug, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_again: String,
}

pub async fn ask_page(ctx: Ctx) -> Response {
    ctx.page(AskPage {
        m: ctx.m,
        ch: ctx.chrome(),
        sent: false,
    })
}

pub async fn ask(ctx: Ctx, form: Result<Form<AskForm>, FormRejection>) -> Response {
    let Ok(Form(form)) = form else {
        return ctx.error(WebError::Bad(|m| m.err_bad_form, None));
    };
    crate::reset::request(&ctx.st, &form.login);
    ctx.page(AskPage {
        m: ctx.m,
        ch: ctx.chrome(),
        sent: true,
    })
}

fn token_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn new_page(ctx: Ctx, Path(token): Path<String>) -> Response {
    let works = token_ok(&token)
        && match crate::reset::link_works(&ctx.st, &token).await {
            Ok(w) => w,
            Err(e) => return ctx.error(WebError::Api(e.into())),
        };
    let page = NewPage {
        m: ctx.m,
        ch: ctx.chrome(),
        token: if works { token } else { String::new() },
        works,
        error: (!works).then_some(ctx.m.reset_bad_link),
    };
    let status = if works {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    ctx.respond(status, page)
}

pub async fn set(
    ctx: Ctx,
    Path(token): Path<String>,
    form: Result<Form<NewForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return ctx.error(WebError::Bad(|m| m.err_bad_form, None));
    };
    let again = |status: StatusCode, error: &'static str, works: bool| {
        let page = NewPage {
            m: ctx.m,
            ch: ctx.chrome(),
            token: if works { token.clone() } else { String::new() },
            works,
            error: Some(error),
        };
        ctx.respond(status, page)
    };
    if !token_ok(&token) {
        return again(StatusCode::GONE, ctx.m.reset_bad_link, false);
    }
    if form.password != form.password_again {
        return again(StatusCode::UNPROCESSABLE_ENTITY, ctx.m.reset_mismatch, true);
    }
    match crate::reset::complete(&ctx.st, &token, form.password).await {
        Ok(()) => see_other("/login?reset=1"),
        Err(ResetError::TooShort) => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.m.reset_too_short,
            true,
        ),
        Err(ResetError::BadLink) => again(StatusCode::GONE, ctx.m.reset_bad_link, false),
        Err(ResetError::Flow(e)) => ctx.error(WebError::Api(e.into())),
    }
}
