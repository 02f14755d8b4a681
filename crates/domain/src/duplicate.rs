//! Is a new request one the library has had before? Two citations are the same work when an
//! identifier they both carry (DOI, PMID, ISBN) agrees, or, without one, when their titles are
//! nearly the same and nothing they both state (year, first page, volume, edition, author)
//! disagrees.
//!
//! Finding candidates must not compare the new citation with every earlier one: each citation
//! gives a few *keys* (its identifiers, and two blocking keys of its title), earlier requests
//! are looked up by those keys (an index in the store, or [`DuplicateIndex`] in memory), and
//! only the few that share one are scored.
//!
//! Titles are folded before anything is compared: full-width forms to ASCII, traditional
//! Chinese to simplified, case, accents of Latin letters, punctuation and spacing.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::citation::{Citation, RequestFormat};

/// Dice similarity of title terms at or above which two titles are taken as one.
pub const TITLE_THRESHOLD: f64 = 0.88;
/// Characters of the folded main title in its blocking key.
const PREFIX_CHARS: usize = 24;

/// How a match was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    Doi,
    Pmid,
    Isbn,
    Citation,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Doi => "doi",
            MatchedBy::Pmid => "pmid",
            MatchedBy::Isbn => "isbn",
            MatchedBy::Citation => "citation",
        }
    }
}

/// A match and how sure it is (1.0 for identifiers, the title similarity otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Match {
    pub by: MatchedBy,
    pub score: f64,
}

fn fold_char(c: char) -> char {
    // Full-width ASCII ("ＡＢＣ") as its ordinary form.
    let c = if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
    } else {
        c
    };
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'ç' | 'č' | 'ć' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => 'u',
        'ý' | 'ÿ' => 'y',
        'š' | 'ś' => 's',
        'ž' | 'ź' | 'ż' => 'z',
        'ł' => 'l',
        'ř' => 'r',
        _ => c,
    }
}

/// Whether `c` is written without spaces between words: Han, kana, Hangul.
fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Lower case, folded, traditional Chinese as simplified; punctuation kept (callers split on it).
fn fold(s: &str) -> String {
    let s: String = s
        .chars()
        .flat_map(char::to_lowercase)
        .map(fold_char)
        .collect();
    if s.chars().any(is_cjk) {
        fast2s::convert(&s)
    } else {
        s
    }
}

/// A title as one string of letters and digits: folded, no spaces or punctuation.
pub fn normalise_title(s: &str) -> String {
    fold(s).chars().filter(|c| c.is_alphanumeric()).collect()
}

/// The title before its subtitle (": …", " = …", " / …", "; …", "：…").
fn main_title(s: &str) -> &str {
    let cut = [": ", " : ", "：", " = ", " / ", "; ", " -- ", " — "]
        .iter()
        .filter_map(|sep| s.find(sep))
        .min();
    match cut {
        Some(i) if i > 0 => &s[..i],
        _ => s.trim_end_matches(':'),
    }
}

const ARTICLES: &[&str] = &[
    "the", "a", "an", "le", "la", "les", "der", "die", "das", "el",
];
/// Words too common to tell titles apart: left out so that one differing content word in a
/// short title ("rural" / "urban") weighs what it should.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to",
    "with", "und", "et", "de", "des", "du", "la", "le", "les", "der", "die", "das",
];

/// Title terms: words of spaced scripts (a leading article dropped), and overlapping pairs of
/// characters of CJK runs (single characters for a run of one).
fn terms(s: &str) -> Vec<String> {
    let folded = fold(s);
    let mut out = Vec::new();
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut Vec<String>| {
        match cjk.len() {
            0 => {}
            1 => out.push(cjk[0].to_string()),
            _ => out.extend(cjk.windows(2).map(|w| w.iter().collect::<String>())),
        }
        cjk.clear();
    };
    for c in folded.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk, &mut out);
            word.push(c);
        } else if c == '\'' || c == '’' {
            // "children's" and "childrens" are one word
        } else {
            flush_cjk(&mut cjk, &mut out);
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    flush_cjk(&mut cjk, &mut out);
    if !word.is_empty() {
        out.push(word);
    }
    if out.len() > 1 && ARTICLES.contains(&out[0].as_str()) {
        out.remove(0);
    }
    let content: Vec<String> = out
        .iter()
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .cloned()
        .collect();
    // A title of stopwords only ("To be or not to be") keeps them.
    if content.is_empty() { out } else { content }
}

