//! The admin page that uploads a library's holdings from a spreadsheet (CSV or tab-separated),
//! through the same function as `POST /api/v1/catalog/holdings/import`: the summary, and every
//! row left out by line and field in the page's language.

use axum::extract::Multipart;
use axum::http::StatusCode;
use axum::response::Response;
use domain::people::Role;

use super::accounts::{DoneQuery, admin};
use super::catalog::Msg;
use super::forms::{AdminPage, Block, Cell, FormView, Input, Opt, TableView};
use super::{Ctx, QueryIn, WebError, WebResult, query};
use crate::auth::CurrentUser;

/// The libraries whose holdings this admin may upload: its own, or (a hub admin) every one on
/// the node.
async fn choices(ctx: &Ctx, a: &CurrentUser) -> WebResult<Vec<(String, String)>> {
    let zh = ctx.m.lang == "zh-CN";
    let mut out = Vec::new();
    for lib in ctx.st.store.libraries().await? {
        if a.roles.contains(&Role::HubAdmin) || lib.library_id == a.library_id {
            let name = if zh { lib.name_zh } else { lib.name_en };
            out.push((lib.library_id, name));
        }
    }
    Ok(out)
}

fn upload_form(
    m: &'static Msg,
    libraries: &[(String, String)],
    chosen: &str,
    text: &str,
) -> FormView {
    let options = libraries
        .iter()
        .map(|(code, name)| Opt::new(code.clone(), format!("{code} {name}"), code == chosen))
        .collect();
    let mut f = FormView::post("holdings", "/admin/holdings", m.holdings_button)
        .input(Input::new("library", m.holdings_library, "select", "").options(options))
        .input(Input::new("file", m.holdings_file, "file", "").hint(m.holdings_hint))
        .input(Input::new("text", m.import_paste, "textarea", text));
    f.multipart = true;
    f
}

fn page(ctx: &Ctx, notice: Option<String>, form: FormView) -> AdminPage {
    let m = ctx.m;
    let mut page = AdminPage::new(m, ctx.chrome(), m.holdings_title);
    page.links
        .push(("/admin".to_owned(), m.nav_admin.to_owned()));
    page.intro = Some(m.holdings_intro.to_owned());
    page.notice = notice;
    page.blocks.push(Block::form(form));
    page
}

fn respond(ctx: &Ctx, page: AdminPage) -> Response {
    let status = if page.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    ctx.respond(status, page)
}

/// `GET /admin/holdings`: the upload form.
pub async fn holdings(ctx: Ctx, q: QueryIn<DoneQuery>) -> Response {
    let r = async {
        let a = admin(&ctx)?;
        let _ = query(q)?;
        let libraries = choices(&ctx, a).await?;
        let form = upload_form(ctx.m, &libraries, &a.library_id, "");
        Ok(respond(&ctx, page(&ctx, None, form)))
    }
    .await;
    ctx.finish(r)
}

/// `POST /admin/holdings`: the file (or the pasted text) imported as the chosen library's
/// holdings; the summary and the rows left out, or why the file as a whole was refused.
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
        let (mut library, mut file, mut pasted) = (String::new(), Vec::new(), String::new());
        while let Some(field) = form.next_field().await.map_err(bad)? {
            match field.name() {
                Some("library") => library = field.text().await.map_err(bad)?,
                Some("file") => file = field.bytes().await.map_err(bad)?.to_vec(),
                Some("text") => pasted = field.text().await.map_err(bad)?,
                _ => {}
            }
        }
        let libraries = choices(&ctx, a).await?;
        let library = library.trim().to_uppercase();
        let text = if file.is_empty() {
            (!pasted.trim().is_empty())
                .then_some(pasted.clone())
                .ok_or(m.err_no_file)
        } else {
            String::from_utf8(file).map_err(|_| m.err_not_utf8)
        };
        let text = match text {
            Ok(t) => t,
            Err(problem) => {
                let mut form = upload_form(m, &libraries, &library, &pasted);
                form.field_error("file", problem.to_owned());
                return Ok(respond(&ctx, page(&ctx, None, form)));
            }
        };
        if !libraries.iter().any(|(code, _)| *code == library) {
            let mut form = upload_form(m, &libraries, &a.library_id, &pasted);
            form.field_error("library", m.holdings_err_library.to_owned());
            return Ok(respond(&ctx, page(&ctx, None, form)));
        }
        match crate::api::catalog::import_holdings_as(&ctx.st, a, &library, &text).await? {
            Ok(s) => {
                let notice = m
                    .holdings_result
                    .replace("{library}", &library)
                    .replace("{read}", &s.read.to_string())
                    .replace("{holdings}", &s.holdings.to_string())
                    .replace("{new_records}", &s.new_records.to_string())
                    .replace("{rejected}", &s.rejected.to_string());
                let form = upload_form(m, &libraries, &library, "");
                let mut p = page(&ctx, Some(notice), form);
                // The rows left out, by line and field: the rest were imported, so the page
                // is an answer, not a refusal.
                if !s.errors.is_empty() {
                    let rows = s
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
                    p.blocks.push(Block::heading(m.import_rejected_rows));
                    p.blocks.push(Block::table(TableView {
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
                Ok(respond(&ctx, p))
            }
            Err(errors) => {
                // The file as a whole cannot be read: nothing was written; the text stays.
                let mut form = upload_form(m, &libraries, &library, &pasted);
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
                Ok(respond(&ctx, page(&ctx, None, form)))
            }
        }
    }
    .await;
    ctx.finish(r)
}
