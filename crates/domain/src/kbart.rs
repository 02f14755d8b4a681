//! The library's licensed e-resources, read from a KBART Phase II file (the NISO holdings
//! format every publisher and knowledge base exports), and the coverage check that says
//! whether an article falls within what the library licenses: its dates, its volumes and the
//! embargo (`R1Y`: the most recent year not available; `P6M`: only the last six months).

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::ident::{Isbn, Issn};
use crate::partner::RowError;

/// Columns a KBART file must have (KBART Phase II, section 6.6); the others are optional, and
/// columns KBART does not know (a provider's own, at the end) are ignored.
pub const REQUIRED: &[&str] = &[
    "publication_title",
    "print_identifier",
    "online_identifier",
    "date_first_issue_online",
    "num_first_vol_online",
    "date_last_issue_online",
    "num_last_vol_online",
    "title_url",
];

/// One licensed title with its coverage, as read from one line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicensedTitle {
    /// Line of the file it came from (the header is line 1).
    pub line: usize,
    pub title: String,
    /// `title_key` of the title: how a citation's journal title finds it.
    pub title_key: String,
    /// The print ISSN (serials) or ISBN-13 (monographs).
    pub print_id: Option<String>,
    /// The online ISSN (eISSN) or ISBN-13.
    pub online_id: Option<String>,
    /// First day of the first issue online (a month or a year given: its first day).
    pub first_date: Option<Date>,
    pub first_volume: Option<String>,
    pub first_issue: Option<String>,
    /// Last day of the last issue online; none: still current.
    pub last_date: Option<Date>,
    pub last_volume: Option<String>,
    pub last_issue: Option<String>,
    pub url: String,
    /// The embargo as written (`R1Y`, `P6M`, `R1Y;P10Y`), checked when read.
    pub embargo: Option<String>,
    /// `fulltext`, `abstracts`, `selected articles`, `ebook`… (lower case).
    pub coverage_depth: Option<String>,
    /// `serial` or `monograph` (lower case); empty: serial.
    pub publication_type: Option<String>,
    pub publisher: Option<String>,
    pub title_id: Option<String>,
    pub notes: Option<String>,
}

/// A file's good lines and its bad ones.
#[derive(Debug, Default)]
pub struct KbartFile {
    /// Lines read after the header (blank lines left out).
    pub read: usize,
    pub titles: Vec<LicensedTitle>,
    pub errors: Vec<RowError>,
}

/// Something said in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Said {
    pub en: String,
    pub zh: String,
}

impl Said {
    fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Said {
            en: en.into(),
            zh: zh.into(),
        }
    }
}

/// How a journal title is compared: letters and digits only, case and width folded, a leading
/// "the" dropped ("The Lancet" and "LANCET" are one title).
pub fn title_key(title: &str) -> String {
    let norm = crate::duplicate::normalise_title(title);
    match norm.strip_prefix("the") {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => norm,
    }
}

fn row_error(line: usize, column: &str, code: &'static str, en: String, zh: String) -> RowError {
    RowError {
        line,
        field: column.to_owned(),
        code,
        message: format!("line {line}, column {column}: {en}"),
        message_zh: format!("第 {line} 行 {column} 列：{zh}"),
    }
}

fn file_error(code: &'static str, en: String, zh: String) -> RowError {
    RowError {
        line: 1,
        field: String::new(),
        code,
        message: en,
        message_zh: zh,
    }
}

