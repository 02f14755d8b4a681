//! The copyright cover page a reader finds in front of a delivered PDF: the library's
//! declaration in Chinese and English, the request, the reader, the date and how often the
//! copy was opened out of how many times allowed.
//!
//! The file's structure is read once, when the copy is stored (or, for copies stored before
//! covers existed, at their first view), and kept with the file as a [`CoverPlan`]. Each view
//! then appends a small incremental update to the original bytes, streamed as they are (see
//! `pdf::stamp`): a 50 MB scan is never parsed or rewritten per view. A file that cannot take a
//! cover (encrypted, damaged) is delivered unchanged, and the reason is logged and kept.

use domain::copyright::CopyrightSettings;
use pdf::layout::wrap;
use pdf::{A4_PORTRAIT, Grey, Page, Weight};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// What was found when the file was read: how to put a cover in front, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CoverPlan {
    Stamp { plan: pdf::stamp::Plan },
    Unchanged { reason: String },
}

impl CoverPlan {
    /// Read the stored PDF `key` (`size` bytes) for its cover: only the parts its structure
    /// names are fetched from the store (its head and tail, the cross-reference, the catalog
    /// and the page tree), not the whole file. Runs off the async threads: an object stream
    /// may need inflating. `None` when the store failed meanwhile: the plan is read again at
    /// the first view, rather than the copy going without a cover for good.
    pub async fn read_stored(
        files: &crate::files::Files,
        file_id: &str,
        key: &str,
        size: u64,
    ) -> Option<CoverPlan> {
        let source = StoredSource {
            files: files.clone(),
            key: key.to_owned(),
            size,
            runtime: tokio::runtime::Handle::current(),
            failed: std::sync::Mutex::new(None),
        };
        let read = tokio::task::spawn_blocking(move || {
            let plan = pdf::stamp::plan_from(&source);
            let failed = source.failed.lock().ok().and_then(|mut f| f.take());
            (plan, failed)
        })
        .await;
        let plan = match read {
            Ok((_, Some(store_error))) => {
                tracing::warn!(
                    file_id = %file_id,
                    error = %store_error,
                    "the stored copy could not be read for its cover: read again at its first view"
                );
                return None;
            }
            Ok((Ok(plan), None)) => CoverPlan::Stamp { plan },
            Ok((Err(refusal), None)) => CoverPlan::Unchanged {
                reason: refusal.to_string(),
            },
            Err(e) => CoverPlan::Unchanged {
                reason: format!("reading the file's structure failed: {e}"),
            },
        };
        if let CoverPlan::Unchanged { reason } = &plan {
            tracing::warn!(
                file_id = %file_id,
                reason = %reason,
                "this PDF will be delivered without a copyright cover page"
            );
        }
        Some(plan)
    }

    /// As kept in the file's row.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From the file's row; `None` when absent or unreadable (then the file is read again).
    pub fn from_json(s: Option<&str>) -> Option<CoverPlan> {
        serde_json::from_str(s?).ok()
    }
}

/// A stored copy read a range at a time, from a blocking thread (see `CoverPlan::read_stored`).
struct StoredSource {
    files: crate::files::Files,
    key: String,
    size: u64,
    runtime: tokio::runtime::Handle,
    /// The first store failure: the planner only sees that the bytes could not be read.
    failed: std::sync::Mutex<Option<String>>,
}

impl pdf::stamp::Source for StoredSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, at: u64, want: usize) -> Result<std::borrow::Cow<'_, [u8]>, String> {
        let got = self
            .runtime
            .block_on(self.files.get_range(&self.key, at, want as u64));
        match got {
            Ok(bytes) => Ok(std::borrow::Cow::Owned(bytes.to_vec())),
            Err(e) => {
                let why = format!("{e:#}");
                if let Ok(mut f) = self.failed.lock() {
                    f.get_or_insert_with(|| why.clone());
                }
                Err(why)
            }
        }
    }
}

/// What the cover says.
#[derive(Debug, Clone)]
pub struct CoverFacts {
    pub library_en: String,
    pub library_zh: String,
    pub declaration: CopyrightSettings,
    pub request_id: String,
    pub title: Option<String>,
    pub source: Option<String>,
    /// The reader's name and user name.
    pub reader_name: String,
    pub reader_login: String,
    /// Today in the library's time.
    pub date: Date,
    /// The library's time, for the last day the copy may be opened.
    pub offset: domain::library::LibraryOffset,
    /// This view's number (1 for the first) and the limit, if any.
    pub view: i64,
    pub max_views: Option<i64>,
    pub expires_at: OffsetDateTime,
}