/// Sørensen–Dice on term sets.
fn dice(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.intersection(b).count();
    2.0 * common as f64 / (a.len() + b.len()) as f64
}

/// A citation prepared for comparing: everything folded once.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub format: RequestFormat,
    doi: Option<String>,
    pmid: Option<String>,
    isbn: Option<String>,
    full: HashSet<String>,
    full_terms: Vec<String>,
    main: HashSet<String>,
    main_terms: Vec<String>,
    year: Option<i32>,
    first_page: Option<String>,
    volume: Option<String>,
    edition: Option<String>,
    author: HashSet<String>,
}

/// The first page of a page range: "pp. 101-119" → "101".
fn first_page(p: &str) -> Option<String> {
    let page: String = p
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    (!page.is_empty()).then(|| page.to_ascii_lowercase())
}

/// The edition as a number where it says one ("2nd ed.", "Second edition", "第2版").
fn edition(e: &str) -> Option<String> {
    let f = fold(e);
    let n: String = f.chars().filter(char::is_ascii_digit).collect();
    if !n.is_empty() {
        return Some(n.trim_start_matches('0').to_owned());
    }
    let words = [
        ("first", "1"),
        ("second", "2"),
        ("third", "3"),
        ("fourth", "4"),
        ("fifth", "5"),
        ("sixth", "6"),
        ("revised", "rev"),
        ("new", "new"),
    ];
    words
        .iter()
        .find(|(w, _)| f.contains(w))
        .map(|(_, n)| (*n).to_owned())
        .or_else(|| Some(normalise_title(&f)).filter(|s| !s.is_empty()))
}

