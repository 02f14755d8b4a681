//! Pages for "available already": the block on a request's page showing where its text was
//! found (to the reader: the link; to staff: the link, the reasons and "fill from this link"),
//! and the admin page that imports the library's licensed e-resources from KBART files.

use axum::extract::{Multipart, Path};
use axum::http::StatusCode;
use axum::response::Response;

use super::accounts::{DoneQuery, admin};
use super::catalog::Msg;
use super::forms::{AdminPage, Block, Cell, FormView, Input, TableView};
use super::reader::when;
use super::{Ctx, QueryIn, WebError, WebResult, percent_encode, query, see_other};
use crate::auth::CurrentUser;
use crate::flow::available::{self as flow, FillFromLink};

fn source_label(m: &Msg, source: &str) -> String {
    match source {
        "licensed" => m.source_licensed.to_owned(),
        "open_access" => m.source_open_access.to_owned(),
        other => other.to_owned(),
    }
}

/// The reasons kept with a flag, in the page's language.
fn reasons(m: &Msg, a: &store::Availability) -> String {
    let key = if m.lang == "zh-CN" {
        "reasons_zh"
    } else {
        "reasons_en"
    };
    a.detail.0[key]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(serde_json::Value::as_str)
                .collect::<Vec<_>>()
                .join(if m.lang == "zh-CN" { "；" } else { "; " })
        })
        .unwrap_or_default()
}

/// "Licensed, but under embargo until …" for a flag of a title under its embargo.
fn embargo_words(template: &str, a: &store::Availability) -> Option<String> {
    (a.status == "embargoed").then(|| {
        let until = a.detail.0["facts"]["embargo_until"]
            .as_str()
            .unwrap_or("…")
            .to_owned();
        template.replace("{date}", &until)
    })
}

/// The "available already" blocks of a borrowing request: for its reader the links only; for
/// staff the links with their reasons, the flag of an open-access check that failed, and
/// "fill from this link" while the request waits for review.
pub async fn blocks(
    ctx: &Ctx,
    user: &CurrentUser,
    req: &store::BorrowRequest,
) -> WebResult<Vec<Block>> {
    let m = ctx.m;
    let found = ctx.st.store.availability_of(&req.request_id).await?;
    let mut out = Vec::new();
    if found.is_empty() {
        return Ok(out);
    }
    let patron = user.is_patron();
    let usable: Vec<&store::Availability> = found
        .iter()
        .filter(|a| a.status == "available" && a.url.is_some())
        .collect();
    if patron {
        // An embargo is worth a sentence to the reader only when nothing else is available.
        if usable.is_empty() {
            if let Some(words) = found
                .iter()
                .find_map(|a| embargo_words(m.embargoed_reader, a))
            {
                out.push(Block::heading(m.available_heading));
                out.push(Block::text(words));
            }
            return Ok(out);
        }
        out.push(Block::heading(m.available_heading));
        out.push(Block::text(m.available_intro_reader));
        let rows = usable
            .iter()
            .map(|a| {
                let url = a.url.clone().unwrap_or_default();
                vec![
                    Cell::text(source_label(m, &a.source)),
                    Cell::link(url.clone(), url),
                ]
            })
            .collect();
        out.push(Block::table(TableView {
            caption: None,
            headers: vec![m.col_where.to_owned(), m.col_link.to_owned()],
            rows,
            empty: String::new(),
        }));
        return Ok(out);
    }
    out.push(Block::heading(m.available_heading));
    let rows = found
        .iter()
        .map(|a| {
            let link = match (&a.url, embargo_words(m.embargoed_until, a)) {
                (_, Some(words)) => Cell::text(words),
                (Some(u), None) if a.status == "available" => Cell::link(u.clone(), u.clone()),
                _ => Cell::text(m.oa_unchecked),
            };
            vec![
                Cell::text(source_label(m, &a.source)),
                link,
                Cell::text(reasons(m, a)),
            ]
        })
        .collect();
    out.push(Block::table(TableView {
        caption: None,
        headers: vec![
            m.col_where.to_owned(),
            m.col_link.to_owned(),
            m.col_reasons.to_owned(),
        ],
        rows,
        empty: String::new(),
    }));
    if user.can(domain::Actor::BorrowingStaff) && flow::can_fill_from_link(&ctx.st, req).await {
        out.push(Block::text(m.available_intro_staff));
        for a in usable {
            out.push(Block::form(
                FormView::post(
                    &format!("fill-link-{}", a.source),
                    &format!(
                        "/requests/{}/fill-from-link",
                        percent_encode(&req.request_id)
                    ),
                    &format!("{} ({})", m.fill_from_link, source_label(m, &a.source)),
                )
                .hidden("source", &a.source)
                .inline(),
            ));
        }
    }
    Ok(out)
}

#[derive(Debug, serde::Deserialize)]
pub struct FillForm {
    #[serde(default)]
    source: Option<String>,
}

/// `POST /requests/{id}/fill-from-link`: the reader is given the link; no lender is asked.
#[tracing::instrument(skip_all, fields(request = %id))]
pub async fn fill(
    ctx: Ctx,
    Path(id): Path<String>,
    form: Result<axum::Form<FillForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let r = async {
        let user = ctx.user()?;
        let axum::Form(form) =
            form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        flow::fill_from_link(
            &ctx.st,
            user,
            &id,
            FillFromLink {
                source: form.source,
            },
        )
        .await?;
        Ok(see_other(&format!(
            "/requests/{}?done=fill_from_link",
            percent_encode(&id)
        )))
    }
    .await;
    ctx.finish(r)
}

