//! Letters as libraries and people shape them: each library's own templates (with a preview
//! and a check that refuses what cannot work), its letter rules, each person's choice per kind
//! of letter; and the background jobs as admins see them.

use axum::Json;
use axum::extract::{Path, State};
use domain::citation::FieldError;
use domain::library::LetterSettings;
use domain::people::Role;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json as Body;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::letters::{Delivery, LetterKind, TemplateProblem, check_template, render, sample_vars};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates))
        .routes(routes!(get_template, put_template, delete_template))
        .routes(routes!(preview))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(jobs))
}

/// One letter of a library in one language.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    pub kind: LetterKind,
    /// `zh-CN` or `en`.
    pub locale: String,
    pub subject: String,
    pub body: String,
    /// True when the library wrote its own; false for the shipped default.
    pub custom: bool,
    /// The variables a template may use.
    pub variables: Vec<&'static str>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PreviewInput {
    /// A draft to try; without it, the letter as the library sends it now.
    pub subject: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub subject: String,
    pub body: String,
}

fn parse_kind(kind: &str) -> ApiResult<LetterKind> {
    LetterKind::parse(kind).ok_or_else(|| {
        let known: Vec<_> = LetterKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::Bilingual(
            404,
            "unknown_letter_kind",
            format!(
                "there is no letter {kind:?}; letters are {}",
                known.join(", ")
            ),
            format!(
                "没有名为 {kind:?} 的通知；可用的通知有 {}",
                known.join("、")
            ),
        )
    })
}

fn parse_locale(locale: &str) -> ApiResult<&'static str> {
    match locale {
        "zh-CN" | "zh-cn" | "zh" => Ok("zh-CN"),
        "en" => Ok("en"),
        other => Err(ApiError::Bilingual(
            404,
            "unknown_locale",
            format!("letters are written in zh-CN or en, not {other:?}"),
            format!("通知只有 zh-CN 和 en 两种语言，没有 {other:?}"),
        )),
    }
}

/// Only the library's own admins shape its letters.
fn require_admin_of(user: &CurrentUser, code: &str) -> ApiResult<()> {
    if user.library_id == code && user.roles.iter().any(|r| r.is_admin()) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            format!("the letters of library {code} are set by its own admins"),
            format!("{code} 馆的信函由该馆自己的管理员设置"),
        ))
    }
}

fn refused(field: &str, p: &TemplateProblem) -> ApiError {
    ApiError::Bilingual(422, "invalid_template", p.en(field), p.zh(field))
}

/// A refusal of a letter, and the field it is about (`subject` or `body`) when it is one's.
#[derive(Debug)]
pub struct LetterRefusal {
    pub field: Option<&'static str>,
    pub error: ApiError,
}

impl From<ApiError> for LetterRefusal {
    fn from(error: ApiError) -> Self {
        LetterRefusal { field: None, error }
    }
}