impl Prepared {
    pub fn new(format: RequestFormat, c: &Citation) -> Prepared {
        let title = c.title.as_deref().unwrap_or_default();
        let main_terms = terms(main_title(title));
        let full_terms = terms(title);
        Prepared {
            format,
            doi: c.doi.as_ref().map(|d| d.as_str().to_lowercase()),
            pmid: c.pmid.as_ref().map(|p| p.as_str().to_owned()),
            isbn: c.isbn.as_ref().map(|i| i.as_isbn13().to_owned()),
            full: full_terms.iter().cloned().collect(),
            full_terms,
            main: main_terms.iter().cloned().collect(),
            main_terms,
            year: crate::copyright::publication_year(c),
            first_page: c.pages.as_deref().and_then(first_page),
            volume: c
                .volume
                .as_deref()
                .map(normalise_title)
                .filter(|v| !v.is_empty()),
            edition: c.edition.as_deref().and_then(edition),
            author: c
                .author
                .as_deref()
                .map(|a| {
                    terms(a)
                        .into_iter()
                        .filter(|t| t.chars().count() >= 2 || t.chars().any(is_cjk))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The keys to look earlier requests up by: identifiers, and two blocking keys of the
    /// title (its folded main title's beginning; the year with the two longest title terms),
    /// so that a changed subtitle, case, punctuation or script still meets the original.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(d) = &self.doi {
            keys.push(format!("doi:{d}"));
        }
        if let Some(p) = &self.pmid {
            keys.push(format!("pmid:{p}"));
        }
        if let Some(i) = &self.isbn {
            keys.push(format!("isbn:{i}"));
        }
        let prefix: String = self
            .main_terms
            .concat()
            .chars()
            .take(PREFIX_CHARS)
            .collect();
        if prefix.chars().count() >= 4 {
            keys.push(format!("t:{prefix}"));
        }
        // The whole title too, in the same namespace: a subtitle whose separator was lost
        // ("Title subtitle") makes one side's main title the other's whole title.
        let full: String = self
            .full_terms
            .concat()
            .chars()
            .take(PREFIX_CHARS)
            .collect();
        if full != prefix && full.chars().count() >= 4 {
            keys.push(format!("t:{full}"));
        }
        let mut longest: Vec<&String> = self.main_terms.iter().collect();
        longest.sort_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
        longest.truncate(2);
        longest.sort();
        if !longest.is_empty() {
            let y = self.year.map(|y| y.to_string()).unwrap_or_default();
            let words: Vec<&str> = longest.iter().map(|s| s.as_str()).collect();
            keys.push(format!("w:{y}:{}", words.join(" ")));
        }
        keys
    }

    /// Whether `self` and `other` ask for the same thing, and by what.
    pub fn compare(&self, other: &Prepared) -> Option<Match> {
        if self.format != other.format {
            return None;
        }
        let ids = [
            (&self.doi, &other.doi, MatchedBy::Doi),
            (&self.pmid, &other.pmid, MatchedBy::Pmid),
            (&self.isbn, &other.isbn, MatchedBy::Isbn),
        ];
        for (a, b, by) in ids {
            if let (Some(a), Some(b)) = (a, b) {
                // The same identifier is the same item; two different ones are two items.
                return (a == b).then_some(Match { by, score: 1.0 });
            }
        }
        if differ(&self.year, &other.year)
            || differ(&self.first_page, &other.first_page)
            || differ(&self.volume, &other.volume)
            || differ(&self.edition, &other.edition)
        {
            return None;
        }
        if !self.author.is_empty()
            && !other.author.is_empty()
            && self.author.is_disjoint(&other.author)
        {
            return None;
        }
        let score = dice(&self.full, &other.full).max(dice(&self.main, &other.main));
        (score >= TITLE_THRESHOLD).then_some(Match {
            by: MatchedBy::Citation,
            score,
        })
    }
}

/// Both stated and not equal.
fn differ<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

/// Earlier citations in memory, looked up by key: for benchmarks and for callers without a
/// store index. `find` scores only the entries that share a key with the probe.
#[derive(Debug, Default)]
pub struct DuplicateIndex<Id> {
    entries: Vec<(Id, Prepared)>,
    by_key: HashMap<String, Vec<usize>>,
}

impl<Id: Clone> DuplicateIndex<Id> {
    pub fn new() -> Self {
        DuplicateIndex {
            entries: Vec::new(),
            by_key: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn insert(&mut self, id: Id, p: Prepared) {
        let n = self.entries.len();
        for k in p.keys() {
            self.by_key.entry(k).or_default().push(n);
        }
        self.entries.push((id, p));
    }

    /// Earlier entries `p` repeats, best first.
    pub fn find(&self, p: &Prepared) -> Vec<(Id, Match)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for k in p.keys() {
            for &i in self.by_key.get(&k).map(Vec::as_slice).unwrap_or_default() {
                if !seen.insert(i) {
                    continue;
                }
                if let Some((id, e)) = self.entries.get(i)
                    && let Some(m) = p.compare(e)
                {
                    out.push((id.clone(), m));
                }
            }
        }
        out.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::{Doi, Isbn};

    fn cite(title: &str, year: &str, pages: Option<&str>) -> Citation {
        Citation {
            title: Some(title.into()),
            author: Some("Smith, John".into()),
            year: Some(year.into()),
            pages: pages.map(Into::into),
            ..Citation::default()
        }
    }

    fn same(a: &Citation, b: &Citation) -> Option<Match> {
        let f = RequestFormat::ArticleCopy;
        let (pa, pb) = (Prepared::new(f, a), Prepared::new(f, b));
        let m = pa.compare(&pb);
        // Whatever matches must also be found through the keys.
        if m.is_some() {
            let mut ix = DuplicateIndex::new();
            ix.insert(1, pb);
            assert_eq!(ix.find(&pa).len(), 1, "{a:?} / {b:?} not found by key");
        }
        m
    }

    #[test]
    fn identifiers_decide_when_both_have_one() {
        let mut a = cite("One title", "2024", None);
        let mut b = cite("Something else entirely", "2020", None);
        a.doi = Some(Doi::parse("10.1000/ABC").unwrap());
        b.doi = Some(Doi::parse("https://doi.org/10.1000/abc").unwrap());
        assert_eq!(same(&a, &b).unwrap().by, MatchedBy::Doi);
        b.doi = Some(Doi::parse("10.1000/other").unwrap());
        let c = Citation {
            doi: b.doi.clone(),
            ..a.clone()
        };
        assert!(
            same(&a, &c).is_none(),
            "same title, different DOI: two articles"
        );
        let mut d = cite("Book", "2001", None);
        let mut e = d.clone();
        d.isbn = Some(Isbn::parse("0-306-40615-2").unwrap());
        e.isbn = Some(Isbn::parse("978-0-306-40615-7").unwrap());
        assert_eq!(same(&d, &e).unwrap().by, MatchedBy::Isbn);
    }

    #[test]
    fn perturbed_citations_still_match() {
        let a = cite(
            "The Effects of Caffeine on Memory: A Randomized Trial",
            "2021",
            Some("101-119"),
        );
        for t in [
            "the effects of caffeine on memory: a randomized trial",
            "Effects of caffeine on memory",
            "THE EFFECTS OF CAFFEINE ON MEMORY -- A RANDOMIZED TRIAL.",
            "The Effects of Caffeine on Memory A Randomized Trial",
            "Ｔｈｅ Effects of Caffeine on Memory: a randomised trial",
        ] {
            let b = cite(t, "2021", None);
            assert!(same(&a, &b).is_some(), "{t}");
            assert!(same(&b, &a).is_some(), "{t}");
        }
        let mut b = cite(
            "The effects of caffeine on memory",
            "2021",
            Some("pp. 101-19"),
        );
        b.author = Some("J. Smith".into());
        assert!(same(&a, &b).is_some());
        let zh_t = cite("圖書館學的歷史與發展", "2020", None);
        let zh_s = cite("图书馆学的历史与发展：一项研究", "2020", None);
        assert!(same(&zh_t, &zh_s).is_some());
    }

    #[test]
    fn hard_negatives_do_not_match() {
        let a = cite("The effects of caffeine on memory", "2021", Some("101-119"));
        // Same journal and author, another article; one word apart in a short title.
        assert!(
            same(
                &cite("The information needs of rural readers", "2021", None),
                &cite("The information needs of urban readers", "2021", None)
            )
            .is_none()
        );
        assert!(
            same(
                &a,
                &cite("The effects of caffeine on sleep quality", "2021", None)
            )
            .is_none()
        );
        // Same title, another year (a later edition or a reprint).
        assert!(same(&a, &cite("The effects of caffeine on memory", "2022", None)).is_none());
        // Same title, another first page (another part).
        assert!(
            same(
                &a,
                &cite("The effects of caffeine on memory", "2021", Some("5-9"))
            )
            .is_none()
        );
        let mut ed2 = cite("Principles of economics", "2001", None);
        ed2.edition = Some("2nd ed.".into());
        let mut ed3 = ed2.clone();
        ed3.edition = Some("Third edition".into());
        assert!(same(&ed2, &ed3).is_none());
        let mut other_author = a.clone();
        other_author.author = Some("Zhang, Wei".into());
        assert!(same(&a, &other_author).is_none());
    }

    #[test]
    fn formats_must_agree() {
        let c = cite("Moby Dick", "1851", None);
        let a = Prepared::new(RequestFormat::Loan, &c);
        let b = Prepared::new(RequestFormat::ChapterCopy, &c);
        assert!(a.compare(&b).is_none());
        assert!(a.compare(&a.clone()).is_some());
    }

    #[test]
    fn odd_input_gives_keys_without_panicking() {
        for t in ["", ":", "a", "：：", "\u{FF01}", "第2版", "x: y: z", "--"] {
            let p = Prepared::new(RequestFormat::Loan, &cite(t, "", Some("-")));
            let _ = p.keys();
            let _ = p.compare(&p);
        }
    }
}
