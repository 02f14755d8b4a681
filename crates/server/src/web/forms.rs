//! The building blocks of the admin and settings pages: forms whose inputs carry their own
//! error (in the page's language, next to the field, with what was typed kept), tables whose
//! cells may hold buttons or a small form, and one page template that lays them out.

use askama::Template;
use askama_web::WebTemplate;

use super::Chrome;
use super::catalog::Msg;
use crate::error::ApiError;

/// One choice of a select or a set of checkboxes.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Opt {
    pub fn new(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Opt {
        Opt {
            value: value.into(),
            label: label.into(),
            selected,
        }
    }
}

/// One input of a form.
pub struct Input {
    pub name: &'static str,
    pub label: String,
    /// `text`, `password`, `email`, `number`, `date`, `textarea`, `select`, `checkboxes` or
    /// `checkbox` (one box; `value` is `on` when ticked).
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<Opt>,
    pub hint: Option<String>,
    pub error: Option<String>,
    pub required: bool,
    pub autocomplete: &'static str,
}

impl Input {
    pub fn new(name: &'static str, label: &str, kind: &'static str, value: &str) -> Input {
        Input {
            name,
            label: label.to_owned(),
            kind,
            value: value.to_owned(),
            options: Vec::new(),
            hint: None,
            error: None,
            required: false,
            autocomplete: "off",
        }
    }

    pub fn text(name: &'static str, label: &str, value: &str) -> Input {
        Input::new(name, label, "text", value)
    }

    pub fn hint(mut self, h: &str) -> Input {
        self.hint = Some(h.to_owned());
        self
    }

    pub fn required(mut self) -> Input {
        self.required = true;
        self
    }

    pub fn autocomplete(mut self, a: &'static str) -> Input {
        self.autocomplete = a;
        self
    }

    pub fn options(mut self, o: Vec<Opt>) -> Input {
        self.options = o;
        self
    }

    pub fn checked(&self) -> bool {
        !self.value.is_empty()
    }
}

/// A form: where it posts, its inputs, and the errors that belong to no input.
pub struct FormView {
    /// Unique on the page: element ids are `{id}-{input}`.
    pub id: String,
    pub action: String,
    /// `post` or `get`.
    pub method: &'static str,
    pub heading: Option<String>,
    pub intro: Option<String>,
    pub inputs: Vec<Input>,
    pub hidden: Vec<(String, String)>,
    pub submit: String,
    /// Errors not tied to one input.
    pub errors: Vec<String>,
    /// Laid out on one line (a table cell's small form).
    pub inline: bool,
    /// A second button, sent as `do=VALUE` (e.g. preview instead of save): (value, label).
    pub alt_submit: Option<(String, String)>,
    /// Sent as multipart/form-data: the form uploads a file.
    pub multipart: bool,
}

impl FormView {
    pub fn post(id: &str, action: &str, submit: &str) -> FormView {
        FormView {
            id: id.to_owned(),
            action: action.to_owned(),
            method: "post",
            heading: None,
            intro: None,
            inputs: Vec::new(),
            hidden: Vec::new(),
            submit: submit.to_owned(),
            errors: Vec::new(),
            inline: false,
            alt_submit: None,
            multipart: false,
        }
    }

    pub fn heading(mut self, h: &str) -> FormView {
        self.heading = Some(h.to_owned());
        self
    }

    pub fn intro(mut self, t: &str) -> FormView {
        self.intro = Some(t.to_owned());
        self
    }

    pub fn input(mut self, i: Input) -> FormView {
        self.inputs.push(i);
        self
    }

    pub fn hidden(mut self, name: &str, value: &str) -> FormView {
        self.hidden.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn inline(mut self) -> FormView {
        self.inline = true;
        self
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.inputs.iter().any(|i| i.error.is_some())
    }

    /// Put an error next to the input it names (`field`, or the first input whose name `field`
    /// starts with, for `groups.tier` and the like); otherwise above the form.
    pub fn field_error(&mut self, field: &str, message: String) {
        let at = self
            .inputs
            .iter()
            .position(|i| i.name == field)
            .or_else(|| {
                self.inputs.iter().position(|i| {
                    field
                        .strip_prefix(i.name)
                        .is_some_and(|rest| rest.starts_with('.'))
                })
            });
        match at.and_then(|n| self.inputs.get_mut(n)) {
            Some(i) => match &mut i.error {
                Some(e) => {
                    e.push_str("; ");
                    e.push_str(&message);
                }
                None => i.error = Some(message),
            },
            None => self.errors.push(message),
        }
    }

    /// Show a refusal on the form: field errors next to their fields, anything else above.
    /// Internal errors are not the form's business: they come back to be shown as the error
    /// page (with its request id).
    pub fn refusal(&mut self, m: &'static Msg, e: ApiError) -> Result<(), ApiError> {
        match e {
            e @ (ApiError::Internal(_)
            | ApiError::Unauthenticated
            | ApiError::BadCredentials
            | ApiError::NotFound(_)
            | ApiError::Forbidden(_)
            | ApiError::Bilingual(403, ..)) => {
                return Err(e);
            }
            ApiError::Invalid(fields) => {
                for f in fields {
                    let msg = m.field_error_of(&f);
                    self.field_error(f.field, msg);
                }
            }
            other => self.errors.push(super::staff::refusal_text(m, &other)),
        }
        Ok(())
    }
}

/// A button that posts to `action` with the hidden values given.
pub struct Button {
    pub action: String,
    pub label: String,
    pub hidden: Vec<(String, String)>,
}

/// One table cell: text (a link where `href` is set), then any buttons or small form.
#[derive(Default)]
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub code: bool,
    pub buttons: Vec<Button>,
    pub form: Option<FormView>,
}