impl From<store::StoreError> for LetterRefusal {
    fn from(e: store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<LetterRefusal> for ApiError {
    fn from(r: LetterRefusal) -> Self {
        r.error
    }
}

fn at(field: &'static str, error: ApiError) -> LetterRefusal {
    LetterRefusal {
        field: Some(field),
        error,
    }
}

/// Refuse a template that cannot work, saying what and where in both languages.
fn check(subject: &str, body: &str) -> Result<(), LetterRefusal> {
    if subject.trim().is_empty() || subject.contains(['\r', '\n']) {
        return Err(at(
            "subject",
            ApiError::Bilingual(
                422,
                "invalid_template",
                "subject: must be one line and not empty".to_owned(),
                "主题：须为非空的一行文字".to_owned(),
            ),
        ));
    }
    if body.trim().is_empty() {
        return Err(at(
            "body",
            ApiError::Bilingual(
                422,
                "invalid_template",
                "body: must not be empty".to_owned(),
                "正文：不能为空".to_owned(),
            ),
        ));
    }
    check_template(subject).map_err(|p| at("subject", refused("subject", &p)))?;
    check_template(body).map_err(|p| at("body", refused("body", &p)))
}

/// One letter of a library in one language: its own, else the shipped default.
pub async fn view(
    st: &AppState,
    code: &str,
    kind: LetterKind,
    lang: &str,
) -> ApiResult<TemplateView> {
    let own = st.store.letter_template(code, kind.as_str(), lang).await?;
    let (subject, body, custom) = match own {
        Some(t) => (t.subject, t.body, true),
        None => {
            let (s, b) = crate::letters::default_template(kind, lang);
            (s.to_owned(), b.to_owned(), false)
        }
    };
    Ok(TemplateView {
        kind,
        locale: lang.to_owned(),
        subject,
        body,
        custom,
        variables: crate::letters::VARIABLES.to_vec(),
    })
}

/// Every letter of the library in both languages, its own where it wrote one.
#[utoipa::path(get, path = "/api/v1/libraries/{code}/letters", tag = "letters",
    params(("code" = String, Path, description = "library code")),
    responses((status = 200, body = Vec<TemplateView>), (status = 403, body = ErrorBody)))]
