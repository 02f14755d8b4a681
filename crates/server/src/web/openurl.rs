//! OpenURL 0.1 and 1.0 (KEV) as discovery systems send them, read into the request form's
//! loose fields. Nothing is checked here: the form shows what came, and the citation's own
//! validation speaks when the reader sends it, so a bad ISBN in a link is shown, not lost.

use domain::citation::RequestFormat;

use super::reader::RequestForm;

/// The values of `key` in order, trimmed, empty ones left out.
fn all<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The first non-empty value among `keys`, in the order given.
fn first(pairs: &[(String, String)], keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| all(pairs, k).first().map(|v| (*v).to_owned()))
}

/// Identifiers carried as URIs (`rft_id=info:doi/…`, 0.1 `id=doi:…`), by scheme.
fn ids(pairs: &[(String, String)]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for v in all(pairs, "rft_id").into_iter().chain(all(pairs, "id")) {
        let lower = v.to_ascii_lowercase();
        let found = [
            ("info:doi/", "doi"),
            ("doi:", "doi"),
            ("https://doi.org/", "doi"),
            ("http://dx.doi.org/", "doi"),
            ("info:pmid/", "pmid"),
            ("pmid:", "pmid"),
            ("urn:isbn:", "isbn"),
            ("urn:issn:", "issn"),
            ("info:oclcnum/", "oclc"),
        ]
        .into_iter()
        .find(|(prefix, _)| lower.starts_with(prefix));
        if let Some((prefix, scheme)) = found {
            let value = v.get(prefix.len()..).unwrap_or_default().trim();
            if !value.is_empty() {
                out.push((scheme, value.to_owned()));
            }
        }
    }
    out
}