fn upload_form(m: &'static Msg, package: &str) -> FormView {
    let mut f = FormView::post("kbart", "/admin/licences", m.import_kbart)
        .input(Input::text("package", m.f_package, package).hint(m.hint_package))
        .input(Input::new("file", m.f_kbart_file, "file", ""));
    f.multipart = true;
    f
}

async fn page(
    ctx: &Ctx,
    a: &CurrentUser,
    notice: Option<String>,
    form: FormView,
) -> WebResult<AdminPage> {
    let m = ctx.m;
    let mut page = AdminPage::new(m, ctx.chrome(), m.licences_title);
    page.links
        .push(("/admin".to_owned(), m.nav_admin.to_owned()));
    page.intro = Some(m.licences_intro.to_owned());
    page.notice = notice;
    let rows = ctx
        .st
        .store
        .licence_packages(&a.library_id)
        .await?
        .into_iter()
        .map(|p| {
            vec![
                Cell::text(p.package),
                Cell::text(p.titles.to_string()),
                Cell::text(when(p.imported_at)),
            ]
        })
        .collect();
    page.blocks.push(Block::table(TableView {
        caption: None,
        headers: vec![
            m.col_package.to_owned(),
            m.col_titles.to_owned(),
            m.col_imported.to_owned(),
        ],
        rows,
        empty: m.no_packages.to_owned(),
    }));
    page.blocks.push(Block::form(form));
    Ok(page)
}

fn respond(ctx: &Ctx, page: AdminPage) -> Response {
    let status = if page.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    ctx.respond(status, page)
}

/// `GET /admin/licences`: the library's packages and the upload form.
pub async fn licences(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let _ = query(q)?;
        let p = page(&ctx, a, None, upload_form(ctx.m, "")).await?;
        Ok(respond(&ctx, p))
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/licences`: a KBART file uploaded as a package of the admin's library; the
/// summary and every refused line by line and column, or the refusal next to its field.
#[tracing::instrument(skip_all)]
pub async fn upload(
    ctx: Ctx,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let mut form = form.map_err(|e| WebError::Bad(|m| m.err_bad_form, Some(e.body_text())))?;
        let m = ctx.m;
        let zh = m.lang == "zh-CN";
        let bad = |e: axum::extract::multipart::MultipartError| {
            WebError::Bad(|m| m.err_bad_form, Some(e.body_text()))
        };
        let (mut package, mut file) = (String::new(), Vec::new());
        while let Some(field) = form.next_field().await.map_err(bad)? {
            match field.name() {
                Some("package") => package = field.text().await.map_err(bad)?,
                Some("file") => file = field.bytes().await.map_err(bad)?.to_vec(),
                _ => {}
            }
        }
        let mut refused = upload_form(m, &package);
        if file.is_empty() {
            refused.field_error("file", m.err_no_file.to_owned());
            return Ok(respond(&ctx, page(&ctx, a, None, refused).await?));
        }
        let Ok(text) = String::from_utf8(file) else {
            refused.field_error("file", m.err_not_utf8.to_owned());
            return Ok(respond(&ctx, page(&ctx, a, None, refused).await?));
        };
        let done = crate::licences::import_kbart(
            &ctx.st.store,
            &a.library_id,
            &package,
            &text,
            Some(&a.user_id),
            ctx.st.now(),
        )
        .await;
        match done {
            Ok(s) => {
                let notice = m
                    .kbart_result
                    .replace("{titles}", &s.titles.to_string())
                    .replace("{read}", &s.read.to_string())
                    .replace("{replaced}", &s.replaced.to_string())
                    .replace("{rejected}", &s.rejected.to_string());
                let mut p = page(&ctx, a, Some(notice), upload_form(m, "")).await?;
                if !s.errors.is_empty() {
                    p.blocks.push(Block::heading(m.kbart_errors));
                    let rows = s
                        .errors
                        .iter()
                        .map(|e| {
                            vec![
                                Cell::text(e.line.to_string()),
                                Cell::code(e.field.clone()),
                                Cell::text(if zh { &e.message_zh } else { &e.message }.clone()),
                            ]
                        })
                        .collect();
                    p.blocks.push(Block::table(TableView {
                        caption: None,
                        headers: vec![
                            m.col_line.to_owned(),
                            m.col_column.to_owned(),
                            m.col_problem.to_owned(),
                        ],
                        rows,
                        empty: String::new(),
                    }));
                }
                Ok(respond(&ctx, p))
            }
            Err(crate::licences::KbartRefused::Invalid(errors)) => {
                for e in &errors {
                    let field = if e.field == "package" {
                        "package"
                    } else {
                        "file"
                    };
                    refused.field_error(field, if zh { &e.message_zh } else { &e.message }.clone());
                }
                Ok(respond(&ctx, page(&ctx, a, None, refused).await?))
            }
            Err(crate::licences::KbartRefused::Store(e)) => {
                Err(crate::error::ApiError::from(e).into())
            }
        }
    }
    .await;
    ctx.finish(r)
}