pub async fn list_templates(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> ApiResult<Json<Vec<TemplateView>>> {
    require_admin_of(&user, &code)?;
    let mut out = Vec::new();
    for kind in LetterKind::ALL {
        for lang in ["zh-CN", "en"] {
            out.push(view(&st, &code, *kind, lang).await?);
        }
    }
    Ok(Json(out))
}

/// One letter in one language (`zh-CN` or `en`).
#[utoipa::path(get, path = "/api/v1/libraries/{code}/letters/{kind}/{locale}", tag = "letters",
    params(("code" = String, Path), ("kind" = String, Path), ("locale" = String, Path)),
    responses((status = 200, body = TemplateView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_template(
    State(st): State<AppState>,
    user: CurrentUser,
    Path((code, kind, locale)): Path<(String, String, String)>,
) -> ApiResult<Json<TemplateView>> {
    require_admin_of(&user, &code)?;
    let (kind, lang) = (parse_kind(&kind)?, parse_locale(&locale)?);
    Ok(Json(view(&st, &code, kind, lang).await?))
}

/// Replace the letter with the library's own (minijinja). Refused, with what and where, when
/// it does not parse, names a variable letters do not have, or fails on sample values.
#[utoipa::path(put, path = "/api/v1/libraries/{code}/letters/{kind}/{locale}", tag = "letters",
    params(("code" = String, Path), ("kind" = String, Path), ("locale" = String, Path)),
    request_body = TemplateInput,
    responses((status = 200, body = TemplateView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_template(
    State(st): State<AppState>,
    user: CurrentUser,
    Path((code, kind, locale)): Path<(String, String, String)>,
    Body(input): Body<TemplateInput>,
) -> ApiResult<Json<TemplateView>> {
    Ok(Json(
        save_template(&st, &user, &code, &kind, &locale, input).await?,
    ))
}

/// Check and store a library's own letter: the API's and the letters page's one way.
pub async fn save_template(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
    kind: &str,
    locale: &str,
    input: TemplateInput,
) -> Result<TemplateView, LetterRefusal> {
    require_admin_of(user, code)?;
    let (kind, lang) = (parse_kind(kind)?, parse_locale(locale)?);
    check(&input.subject, &input.body)?;
    let row = store::LetterTemplateRow {
        library_id: code.to_owned(),
        kind: kind.as_str().to_owned(),
        locale: lang.to_owned(),
        subject: input.subject,
        body: input.body,
        updated_by: Some(user.user_id.clone()),
        updated_at: st.now(),
    };
    st.store
        .write(move |tx| Box::pin(async move { tx.set_letter_template(&row).await }))
        .await?;
    Ok(view(st, code, kind, lang).await?)
}

/// Go back to the shipped default.
#[utoipa::path(delete, path = "/api/v1/libraries/{code}/letters/{kind}/{locale}", tag = "letters",
    params(("code" = String, Path), ("kind" = String, Path), ("locale" = String, Path)),
    responses((status = 200, body = TemplateView), (status = 403, body = ErrorBody)))]
pub async fn delete_template(
    State(st): State<AppState>,
    user: CurrentUser,
    Path((code, kind, locale)): Path<(String, String, String)>,
) -> ApiResult<Json<TemplateView>> {
    Ok(Json(
        reset_template(&st, &user, &code, &kind, &locale).await?,
    ))
}

/// Drop the library's own letter: the shipped default applies again.
pub async fn reset_template(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
    kind: &str,
    locale: &str,
) -> ApiResult<TemplateView> {
    require_admin_of(user, code)?;
    let (kind, lang) = (parse_kind(kind)?, parse_locale(locale)?);
    let lib = code.to_owned();
    st.store
        .write(move |tx| {
            Box::pin(async move {
                tx.delete_letter_template(&lib, kind.as_str(), lang)
                    .await
                    .map(|_| ())
            })
        })
        .await?;
    view(st, code, kind, lang).await
}

/// The letter written out with sample values: the draft in the body, else the letter as the
/// library sends it now. A draft that cannot work is refused as `PUT` would refuse it.
#[utoipa::path(post, path = "/api/v1/libraries/{code}/letters/{kind}/{locale}/preview", tag = "letters",
    params(("code" = String, Path), ("kind" = String, Path), ("locale" = String, Path)),
    request_body = PreviewInput,
    responses((status = 200, body = Preview), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn preview(
    State(st): State<AppState>,
    user: CurrentUser,
    Path((code, kind, locale)): Path<(String, String, String)>,
    Body(input): Body<PreviewInput>,
) -> ApiResult<Json<Preview>> {
    Ok(Json(
        preview_letter(&st, &user, &code, &kind, &locale, input).await?,
    ))
}

/// A letter (or a draft of it) written out with sample values: the API's and the letters
/// page's one way.
pub async fn preview_letter(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
    kind: &str,
    locale: &str,
    input: PreviewInput,
) -> Result<Preview, LetterRefusal> {
    require_admin_of(user, code)?;
    let (kind, lang) = (parse_kind(kind)?, parse_locale(locale)?);
    let current = view(st, code, kind, lang).await?;
    let subject = input.subject.unwrap_or(current.subject);
    let body = input.body.unwrap_or(current.body);
    check(&subject, &body)?;
    let mut vars = sample_vars(lang);
    let library = st.store.library(code).await?;
    vars["library_name"] = serde_json::Value::String(if lang == "en" {
        library.name_en
    } else {
        library.name_zh
    });
    let out = |source: &str, field: &'static str| {
        render(source, &vars).map_err(|e| {
            at(
                field,
                refused(
                    field,
                    &TemplateProblem::Render {
                        line: None,
                        detail: e,
                    },
                ),
            )
        })
    };
    Ok(Preview {
        subject: out(&subject, "subject")?,
        body: out(&body, "body")?,
    })
}

/// The library's letter rules: days before the due date for the reminder (default 3), and
/// whether people may turn letters off.
#[utoipa::path(get, path = "/api/v1/libraries/{code}/letter-settings", tag = "letters",
    params(("code" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn get_settings(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> ApiResult<Json<LetterSettings>> {
    if user.library_id != code || user.is_patron() {
        return Err(ApiError::forbidden(
            format!("the letter rules of library {code} are for its staff"),
            format!("{code} 馆的信函规则仅供该馆馆员查看"),
        ));
    }
    Ok(Json(st.store.letter_settings(&code).await?))
}

#[utoipa::path(put, path = "/api/v1/libraries/{code}/letter-settings", tag = "letters",
    params(("code" = String, Path)),
    request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(st): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Body(input): Body<LetterSettings>,
) -> ApiResult<Json<LetterSettings>> {
    Ok(Json(save_settings(&st, &user, &code, input).await?))
}

/// Check and save a library's letter rules (the API and the admin page both come here).
pub async fn save_settings(
    st: &AppState,
    user: &CurrentUser,
    code: &str,
    input: LetterSettings,
) -> ApiResult<LetterSettings> {
    require_admin_of(user, code)?;
    let input = input.normalised();
    let errors = input.validate();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    // The node's own mailboxes take the mail that names no library; a library holding one of
    // them would be shown every other library's unmatched mail.
    let accepted = crate::inbound::Accepted::of(&st.config);
    if let Some(own) = input
        .mail_addresses
        .iter()
        .find(|a| accepted.is_node_mailbox(a))
    {
        return Err(ApiError::Invalid(vec![
            FieldError::new(
                "mail_addresses",
                "node_mailbox",
                format!(
                    "{own:?} is one of this node's own mailboxes (its reply address, sender \
                     or postmaster) and cannot be a library's address"
                ),
            )
            .with_zh(format!(
                "邮箱地址“{own}”是本节点自己的邮箱（回信地址、发件地址或 postmaster），不能登记为图书馆的地址"
            )),
        ]));
    }
    // Every address in the node's own mail domains reaches the node; which library gets one is
    // for the hub to decide.
    let hub_admin = user.roles.contains(&Role::HubAdmin);
    if !hub_admin
        && let Some(inside) = input
            .mail_addresses
            .iter()
            .find(|a| accepted.in_node_domain(a))
    {
        return Err(ApiError::Invalid(vec![
            FieldError::new(
                "mail_addresses",
                "hub_domain_only",
                format!(
                    "{inside:?} is in one of this node's own mail domains; only a hub admin \
                     may give such an address to a library"
                ),
            )
            .with_zh(format!(
                "邮箱地址“{inside}”属于本节点收信的域名，只有联盟管理员才能把这样的地址登记给图书馆"
            )),
        ]));
    }
    // A mailbox is one library's: its mail could not be told apart otherwise. Checked in the
    // transaction that saves, under the store's lock, so two libraries cannot both claim one.
    let (now, saved, code) = (st.now(), input.clone(), code.to_owned());
    st.store
        .write(move |tx| {
            Box::pin(async move {
                for (other, addresses) in tx.library_mail_addresses_locked().await? {
                    if other == code {
                        continue;
                    }
                    if let Some(taken) = saved.mail_addresses.iter().find(|a| addresses.contains(a))
                    {
                        return Err(ApiError::Invalid(vec![
                            FieldError::new(
                                "mail_addresses",
                                "address_taken",
                                format!("{taken:?} is already the mail address of library {other}"),
                            )
                            .with_zh(format!("邮箱地址“{taken}”已是 {other} 馆的邮箱")),
                        ]));
                    }
                }
                tx.set_letter_settings(&code, &saved, now).await?;
                Ok(())
            })
        })
        .await?;
    Ok(input)
}

/// A person's choice for one kind of letter.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preference {
    pub kind: LetterKind,
    pub delivery: Delivery,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    /// Every kind of letter one can choose for, with the current choice.
    pub preferences: Vec<Preference>,
    /// Whether the library lets people choose `never`.
    pub never_allowed: bool,
    /// Kinds that are always sent at once, whatever the choice.
    pub always_immediate: Vec<LetterKind>,
}

async fn preferences_of(st: &AppState, user: &CurrentUser) -> ApiResult<Preferences> {
    let chosen = st.store.letter_preferences(&user.user_id).await?;
    let settings = st.store.letter_settings(&user.library_id).await?;
    let preferences = LetterKind::ALL
        .iter()
        .filter(|k| !k.always_immediate() && !k.for_partner())
        .map(|k| Preference {
            kind: *k,
            delivery: chosen
                .iter()
                .find(|(c, _)| c == k.as_str())
                .and_then(|(_, d)| Delivery::parse(d))
                .unwrap_or(Delivery::Immediately),
        })
        .collect();
    Ok(Preferences {
        preferences,
        never_allowed: settings.allow_never,
        always_immediate: LetterKind::ALL
            .iter()
            .copied()
            .filter(|k| k.always_immediate() && !k.for_partner())
            .collect(),
    })
}

/// How the caller gets each kind of letter: `immediately`, `daily_digest` or `never`.
#[utoipa::path(get, path = "/api/v1/me/letter-preferences", tag = "letters",
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody)))]
pub async fn get_preferences(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Preferences>> {
    Ok(Json(preferences_of(&st, &user).await?))
}

/// Change some choices (`[{"kind", "delivery"}]`); kinds not listed keep theirs.
#[utoipa::path(put, path = "/api/v1/me/letter-preferences", tag = "letters",
    request_body = Vec<Preference>,
    responses((status = 200, body = Preferences), (status = 422, body = ErrorBody)))]