/// Read a KBART file (UTF-8, tab-separated, the first line naming the columns; a byte order
/// mark and Windows line ends are accepted). A file that cannot be read as a whole (empty, a
/// required column missing, a column twice) is refused; bad lines are listed by line and
/// column and left out.
pub fn read(text: &str) -> Result<KbartFile, Vec<RowError>> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = body.lines().enumerate().map(|(i, l)| (i + 1, l));
    let Some((_, header)) = lines.find(|(_, l)| !l.trim().is_empty()) else {
        return Err(vec![file_error(
            "empty_file",
            "the file is empty: its first line names the KBART columns".to_owned(),
            "文件为空：第一行应为 KBART 列名".to_owned(),
        )]);
    };
    let header: Vec<String> = header
        .split('\t')
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut errors = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if !name.is_empty() && header[..i].contains(name) {
            errors.push(file_error(
                "duplicate_column",
                format!("column {name:?} appears twice in the header"),
                format!("表头中 {name} 列出现了两次"),
            ));
        }
    }
    for name in REQUIRED {
        if !header.iter().any(|h| h == name) {
            errors.push(file_error(
                "missing_column",
                format!(
                    "the header has no column {name:?}: this is not a KBART file (tab-separated, with the columns {})",
                    REQUIRED.join(", ")
                ),
                format!(
                    "表头缺少 {name} 列：这不是 KBART 文件（应以制表符分隔，并含以下列：{}）",
                    REQUIRED.join("、")
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut file = KbartFile::default();
    for (line, raw) in lines {
        if raw.trim().is_empty() {
            continue;
        }
        file.read += 1;
        let values: Vec<&str> = raw.split('\t').collect();
        let get = |name: &str| -> Option<String> {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| values.get(i))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        match read_line(line, &get) {
            Ok(t) => file.titles.push(t),
            Err(mut e) => file.errors.append(&mut e),
        }
    }
    Ok(file)
}

fn read_line(
    line: usize,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<LicensedTitle, Vec<RowError>> {
    let mut errors = Vec::new();
    let title = get("publication_title").unwrap_or_default();
    if title.is_empty() {
        errors.push(row_error(
            line,
            "publication_title",
            "required",
            "the title is missing".to_owned(),
            "缺少题名".to_owned(),
        ));
    }
    let publication_type = get("publication_type").map(|t| t.to_lowercase());
    let monograph = publication_type.as_deref() == Some("monograph");
    let mut identifier = |column: &str| -> Option<String> {
        let v = get(column)?;
        if monograph {
            match Isbn::parse(&v) {
                Ok(i) => Some(i.as_isbn13().to_owned()),
                Err(e) => {
                    errors.push(row_error(
                        line,
                        column,
                        "invalid_isbn",
                        format!("{v:?} is not an ISBN ({e})"),
                        format!("“{v}”不是有效的 ISBN（10 或 13 位，校验位须正确）"),
                    ));
                    None
                }
            }
        } else {
            match Issn::parse(&v) {
                Ok(i) => Some(i.to_string()),
                Err(e) => {
                    errors.push(row_error(
                        line,
                        column,
                        "invalid_issn",
                        format!("{v:?} is not an ISSN ({e})"),
                        format!("“{v}”不是有效的 ISSN（NNNN-NNNC，校验位须正确）"),
                    ));
                    None
                }
            }
        }
    };
    let print_id = identifier("print_identifier");
    let online_id = identifier("online_identifier");
    let mut date = |column: &str, end: bool| -> Option<Date> {
        let v = get(column)?;
        match parse_date(&v, end) {
            Some(d) => Some(d),
            None => {
                errors.push(row_error(
                    line,
                    column,
                    "invalid_date",
                    format!("{v:?} is not a date: write YYYY-MM-DD, YYYY-MM or YYYY"),
                    format!("“{v}”不是日期：应为 YYYY-MM-DD、YYYY-MM 或 YYYY"),
                ));
                None
            }
        }
    };
    let first_date = date("date_first_issue_online", false);
    let last_date = date("date_last_issue_online", true);
    if let (Some(f), Some(l)) = (first_date, last_date)
        && l < f
    {
        errors.push(row_error(
            line,
            "date_last_issue_online",
            "invalid_range",
            format!("the last issue ({l}) is before the first ({f})"),
            format!("最后一期（{l}）早于第一期（{f}）"),
        ));
    }
    let first_volume = get("num_first_vol_online");
    let last_volume = get("num_last_vol_online");
    if let (Some(f), Some(l)) = (
        first_volume.as_deref().and_then(number),
        last_volume.as_deref().and_then(number),
    ) && l < f
    {
        errors.push(row_error(
            line,
            "num_last_vol_online",
            "invalid_range",
            format!("the last volume ({l}) is before the first ({f})"),
            format!("最后一卷（{l}）小于第一卷（{f}）"),
        ));
    }
    let url = get("title_url").unwrap_or_default();
    if url.is_empty() {
        errors.push(row_error(
            line,
            "title_url",
            "required",
            "the title's link is missing: readers are sent to it".to_owned(),
            "缺少题名链接：读者将通过该链接访问全文".to_owned(),
        ));
    } else if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.chars().any(char::is_whitespace)
    {
        errors.push(row_error(
            line,
            "title_url",
            "invalid_url",
            format!("{url:?} is not a web address (http:// or https://)"),
            format!("“{url}”不是网址（应以 http:// 或 https:// 开头）"),
        ));
    }
    let embargo = get("embargo_info");
    if let Some(e) = &embargo
        && let Err(why) = Embargo::parse(e)
    {
        errors.push(row_error(
            line,
            "embargo_info",
            "invalid_embargo",
            why.en,
            why.zh,
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(LicensedTitle {
        line,
        title_key: title_key(&title),
        title,
        print_id,
        online_id,
        first_date,
        first_volume,
        first_issue: get("num_first_issue_online"),
        last_date,
        last_volume,
        last_issue: get("num_last_issue_online"),
        url,
        embargo,
        coverage_depth: get("coverage_depth").map(|d| d.to_lowercase()),
        publication_type,
        publisher: get("publisher_name"),
        title_id: get("title_id"),
        notes: get("notes"),
    })
}

/// A KBART date: `YYYY-MM-DD`, `YYYY-MM` or `YYYY`; a month or year stands for its first day,
/// or its last day when `end`.
fn parse_date(s: &str, end: bool) -> Option<Date> {
    let parts: Vec<&str> = s.split('-').collect();
    let num = |p: &str, len: usize| -> Option<i64> {
        (p.len() == len && p.chars().all(|c| c.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let year = i32::try_from(num(parts.first()?, 4)?).ok()?;
    match parts.as_slice() {
        [_] => Date::from_calendar_date(
            year,
            if end { Month::December } else { Month::January },
            if end { 31 } else { 1 },
        )
        .ok(),
        [_, m] => {
            let month = Month::try_from(u8::try_from(num(m, 2)?).ok()?).ok()?;
            let day = if end { month.length(year) } else { 1 };
            Date::from_calendar_date(year, month, day).ok()
        }
        [_, m, d] => {
            let month = Month::try_from(u8::try_from(num(m, 2)?).ok()?).ok()?;
            Date::from_calendar_date(year, month, u8::try_from(num(d, 2)?).ok()?).ok()
        }
        _ => None,
    }
}

/// The leading number of a volume ("12", "12A", "vol. 12" are 12).
fn number(s: &str) -> Option<i64> {
    let digits: String = s
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Day,
    Month,
    Year,
}

/// One part of a KBART embargo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    /// `R`: the most recent `n` units are not available; `P`: only the most recent are.
    restricted: bool,
    n: u32,
    unit: Unit,
}

/// A KBART embargo: `R` (moving wall: the most recent period is not available) and/or `P`
/// (only the most recent period is available), each a number of days, months or years;
/// two parts are separated by `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embargo(Vec<Part>);

impl Embargo {
    pub fn parse(s: &str) -> Result<Embargo, Said> {
        let bad = || {
            Said::new(
                format!(
                    "{s:?} is not a KBART embargo: R or P, a number and D, M or Y (e.g. R1Y: the most recent year not available; P6M: only the last six months available), two parts joined by ;"
                ),
                format!(
                    "“{s}”不是 KBART 封锁期：R 或 P 加数字及 D、M 或 Y（如 R1Y 表示最近一年不可用，P6M 表示仅最近六个月可用），两部分以 ; 连接"
                ),
            )
        };
        let mut parts = Vec::new();
        for p in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let p = p.to_ascii_uppercase();
            let mut chars = p.chars();
            let restricted = match chars.next() {
                Some('R') => true,
                Some('P') => false,
                _ => return Err(bad()),
            };
            let unit = match chars.next_back() {
                Some('D') => Unit::Day,
                Some('M') => Unit::Month,
                Some('Y') => Unit::Year,
                _ => return Err(bad()),
            };
            let n: u32 = chars.as_str().parse().map_err(|_| bad())?;
            if n == 0 || n > 10_000 {
                return Err(bad());
            }
            parts.push(Part {
                restricted,
                n,
                unit,
            });
        }
        if parts.is_empty() || parts.len() > 2 {
            return Err(bad());
        }
        Ok(Embargo(parts))
    }

    /// The days available under the embargo on `today`: from (inclusive), until (inclusive).
    /// Years count in calendar years (KBART: `R1Y` in 2026 keeps back 2026; `P1Y` gives 2026
    /// only), days and months back from today.
    fn window(&self, today: Date) -> (Option<Date>, Option<Date>) {
        let mut from: Option<Date> = None;
        let mut until: Option<Date> = None;
        for p in &self.0 {
            let n = i32::try_from(p.n).unwrap_or(i32::MAX);
            if p.restricted {
                let last = match p.unit {
                    Unit::Year => Date::from_calendar_date(
                        today.year().saturating_sub(n),
                        Month::December,
                        31,
                    )
                    .ok(),
                    Unit::Month => months_back(today, n),
                    Unit::Day => today.checked_sub(time::Duration::days(i64::from(p.n))),
                };
                until = match (until, last) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b).or(Some(Date::MIN)),
                };
            } else {
                let first = match p.unit {
                    Unit::Year => Date::from_calendar_date(
                        today.year().saturating_sub(n - 1),
                        Month::January,
                        1,
                    )
                    .ok(),
                    Unit::Month => months_back(today, n),
                    Unit::Day => today.checked_sub(time::Duration::days(i64::from(p.n))),
                };
                from = match (from, first) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        (from, until)
    }
}

/// `today` less `n` months, on the same day or the month's last.
fn months_back(today: Date, n: i32) -> Option<Date> {
    let total = today.year() * 12 + i32::from(u8::from(today.month())) - 1 - n;
    let year = total.div_euclid(12);
    let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).ok()?).ok()?;
    let day = today.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).ok()
}

/// What the citation says about where in a title the article is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted<'a> {
    pub year: Option<i32>,
    pub volume: Option<&'a str>,
}

fn label(d: Option<Date>, open: &str) -> String {
    d.map_or_else(|| open.to_owned(), |d| d.to_string())
}

/// Whether `t` covers the article on `today`: the reasons it does, or why not.
pub fn covers(t: &LicensedTitle, wanted: Wanted<'_>, today: Date) -> Result<Vec<Said>, Said> {
    let mut reasons = Vec::new();
    match t.coverage_depth.as_deref() {
        None | Some("fulltext" | "ebook" | "full text") => {}
        Some(depth) => {
            return Err(Said::new(
                format!("the licence gives {depth} only, not the full text"),
                format!("许可仅含{depth}，不含全文"),
            ));
        }
    }
    let embargo = match t.embargo.as_deref() {
        Some(e) => Some(Embargo::parse(e).map_err(|_| {
            Said::new(
                format!("the licence's embargo {e:?} cannot be read"),
                format!("许可的封锁期“{e}”无法识别"),
            )
        })?),
        None => None,
    };
    let volume = wanted.volume.and_then(number);
    if wanted.year.is_none() && volume.is_none() {
        return Err(Said::new(
            "the citation gives neither a year nor a volume: coverage cannot be checked",
            "题录未给出年份或卷号：无法核对收录范围",
        ));
    }
    if let Some(year) = wanted.year {
        let (Ok(start), Ok(end)) = (
            Date::from_calendar_date(year, Month::January, 1),
            Date::from_calendar_date(year, Month::December, 31),
        ) else {
            return Err(Said::new(
                format!("{year} is not a year"),
                format!("{year} 不是有效年份"),
            ));
        };
        let span = format!(
            "{} – {}",
            label(t.first_date, "…"),
            label(t.last_date, "present")
        );
        let span_zh = format!(
            "{} 至 {}",
            label(t.first_date, "…"),
            label(t.last_date, "今")
        );
        if t.first_date.is_some_and(|f| end < f) || t.last_date.is_some_and(|l| start > l) {
            return Err(Said::new(
                format!("{year} is outside the licensed dates {span}"),
                format!("{year} 年不在许可的收录时间 {span_zh} 内"),
            ));
        }
        reasons.push(Said::new(
            format!("{year} within the licensed dates {span}"),
            format!("{year} 年在许可的收录时间 {span_zh} 内"),
        ));
        if let Some(e) = &embargo {
            let written = t.embargo.clone().unwrap_or_default();
            let (from, until) = e.window(today);
            if from.is_some_and(|f| end < f) || until.is_some_and(|u| start > u) {
                let open = match (from, until) {
                    (_, Some(u)) if u == Date::MIN => "nothing".to_owned(),
                    (Some(f), _) => format!("from {f}"),
                    (None, Some(u)) => format!("up to {u}"),
                    (None, None) => String::new(),
                };
                let open_zh = match (from, until) {
                    (_, Some(u)) if u == Date::MIN => "无".to_owned(),
                    (Some(f), _) => format!("{f} 起"),
                    (None, Some(u)) => format!("截至 {u}"),
                    (None, None) => String::new(),
                };
                return Err(Said::new(
                    format!("{year} is under the embargo {written} (available today: {open})"),
                    format!("{year} 年处于封锁期 {written} 内（目前可用：{open_zh}）"),
                ));
            }
            reasons.push(Said::new(
                format!("outside the embargo {written}"),
                format!("不在封锁期 {written} 内"),
            ));
        }
    } else if let Some(written) = &t.embargo {
        return Err(Said::new(
            format!("the citation gives no year: the embargo {written} cannot be checked"),
            format!("题录未给出年份：无法核对封锁期 {written}"),
        ));
    }
    if let Some(v) = volume {
        let first = t.first_volume.as_deref().and_then(number);
        let last = t.last_volume.as_deref().and_then(number);
        if first.is_some_and(|f| v < f) || last.is_some_and(|l| v > l) {
            return Err(Said::new(
                format!(
                    "volume {v} is outside the licensed volumes {} – {}",
                    first.map_or_else(|| "…".to_owned(), |f| f.to_string()),
                    last.map_or_else(|| "present".to_owned(), |l| l.to_string())
                ),
                format!(
                    "第 {v} 卷不在许可的卷次 {} 至 {} 内",
                    first.map_or_else(|| "…".to_owned(), |f| f.to_string()),
                    last.map_or_else(|| "今".to_owned(), |l| l.to_string())
                ),
            ));
        }
        if first.is_some() || last.is_some() {
            reasons.push(Said::new(
                format!("volume {v} within the licensed volumes"),
                format!("第 {v} 卷在许可的卷次范围内"),
            ));
        } else if wanted.year.is_none() {
            return Err(Said::new(
                "the citation gives only a volume and the licence lists no volumes",
                "题录仅给出卷号，而许可未列出卷次",
            ));
        }
    }
    Ok(reasons)
}

/// When a licensed title that does not cover the article today only because of its moving
/// wall (`R…`) will cover it: the first day the embargo lets the citation's year in. `None`
/// when the title covers it already, or does not for another reason (dates, volumes, depth,
/// a `P…` window that only moves away from it).
pub fn embargo_lifts(t: &LicensedTitle, wanted: Wanted<'_>, today: Date) -> Option<Date> {
    let embargo = Embargo::parse(t.embargo.as_deref()?).ok()?;
    let year = wanted.year?;
    if covers(t, wanted, today).is_ok() {
        return None;
    }
    // The year is in once the wall has moved past its first day.
    let start = Date::from_calendar_date(year, Month::January, 1).ok()?;
    let mut lift = start;
    for p in embargo.0.iter().filter(|p| p.restricted) {
        let n = i32::try_from(p.n).ok()?;
        let d = match p.unit {
            Unit::Year => Date::from_calendar_date(year.checked_add(n)?, Month::January, 1).ok()?,
            Unit::Month => months_back(start, n.checked_neg()?)?,
            Unit::Day => start.checked_add(time::Duration::days(i64::from(p.n)))?,
        };
        lift = lift.max(d);
    }
    (lift > today && covers(t, wanted, lift).is_ok()).then_some(lift)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const HEADER: &str = "publication_title\tprint_identifier\tonline_identifier\tdate_first_issue_online\tnum_first_vol_online\tnum_first_issue_online\tdate_last_issue_online\tnum_last_vol_online\tnum_last_issue_online\ttitle_url\tfirst_author\ttitle_id\tembargo_info\tcoverage_depth\tnotes\tpublisher_name\tpublication_type";

    fn title(first: Option<Date>, last: Option<Date>, embargo: Option<&str>) -> LicensedTitle {
        LicensedTitle {
            line: 2,
            title: "Journal".into(),
            title_key: "journal".into(),
            print_id: None,
            online_id: None,
            first_date: first,
            first_volume: Some("10".into()),
            first_issue: None,
            last_date: last,
            last_volume: None,
            last_issue: None,
            url: "https://example.org/j".into(),
            embargo: embargo.map(str::to_owned),
            coverage_depth: Some("fulltext".into()),
            publication_type: None,
            publisher: None,
            title_id: None,
            notes: None,
        }
    }

    fn year(y: i32) -> Wanted<'static> {
        Wanted {
            year: Some(y),
            volume: None,
        }
    }

    #[test]
    fn a_kbart_file_is_read_with_its_coverage() {
        let text = format!(
            "\u{feff}{HEADER}\r\nThe Lancet\t0140-6736\t1474-547X\t1995-01\t345\t\t\t\t\thttps://example.org/lancet\t\tL1\tR1Y\tfulltext\t\tElsevier\tserial\r\n"
        );
        let f = read(&text).unwrap();
        assert_eq!(f.read, 1);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let t = &f.titles[0];
        assert_eq!(t.title_key, "lancet");
        assert_eq!(t.print_id.as_deref(), Some("0140-6736"));
        assert_eq!(t.online_id.as_deref(), Some("1474-547X"));
        assert_eq!(t.first_date, Some(date!(1995 - 01 - 01)));
        assert_eq!(t.last_date, None);
        assert_eq!(t.embargo.as_deref(), Some("R1Y"));
        assert_eq!(t.publisher.as_deref(), Some("Elsevier"));
    }

    #[test]
    fn bad_lines_are_named_by_line_and_column_in_both_languages() {
        let text = format!(
            "{HEADER}\nGood\t0140-6736\t\t2000\t\t\t\t\t\thttps://example.org/g\t\t\t\t\t\t\t\n\tnot-issn\t\t20xx\t\t\t\t\t\tftp://x\t\t\tR1Q\t\t\t\t\n"
        );
        let f = read(&text).unwrap();
        assert_eq!((f.read, f.titles.len()), (2, 1));
        let at: Vec<_> = f
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            at,
            [
                (3, "publication_title", "required"),
                (3, "print_identifier", "invalid_issn"),
                (3, "date_first_issue_online", "invalid_date"),
                (3, "title_url", "invalid_url"),
                (3, "embargo_info", "invalid_embargo"),
            ]
        );
        assert!(
            f.errors[1]
                .message
                .starts_with("line 3, column print_identifier:")
        );
        assert!(
            f.errors[1]
                .message_zh
                .starts_with("第 3 行 print_identifier 列：")
        );
    }

    #[test]
    fn a_file_without_the_kbart_columns_is_refused_whole() {
        let errors = read("isbn,title\n123,x\n").unwrap_err();
        assert!(errors.iter().all(|e| e.code == "missing_column"));
        assert!(errors[0].message_zh.contains("KBART"));
        assert_eq!(read("").unwrap_err()[0].code, "empty_file");
    }

    #[test]
    fn coverage_dates_and_volumes_are_honoured() {
        let today = date!(2026 - 11 - 30);
        let t = title(
            Some(date!(2000 - 01 - 01)),
            Some(date!(2019 - 12 - 31)),
            None,
        );
        assert!(covers(&t, year(2005), today).is_ok());
        assert!(covers(&t, year(1999), today).is_err());
        assert!(covers(&t, year(2020), today).is_err());
        let vol = |v| Wanted {
            year: Some(2005),
            volume: Some(v),
        };
        assert!(covers(&t, vol("12"), today).is_ok());
        assert!(covers(&t, vol("9"), today).is_err());
        assert!(covers(&t, Wanted::default(), today).is_err());
    }

    #[test]
    fn r1y_keeps_back_the_current_year() {
        let today = date!(2026 - 11 - 30);
        let t = title(Some(date!(2000 - 01 - 01)), None, Some("R1Y"));
        assert!(covers(&t, year(2025), today).is_ok());
        let why = covers(&t, year(2026), today).unwrap_err();
        assert!(why.en.contains("embargo R1Y"), "{}", why.en);
        assert!(why.zh.contains("封锁期"), "{}", why.zh);
    }

    #[test]
    fn p6m_gives_only_the_last_six_months() {
        let today = date!(2026 - 11 - 30);
        let t = title(Some(date!(1990 - 01 - 01)), None, Some("P6M"));
        assert!(covers(&t, year(2026), today).is_ok());
        assert!(covers(&t, year(2025), today).is_err());
        // In June, six months back reaches into the year before.
        assert!(covers(&t, year(2025), date!(2026 - 06 - 15)).is_ok());
        assert!(covers(&t, year(2024), date!(2026 - 06 - 15)).is_err());
    }

    #[test]
    fn an_embargoed_year_says_when_it_comes_in() {
        let today = date!(2026 - 11 - 30);
        let t = title(Some(date!(2000 - 01 - 01)), None, Some("R1Y"));
        assert_eq!(
            embargo_lifts(&t, year(2026), today),
            Some(date!(2027 - 01 - 01))
        );
        // Covered already: nothing to wait for.
        assert_eq!(embargo_lifts(&t, year(2025), today), None);
        let months = title(Some(date!(2000 - 01 - 01)), None, Some("R6M"));
        assert!(covers(&months, year(2026), date!(2026 - 05 - 01)).is_err());
        assert_eq!(
            embargo_lifts(&months, year(2026), date!(2026 - 05 - 01)),
            Some(date!(2026 - 07 - 01))
        );
        let days = title(Some(date!(2000 - 01 - 01)), None, Some("R90D"));
        assert_eq!(
            embargo_lifts(&days, year(2026), date!(2026 - 02 - 01)),
            Some(date!(2026 - 04 - 01))
        );
        // A window that only moves away never lets an old year in.
        let window = title(Some(date!(1990 - 01 - 01)), None, Some("P6M"));
        assert_eq!(embargo_lifts(&window, year(2020), today), None);
        // Outside the licensed dates for good: not an embargo.
        let ended = title(
            Some(date!(2000 - 01 - 01)),
            Some(date!(2010 - 12 - 31)),
            Some("R1Y"),
        );
        assert_eq!(embargo_lifts(&ended, year(2026), today), None);
        // No embargo at all.
        let open = title(
            Some(date!(2000 - 01 - 01)),
            Some(date!(2010 - 12 - 31)),
            None,
        );
        assert_eq!(embargo_lifts(&open, year(2026), today), None);
    }

    #[test]
    fn embargoes_parse_or_say_why_not() {
        assert!(Embargo::parse("R1Y").is_ok());
        assert!(Embargo::parse("p30d").is_ok());
        assert!(Embargo::parse("R1Y;P10Y").is_ok());
        for bad in ["", "1Y", "R0Y", "RY", "X1Y", "R1Q", "R1Y;P1Y;R2Y"] {
            assert!(Embargo::parse(bad).is_err(), "{bad}");
        }
        let both = Embargo::parse("R1Y;P10Y").unwrap();
        assert_eq!(
            both.window(date!(2026 - 03 - 01)),
            (Some(date!(2017 - 01 - 01)), Some(date!(2025 - 12 - 31)))
        );
    }

    #[test]
    fn abstracts_only_is_not_the_full_text() {
        let mut t = title(None, None, None);
        t.coverage_depth = Some("abstracts".into());
        assert!(covers(&t, year(2020), date!(2026 - 01 - 01)).is_err());
    }

    #[test]
    fn months_back_keeps_to_the_months_length() {
        assert_eq!(
            months_back(date!(2026 - 08 - 31), 6),
            Some(date!(2026 - 02 - 28))
        );
        assert_eq!(
            months_back(date!(2026 - 03 - 15), 3),
            Some(date!(2025 - 12 - 15))
        );
    }
}
