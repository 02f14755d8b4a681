//! Importing a library's licensed e-resources from a KBART file: one way for the command line,
//! the API and the admin page. A package is replaced whole when it is imported again, so a
//! publisher's updated title list leaves neither stale nor doubled titles.

use domain::partner::RowError;
use serde::Serialize;
use store::{Store, StoreError};
use time::OffsetDateTime;

use crate::error::ApiError;

/// The longest package name taken.
const PACKAGE_MAX_CHARS: usize = 200;

/// What a KBART import did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KbartImported {
    pub library: String,
    pub package: String,
    /// Lines read after the header.
    pub read: usize,
    /// Titles now licensed under the package.
    pub titles: usize,
    /// Titles the package had before (0 for a new package); they were replaced.
    pub replaced: i64,
    /// Lines refused; each problem is in `errors`, by line and column, in English and Chinese.
    pub rejected: usize,
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<RowError>,
}

/// Why a file was not imported at all.
#[derive(Debug)]
pub enum KbartRefused {
    /// The package name or the file as a whole: every problem, in both languages.
    Invalid(Vec<RowError>),
    Store(StoreError),
}

impl From<StoreError> for KbartRefused {
    fn from(e: StoreError) -> Self {
        KbartRefused::Store(e)
    }
}

impl From<KbartRefused> for ApiError {
    fn from(e: KbartRefused) -> Self {
        match e {
            KbartRefused::Invalid(errors) => {
                let code = errors.first().map_or("invalid_file", |e| e.code);
                let en = errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let zh = errors
                    .iter()
                    .map(|e| e.message_zh.as_str())
                    .collect::<Vec<_>>()
                    .join("；");
                ApiError::Bilingual(422, code, en, zh)
            }
            KbartRefused::Store(e) => e.into(),
        }
    }
}

/// A package name as given: trimmed, 1 to 200 characters, no control characters.
pub fn package_name(given: &str) -> Result<String, RowError> {
    let name = given.trim();
    let bad = |code: &'static str, en: String, zh: String| RowError {
        line: 0,
        field: "package".to_owned(),
        code,
        message: en,
        message_zh: zh,
    };
    if name.is_empty() {
        return Err(bad(
            "required",
            "package: name the package (e.g. the provider's collection name); importing it again replaces it".to_owned(),
            "package（资源包）：请填写资源包名称（如数据库或合集名称）；再次导入同名资源包将替换原有内容".to_owned(),
        ));
    }
    let chars = name.chars().count();
    if chars > PACKAGE_MAX_CHARS {
        return Err(bad(
            "too_long",
            format!("package: at most {PACKAGE_MAX_CHARS} characters, this one has {chars}"),
            format!("package（资源包）：最多 {PACKAGE_MAX_CHARS} 个字符，当前为 {chars} 个"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(bad(
            "invalid_package",
            "package: the name may not contain control characters (tabs, line breaks)".to_owned(),
            "package（资源包）：名称不能包含制表符、换行等控制字符".to_owned(),
        ));
    }
    Ok(name.to_owned())
}

/// Import `text` (a KBART file) as `library`'s package `package`, replacing what an earlier
/// import of that package stored. Bad lines are listed and left out; a file without a single
/// good line is refused whole, so a wrong file never empties a package.
#[tracing::instrument(skip(store, text, imported_by), fields(bytes = text.len()), err(Debug))]
pub async fn import_kbart(
    store: &Store,
    library: &str,
    package: &str,
    text: &str,
    imported_by: Option<&str>,
    now: OffsetDateTime,
) -> Result<KbartImported, KbartRefused> {
    let package = package_name(package).map_err(|e| KbartRefused::Invalid(vec![e]))?;
    let file = domain::kbart::read(text).map_err(KbartRefused::Invalid)?;
    if file.titles.is_empty() {
        let mut errors = vec![RowError {
            line: 0,
            field: String::new(),
            code: "no_titles",
            message: format!(
                "no line of the file could be imported ({} read): the package {package:?} was left as it was",
                file.read
            ),
            message_zh: format!(
                "文件中没有可导入的行（共读取 {} 行）：资源包“{package}”保持不变",
                file.read
            ),
        }];
        errors.extend(file.errors);
        return Err(KbartRefused::Invalid(errors));
    }
    let (lib, pkg, by) = (
        library.to_owned(),
        package.clone(),
        imported_by.map(str::to_owned),
    );
    let titles = file.titles;
    let count = titles.len();
    // A line can have several problems; it is refused once.
    let rejected = file.read.saturating_sub(count);
    let replaced = store
        .write(move |tx| {
            Box::pin(async move {
                tx.replace_licence_package(&lib, &pkg, &titles, by.as_deref(), now)
                    .await
            })
        })
        .await?;
    tracing::info!(
        library,
        package,
        titles = count,
        replaced,
        rejected,
        "KBART package imported"
    );
    Ok(KbartImported {
        library: library.to_owned(),
        package,
        read: file.read,
        titles: count,
        replaced,
        rejected,
        errors: file.errors,
    })
}