fn id_of(ids: &[(&'static str, String)], scheme: &str) -> Option<String> {
    ids.iter()
        .find(|(s, _)| *s == scheme)
        .map(|(_, v)| v.clone())
}

/// What the link asks for: from `genre` where given, else from which titles came.
fn format_of(pairs: &[(String, String)], has_atitle: bool) -> RequestFormat {
    let genre = first(pairs, &["rft.genre", "genre"]).map(|g| g.to_ascii_lowercase());
    match genre.as_deref() {
        Some("article" | "preprint" | "proceeding" | "conference" | "issue" | "journal")
            if has_atitle =>
        {
            RequestFormat::ArticleCopy
        }
        Some("bookitem" | "chapter") => RequestFormat::ChapterCopy,
        Some("article" | "preprint" | "proceeding" | "conference") => RequestFormat::ArticleCopy,
        Some(_) => RequestFormat::Loan,
        None if has_atitle && first(pairs, &["rft.btitle"]).is_some() => RequestFormat::ChapterCopy,
        None if has_atitle => RequestFormat::ArticleCopy,
        None => RequestFormat::Loan,
    }
}

/// The author as one line: every `rft.au`, else "last, first".
fn author(pairs: &[(String, String)]) -> Option<String> {
    let au = all(pairs, "rft.au");
    if !au.is_empty() {
        return Some(au.join("; "));
    }
    let last = first(pairs, &["rft.aulast", "aulast"]);
    let given = first(pairs, &["rft.aufirst", "aufirst", "rft.auinit", "auinit"]);
    match (last, given) {
        (Some(l), Some(g)) => Some(format!("{l}, {g}")),
        (Some(l), None) => Some(l),
        (None, g) => g.or_else(|| first(pairs, &["rft.aucorp", "aucorp"])),
    }
}

/// Pages as given, else start and end page.
fn pages(pairs: &[(String, String)]) -> Option<String> {
    if let Some(p) = first(pairs, &["rft.pages", "pages"]) {
        return Some(p);
    }
    let start = first(pairs, &["rft.spage", "spage"]);
    let end = first(pairs, &["rft.epage", "epage"]);
    match (start, end) {
        (Some(s), Some(e)) => Some(format!("{s}-{e}")),
        (s, e) => s.or(e),
    }
}

/// The year out of a date such as 2019, 2019-05 or 2019-05-17; anything else as it came, so
/// the form can show the reader what was wrong with it.
fn year(pairs: &[(String, String)]) -> Option<String> {
    let d = first(pairs, &["rft.date", "date"])?;
    let head: String = d.chars().take(4).collect();
    if head.len() == 4 && head.chars().all(|c| c.is_ascii_digit()) {
        Some(head)
    } else {
        Some(d)
    }
}

/// The request form filled in from the OpenURL's key/value pairs (0.1 and 1.0 KEV alike).
pub fn form_from_openurl(pairs: &[(String, String)]) -> RequestForm {
    let ids = ids(pairs);
    let atitle = first(pairs, &["rft.atitle", "atitle"]);
    let format = format_of(pairs, atitle.is_some());
    let book = first(pairs, &["rft.btitle"]);
    let journal = first(pairs, &["rft.jtitle", "rft.stitle", "stitle"]);
    let plain = first(pairs, &["rft.title", "title"]);
    let (title, source_title) = match format {
        RequestFormat::Loan => (book.or(plain).or(journal).or(atitle), None),
        RequestFormat::ArticleCopy => (atitle, journal.or(plain).or(book)),
        RequestFormat::ChapterCopy => (atitle, book.or(plain).or(journal)),
    };
    RequestForm {
        format: Some(format.as_str().to_owned()),
        title,
        author: author(pairs),
        source_title,
        volume: first(pairs, &["rft.volume", "volume"]),
        issue: first(pairs, &["rft.issue", "issue"]),
        year: year(pairs),
        pages: pages(pairs),
        edition: first(pairs, &["rft.edition", "edition"]),
        publisher: first(pairs, &["rft.pub", "pub"]),
        isbn: first(pairs, &["rft.isbn", "isbn"]).or_else(|| id_of(&ids, "isbn")),
        issn: first(pairs, &["rft.issn", "issn", "rft.eissn", "eissn"])
            .or_else(|| id_of(&ids, "issn")),
        doi: id_of(&ids, "doi"),
        pmid: id_of(&ids, "pmid"),
        oclc_number: id_of(&ids, "oclc"),
        ..RequestForm::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_1_0_journal_article_link_becomes_an_article_copy() {
        let f = form_from_openurl(&pairs(&[
            ("url_ver", "Z39.88-2004"),
            ("rft_val_fmt", "info:ofi/fmt:kev:mtx:journal"),
            ("rft.genre", "article"),
            ("rft.atitle", "Deep learning"),
            ("rft.jtitle", "Nature"),
            ("rft.aulast", "LeCun"),
            ("rft.aufirst", "Yann"),
            ("rft.volume", "521"),
            ("rft.issue", "7553"),
            ("rft.spage", "436"),
            ("rft.epage", "444"),
            ("rft.date", "2015-05-27"),
            ("rft.issn", "0028-0836"),
            ("rft_id", "info:doi/10.1038/nature14539"),
            ("rft_id", "info:pmid/26017442"),
        ]));
        assert_eq!(f.format.as_deref(), Some("article_copy"));
        assert_eq!(f.title.as_deref(), Some("Deep learning"));
        assert_eq!(f.source_title.as_deref(), Some("Nature"));
        assert_eq!(f.author.as_deref(), Some("LeCun, Yann"));
        assert_eq!(f.pages.as_deref(), Some("436-444"));
        assert_eq!(f.year.as_deref(), Some("2015"));
        assert_eq!(f.doi.as_deref(), Some("10.1038/nature14539"));
        assert_eq!(f.pmid.as_deref(), Some("26017442"));
        assert_eq!(f.issn.as_deref(), Some("0028-0836"));
    }

    #[test]
    fn a_0_1_book_link_becomes_a_loan() {
        let f = form_from_openurl(&pairs(&[
            ("sid", "discovery"),
            ("genre", "book"),
            ("title", "红楼梦"),
            ("aulast", "曹"),
            ("aufirst", "雪芹"),
            ("isbn", "9787020002207"),
            ("date", "1996"),
        ]));
        assert_eq!(f.format.as_deref(), Some("loan"));
        assert_eq!(f.title.as_deref(), Some("红楼梦"));
        assert_eq!(f.isbn.as_deref(), Some("9787020002207"));
        assert_eq!(f.author.as_deref(), Some("曹, 雪芹"));
    }

    #[test]
    fn a_chapter_and_a_0_1_doi_are_read() {
        let f = form_from_openurl(&pairs(&[
            ("rft.genre", "bookitem"),
            ("rft.atitle", "Chapter one"),
            ("rft.btitle", "The book"),
            ("rft.au", "A. Author"),
            ("rft.au", "B. Author"),
            ("rft.pages", "1-20"),
            ("id", "doi:10.1000/xyz"),
        ]));
        assert_eq!(f.format.as_deref(), Some("chapter_copy"));
        assert_eq!(f.title.as_deref(), Some("Chapter one"));
        assert_eq!(f.source_title.as_deref(), Some("The book"));
        assert_eq!(f.author.as_deref(), Some("A. Author; B. Author"));
        assert_eq!(f.doi.as_deref(), Some("10.1000/xyz"));
    }

    #[test]
    fn a_0_1_article_without_genre_and_an_empty_link_are_fine() {
        let f = form_from_openurl(&pairs(&[
            ("atitle", "On things"),
            ("title", "Journal of Things"),
            ("spage", "5"),
        ]));
        assert_eq!(f.format.as_deref(), Some("article_copy"));
        assert_eq!(f.source_title.as_deref(), Some("Journal of Things"));
        assert_eq!(f.pages.as_deref(), Some("5"));
        let empty = form_from_openurl(&[]);
        assert_eq!(empty.format.as_deref(), Some("loan"));
        assert!(empty.title.is_none());
    }
}