pub async fn put_preferences(
    State(st): State<AppState>,
    user: CurrentUser,
    Body(input): Body<Vec<Preference>>,
) -> ApiResult<Json<Preferences>> {
    let settings = st.store.letter_settings(&user.library_id).await?;
    for (i, p) in input.iter().enumerate() {
        if p.kind.always_immediate() && p.delivery != Delivery::Immediately {
            return Err(ApiError::Bilingual(
                422,
                "always_immediate",
                format!("[{i}]: {} letters are always sent at once", p.kind.as_str()),
                format!(
                    "第 {} 项：{} 通知总是立即发送，不能更改",
                    i + 1,
                    p.kind.as_str()
                ),
            ));
        }
        if p.delivery == Delivery::Never && !settings.allow_never {
            return Err(ApiError::Bilingual(
                422,
                "never_not_allowed",
                format!(
                    "[{i}]: your library does not let letters be turned off ({})",
                    p.kind.as_str()
                ),
                format!("第 {} 项：本馆不允许关闭通知（{}）", i + 1, p.kind.as_str()),
            ));
        }
    }
    let (uid, now) = (user.user_id.clone(), st.now());
    st.store
        .write(move |tx| {
            Box::pin(async move {
                for p in &input {
                    tx.set_letter_preference(&uid, p.kind.as_str(), p.delivery.as_str(), now)
                        .await?;
                }
                Ok::<_, store::StoreError>(())
            })
        })
        .await?;
    Ok(Json(preferences_of(&st, &user).await?))
}