const MARGIN: f32 = 56.0;

/// The cover page.
pub fn page(f: &CoverFacts) -> Page {
    let mut p = Page::new(A4_PORTRAIT);
    let width = p.width() - 2.0 * MARGIN;
    let mut y = p.height() - MARGIN - 10.0;
    p.fill_rect(MARGIN - 8.0, y - 14.0, width + 16.0, 36.0, Grey(0.92));
    p.bold_text(MARGIN, y, 18.0, "版权声明  Copyright notice");
    y -= 34.0;
    for line in wrap(
        &format!("{} {}", f.library_zh, f.library_en),
        width,
        12.0,
        Weight::Bold,
    ) {
        p.bold_text(MARGIN, y, 12.0, &line);
        y -= 16.0;
    }
    y -= 6.0;
    p.line((MARGIN, y), (MARGIN + width, y), 0.6);
    y -= 22.0;
    let paragraph = |p: &mut Page, y: &mut f32, text: &str, size: f32| {
        for line in wrap(text, width, size, Weight::Regular) {
            if *y < MARGIN + 40.0 {
                break;
            }
            p.text(MARGIN, *y, size, &line);
            *y -= size * 1.45;
        }
    };
    paragraph(&mut p, &mut y, f.declaration.declaration_zh.trim(), 11.0);
    y -= 8.0;
    paragraph(&mut p, &mut y, f.declaration.declaration_en.trim(), 10.5);
    y -= 10.0;
    p.line((MARGIN, y), (MARGIN + width, y), 0.6);
    y -= 24.0;

    let views = match f.max_views {
        Some(max) => format!(
            "第 {} 次打开，共可打开 {max} 次 / opened {} of {max} times",
            f.view, f.view
        ),
        None => format!(
            "第 {} 次打开，次数不限 / opened {} times, no limit",
            f.view, f.view
        ),
    };
    let mut rows: Vec<(&str, String)> = vec![("请求号  Request", f.request_id.clone())];
    if let Some(t) = &f.title {
        rows.push(("文献  Title", t.clone()));
    }
    if let Some(s) = &f.source {
        rows.push(("出处  Source", s.clone()));
    }
    rows.push((
        "读者  Reader",
        if f.reader_name.trim().is_empty() {
            f.reader_login.clone()
        } else {
            format!("{} ({})", f.reader_name, f.reader_login)
        },
    ));
    rows.push(("日期  Date", f.date.to_string()));
    rows.push(("查看  Views", views));
    rows.push(("有效期至  Valid until", f.offset.time_label(f.expires_at)));
    let label_w = 120.0;
    for (label, value) in rows {
        p.bold_text(MARGIN, y, 10.0, label);
        let lines = wrap(&value, width - label_w, 10.0, Weight::Regular);
        for (i, line) in lines.iter().take(3).enumerate() {
            p.text(MARGIN + label_w, y, 10.0, line);
            if i + 1 < lines.len().min(3) {
                y -= 14.0;
            }
        }
        y -= 20.0;
    }
    y -= 6.0;
    p.line((MARGIN, y), (MARGIN + width, y), 0.6);
    y -= 20.0;
    paragraph(
        &mut p,
        &mut y,
        "本复制件仅供上述读者本人学习或研究使用，不得转发他人、公开传播或用于商业目的。每次打开均有记录。",
        10.0,
    );
    paragraph(
        &mut p,
        &mut y,
        "This copy is for the reader named above, for private study or research only. Do not pass it on, publish it or use it commercially. Every opening is recorded.",
        9.5,
    );
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_kept_and_read_back() {
        let doc = pdf::Document::new().to_bytes();
        let plan = pdf::stamp::plan(&doc).unwrap();
        let kept = CoverPlan::Stamp { plan }.to_json();
        assert!(matches!(
            CoverPlan::from_json(Some(&kept)),
            Some(CoverPlan::Stamp { .. })
        ));
        let refused = CoverPlan::Unchanged {
            reason: "the file is encrypted".into(),
        }
        .to_json();
        assert_eq!(
            CoverPlan::from_json(Some(&refused)),
            Some(CoverPlan::Unchanged {
                reason: "the file is encrypted".into()
            })
        );
        assert_eq!(CoverPlan::from_json(Some("{")), None);
        assert_eq!(CoverPlan::from_json(None), None);
    }
}