impl Cell {
    pub fn text(t: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            ..Cell::default()
        }
    }

    pub fn code(t: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            code: true,
            ..Cell::default()
        }
    }

    pub fn link(t: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            href: Some(href.into()),
            ..Cell::default()
        }
    }

    pub fn button(mut self, action: &str, label: &str, hidden: &[(&str, &str)]) -> Cell {
        self.buttons.push(Button {
            action: action.to_owned(),
            label: label.to_owned(),
            hidden: hidden
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        });
        self
    }

    pub fn form(mut self, f: FormView) -> Cell {
        self.form = Some(f);
        self
    }
}

pub struct TableView {
    pub caption: Option<String>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Said instead of the table when it has no row.
    pub empty: String,
}

/// One part of a page, in order: a heading, a paragraph, a list of facts, a table or a form.
#[derive(Default)]
pub struct Block {
    pub heading: Option<String>,
    pub text: Option<String>,
    pub pre: Option<String>,
    pub facts: Vec<(String, String)>,
    pub table: Option<TableView>,
    pub form: Option<FormView>,
    /// A chart: inline SVG built by `chart` (its text escaped there).
    pub svg: Option<String>,
}

impl Block {
    pub fn heading(h: impl Into<String>) -> Block {
        Block {
            heading: Some(h.into()),
            ..Block::default()
        }
    }

    pub fn text(t: impl Into<String>) -> Block {
        Block {
            text: Some(t.into()),
            ..Block::default()
        }
    }

    pub fn pre(t: impl Into<String>) -> Block {
        Block {
            pre: Some(t.into()),
            ..Block::default()
        }
    }

    pub fn facts(f: Vec<(String, String)>) -> Block {
        Block {
            facts: f,
            ..Block::default()
        }
    }

    pub fn table(t: TableView) -> Block {
        Block {
            table: Some(t),
            ..Block::default()
        }
    }

    pub fn svg(s: String) -> Block {
        Block {
            svg: Some(s),
            ..Block::default()
        }
    }

    pub fn form(f: FormView) -> Block {
        Block {
            form: Some(f),
            ..Block::default()
        }
    }
}

/// Every admin and settings page: a title, a notice or error, links to related pages, blocks.
#[derive(Template, WebTemplate)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub m: &'static Msg,
    pub ch: Chrome,
    pub title: String,
    pub intro: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// Related pages (href, label), e.g. back to the list.
    pub links: Vec<(String, String)>,
    pub blocks: Vec<Block>,
}

/// Blocks rendered on their own, to be placed in a page that has other content too.
#[derive(Template)]
#[template(path = "blocks.html")]
pub struct BlocksHtml<'a> {
    pub m: &'static Msg,
    pub blocks: &'a [Block],
}

/// The HTML of `blocks`; a failure to render is logged and leaves the part out.
pub fn blocks_html(m: &'static Msg, blocks: &[Block]) -> String {
    BlocksHtml { m, blocks }.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "rendering a page's blocks");
        String::new()
    })
}

impl AdminPage {
    pub fn blocks_html(&self) -> String {
        blocks_html(self.m, &self.blocks)
    }

    pub fn new(m: &'static Msg, ch: Chrome, title: &str) -> AdminPage {
        AdminPage {
            m,
            ch,
            title: title.to_owned(),
            intro: None,
            notice: None,
            error: None,
            links: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// Whether a form of the page shows an error (the page then answers 422).
    pub fn has_errors(&self) -> bool {
        self.error.is_some()
            || self
                .blocks
                .iter()
                .any(|b| b.form.as_ref().is_some_and(FormView::has_errors))
            || self.blocks.iter().any(|b| {
                b.table.as_ref().is_some_and(|t| {
                    t.rows
                        .iter()
                        .flatten()
                        .any(|c| c.form.as_ref().is_some_and(FormView::has_errors))
                })
            })
    }
}