/// One background job: when it last ran and how, when it runs next.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub job: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_start: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_end: Option<OffsetDateTime>,
    /// `ok: N handled`, or `failed`.
    pub last_result: Option<String>,
    /// Why the last run failed.
    pub last_error: Option<String>,
    /// Failed runs in a row.
    pub failures: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_run: Option<OffsetDateTime>,
    /// True while a process is running it.
    pub running: bool,
}

/// The background jobs of this node (admins).
#[utoipa::path(get, path = "/api/v1/jobs", tag = "letters",
    responses((status = 200, body = Vec<JobView>), (status = 403, body = ErrorBody)))]
pub async fn jobs(State(st): State<AppState>, user: CurrentUser) -> ApiResult<Json<Vec<JobView>>> {
    if !user.roles.iter().any(|r| r.is_admin()) {
        return Err(ApiError::forbidden(
            "the background jobs are shown to admins",
            "后台任务仅向管理员显示",
        ));
    }
    let now = st.now();
    let rows = st.store.job_runs().await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| JobView {
                running: r.lease_until.is_some_and(|l| l > now),
                job: r.job,
                last_start: r.last_start,
                last_end: r.last_end,
                last_result: r.last_result,
                last_error: r.last_error,
                failures: r.failures,
                next_run: r.next_run,
            })
            .collect(),
    ))
}
