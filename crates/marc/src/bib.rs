//! The bibliographic fields librelay uses, taken from a MARC 21 record or a UNIMARC one as used
//! in China (CNMARC, from union catalogs such as CALIS or NLC): what the catalog shows, searches
//! and matches requests on.
//!
//! CNMARC puts the title in 200 $a (subtitle $e, responsibility $f), the author in 700/701/710,
//! the publisher in 210 $c (place $a, date $d), the ISBN in 010 $a, the ISSN in 011 $a and the
//! language in 101 $a. No single byte says which format a record is in; [`Dialect::detect`]
//! reads the fields (245 and 008 are MARC 21's, 200 and a dated 100 $a UNIMARC's), and an
//! importer that knows its source says so instead.

use crate::record::{DataField, Record};

/// The catalog's view of one bibliographic record. Text is trimmed of the ISBD punctuation
/// cataloguers end subfields with ("Title /", "New York :").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BibRecord {
    /// 245 $a and $b.
    pub title: Option<String>,
    /// 100/110/111 $a, else the statement of responsibility (245 $c).
    pub author: Option<String>,
    /// 264 $b (publication, else any 264), else 260 $b.
    pub publisher: Option<String>,
    /// 264 / 260 $a.
    pub place: Option<String>,
    /// The first four-digit year in 264 / 260 $c, else 008/07-10 (Date 1).
    pub year: Option<String>,
    /// 250 $a.
    pub edition: Option<String>,
    /// Every 020 $a, leading ISBN only ("0253325528 (alk. paper)" gives "0253325528"); not
    /// checked here: the domain's `Isbn` type decides which are valid.
    pub isbns: Vec<String>,
    /// Every 022 $a, leading ISSN only.
    pub issns: Vec<String>,
    /// 010 $a, trimmed.
    pub lccn: Option<String>,
    /// 035 $a numbers prefixed "(OCoLC)", without "ocm"/"ocn"/"on" and leading zeros, so the
    /// same work matches across libraries that store it differently.
    pub oclc_numbers: Vec<String>,
    /// MARC language code from 008/35-37, else 041 $a.
    pub language: Option<String>,
    /// 650 $a, in order, duplicates dropped.
    pub subjects: Vec<String>,
    /// The title in its own script, from the 880 linked to 245 (for Chinese, Japanese, Korean,
    /// Arabic, Cyrillic... records whose 245 is romanised).
    pub title_vernacular: Option<String>,
    /// The author in its own script: the 880 linked to 100/110/111, else to 245 $c.
    pub author_vernacular: Option<String>,
    /// The publisher in its own script: the 880 linked to 264 / 260.
    pub publisher_vernacular: Option<String>,
}

/// The cataloguing format of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Marc21,
    /// UNIMARC, as CNMARC in China.
    Unimarc,
}

impl Dialect {
    /// `marc21`, or `cnmarc` / `unimarc`.
    pub fn parse(s: &str) -> Option<Dialect> {
        match s.trim().to_ascii_lowercase().as_str() {
            "marc21" | "marc" => Some(Dialect::Marc21),
            "cnmarc" | "unimarc" => Some(Dialect::Unimarc),
            _ => None,
        }
    }

    /// Told by the fields: a 245 (mandatory in MARC 21) or an 008 makes MARC 21; otherwise a
    /// 200 with $a, or a 100 whose $a opens with a date (UNIMARC's general processing data,
    /// "19820301d1982…"), makes UNIMARC. A record with neither is taken for MARC 21, whose
    /// mapping then says what is missing.
    pub fn detect(r: &Record) -> Dialect {
        if r.field("245").is_some() || r.control("008").is_some() {
            return Dialect::Marc21;
        }
        let titled = r.subfield("200", 'a').is_some();
        let dated = r
            .subfield("100", 'a')
            .is_some_and(|a| a.len() >= 9 && a.as_bytes().iter().take(8).all(u8::is_ascii_digit));
        if titled || dated {
            Dialect::Unimarc
        } else {
            Dialect::Marc21
        }
    }
}

impl From<&Record> for BibRecord {
    fn from(record: &Record) -> Self {
        BibRecord::from_record(record)
    }
}

impl BibRecord {
    /// Map a record in `dialect`.
    pub fn from_record_as(r: &Record, dialect: Dialect) -> BibRecord {
        match dialect {
            Dialect::Marc21 => BibRecord::from_record(r),
            Dialect::Unimarc => BibRecord::from_unimarc(r),
        }
    }

    /// Map a UNIMARC (CNMARC) bibliographic record. Its text is in its own script already, so
    /// there is nothing "vernacular" beside it.
    pub fn from_unimarc(r: &Record) -> BibRecord {
        let f200 = r.field("200");
        let publication = r.field("210").or_else(|| r.field("214"));
        let year = publication
            .and_then(|f| f.subfield('d'))
            .and_then(first_year)
            .or_else(|| {
                // 100 $a/09-12: date 1.
                r.subfield("100", 'a')
                    .and_then(|a| a.get(9..13))
                    .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))
                    .map(str::to_owned)
            });
        let is_code = |s: &&str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_lowercase());
        let mut subjects: Vec<String> = Vec::new();
        for subject in r.fields("606").filter_map(|f| clean(f.subfield('a'))) {
            if !subjects.contains(&subject) {
                subjects.push(subject);
            }
        }
        BibRecord {
            title: f200.and_then(unimarc_title),
            author: unimarc_author(r).or_else(|| clean(f200.and_then(|f| f.subfield('f')))),
            publisher: publication.and_then(|f| clean(f.subfield('c'))),
            place: publication.and_then(|f| clean(f.subfield('a'))),
            year,
            edition: clean(r.subfield("205", 'a')),
            isbns: leading_numbers(r, "010"),
            issns: leading_numbers(r, "011"),
            lccn: None,
            oclc_numbers: oclc_numbers(r),
            language: r
                .subfield("101", 'a')
                .map(str::trim)
                .filter(is_code)
                .map(str::to_owned),
            subjects,
            title_vernacular: None,
            author_vernacular: None,
            publisher_vernacular: None,
        }
    }

    /// Map a MARC 21 bibliographic record (see [`BibRecord::from_unimarc`] for CNMARC).
    pub fn from_record(r: &Record) -> BibRecord {
        let f008 = r.control("008").unwrap_or_default();
        let publication = publication_field(r);
        let year = publication
            .and_then(|f| f.subfield('c'))
            .and_then(first_year)
            .or_else(|| {
                r.fields("264")
                    .filter(|f| f.ind2 == '4')
                    .find_map(|f| f.subfield('c').and_then(first_year))
            })
            .or_else(|| {
                f008.get(7..11)
                    .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))
                    .map(str::to_owned)
            });
        let publication_tag = publication.map(|f| f.tag.as_str()).unwrap_or("260");
        BibRecord {
            title: r.field("245").and_then(title),
            author: author(|tag| r.field(tag)),
            publisher: publication.and_then(|f| clean(f.subfield('b'))),
            place: publication.and_then(|f| clean(f.subfield('a'))),
            year,
            edition: clean(r.subfield("250", 'a')),
            isbns: leading_numbers(r, "020"),
            issns: leading_numbers(r, "022"),
            lccn: r
                .subfield("010", 'a')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            oclc_numbers: oclc_numbers(r),
            language: language(r, f008),
            subjects: subjects(r),
            title_vernacular: linked(r, "245").and_then(title),
            author_vernacular: author(|tag| linked(r, tag)),
            publisher_vernacular: linked(r, publication_tag).and_then(|f| clean(f.subfield('b'))),
        }
    }
}

/// UNIMARC 200 $a, with the other title information ($e) after a colon and the number and
/// name of a part ($h, $i) after a full stop: "红楼梦: 脂评本. 第1卷".
fn unimarc_title(field: &DataField) -> Option<String> {
    let a = clean(field.subfield('a'))?;
    let mut out = a;
    if let Some(e) = clean(field.subfield('e')) {
        out = format!("{out}: {e}");
    }
    let part: Vec<String> = [field.subfield('h'), field.subfield('i')]
        .into_iter()
        .filter_map(clean)
        .collect();
    if !part.is_empty() {
        out = format!("{out}. {}", part.join(", "));
    }
    Some(out)
}

/// UNIMARC 700 (primary responsibility), else 701, else a corporate body (710, 711, 712): $a,
/// and the rest of a Western name ($b) after a comma ("Knuth, Donald E.").
fn unimarc_author(r: &Record) -> Option<String> {
    ["700", "701", "710", "711", "712"].iter().find_map(|tag| {
        let f = r.field(tag)?;
        let a = clean(f.subfield('a'))?;
        Some(match clean(f.subfield('b')) {
            Some(b) => format!("{a}, {b}"),
            None => a,
        })
    })
}

/// The field naming the publisher: 264 with second indicator 1 (publication), else any 264,
/// else 260. RDA records use 264; older ones 260.
fn publication_field(r: &Record) -> Option<&DataField> {
    r.fields("264")
        .find(|f| f.ind2 == '1')
        .or_else(|| r.fields("264").find(|f| f.ind2 != '4'))
        .or_else(|| r.field("260"))
}

/// 245 $a and $b. Keeps the cataloguer's punctuation between them ("Aristocrats of color :
/// the Black elite"), adding ": " only when there is none.
fn title(field: &DataField) -> Option<String> {
    let a = field.subfield('a').map(str::trim).unwrap_or_default();
    let b = field
        .subfield('b')
        .map(trim_punctuation)
        .filter(|b| !b.is_empty());
    let joined = match b {
        None => trim_punctuation(a).to_owned(),
        Some(b) if a.is_empty() => b.to_owned(),
        Some(b) if a.ends_with([':', ';', '=', '/', ',', '.']) => format!("{a} {b}"),
        Some(b) => format!("{a}: {b}"),
    };
    clean(Some(&joined))
}

/// 1XX $a, else 245 $c, of the fields `field_for` finds: the record's own fields, or the 880s
/// linked to them.
fn author<'a>(field_for: impl Fn(&str) -> Option<&'a DataField>) -> Option<String> {
    ["100", "110", "111"]
        .iter()
        .find_map(|tag| clean(field_for(tag).and_then(|f| f.subfield('a'))))
        .or_else(|| clean(field_for("245").and_then(|f| f.subfield('c'))))
}

/// The 880 holding field `tag` in its own script. The regular field's $6 ("880-03") names the
/// occurrence; the 880's $6 ("245-03/$1") points back. Falls back to the first 880 for the tag
/// when the occurrence numbers do not match (unlinked 880s use "00").
fn linked<'a>(r: &'a Record, tag: &str) -> Option<&'a DataField> {
    let occurrence = r
        .field(tag)
        .and_then(|f| f.subfield('6'))
        .and_then(|l| l.strip_prefix("880-"))
        .and_then(|o| o.get(..2));
    let mut candidates = r.fields("880").filter(|f| {
        f.subfield('6')
            .is_some_and(|l| l.starts_with(tag) && l.get(3..4) == Some("-"))
    });
    let first = candidates.next()?;
    let same_occurrence = |f: &&DataField| {
        occurrence.is_some() && f.subfield('6').and_then(|l| l.get(4..6)) == occurrence
    };
    if same_occurrence(&first) {
        return Some(first);
    }
    candidates.find(same_occurrence).or(Some(first))
}

/// The leading ISBN / ISSN of each $a: "0253325528 (alk. paper)" gives "0253325528".
fn leading_numbers(r: &Record, tag: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in r.fields(tag).filter_map(|f| f.subfield('a')) {
        let a = a.trim_start();
        let end = a
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, 'X' | 'x' | '-')))
            .unwrap_or(a.len());
        let number = a.get(..end).unwrap_or_default().trim_end_matches('-');
        if number.bytes().any(|b| b.is_ascii_digit()) && !out.iter().any(|n| n == number) {
            out.push(number.to_owned());
        }
    }
    out
}

fn oclc_numbers(r: &Record) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in r.fields("035").filter_map(|f| f.subfield('a')) {
        let Some(rest) = a.trim().strip_prefix("(OCoLC)") else {
            continue;
        };
        let digits = rest
            .trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == ' ')
            .trim_start_matches('0')
            .trim_end();
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !out.iter().any(|n| n == digits)
        {
            out.push(digits.to_owned());
        }
    }
    out
}

/// 008/35-37 when it holds a code, else the first code in 041 $a (old records run several
/// together: "engfre").
fn language(r: &Record, f008: &str) -> Option<String> {
    let is_code = |s: &str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_lowercase());
    f008.get(35..38)
        .filter(|l| is_code(l))
        .or_else(|| {
            r.subfield("041", 'a')
                .and_then(|a| a.trim().get(..3))
                .filter(|l| is_code(l))
        })
        .map(str::to_owned)
}

fn subjects(r: &Record) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for subject in r.fields("650").filter_map(|f| clean(f.subfield('a'))) {
        if !out.contains(&subject) {
            out.push(subject);
        }
    }
    out
}

/// The first run of exactly four digits: "c1990." and "[2015?]" give the year, "[19--]" none.
fn first_year(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if run == 4 {
            return s.get(i..i + 4).map(str::to_owned);
        }
        i += run.max(1);
    }
    None
}

/// Trimmed of ISBD punctuation, or `None` when nothing is left.
fn clean(s: Option<&str>) -> Option<String> {
    let s = trim_punctuation(s?);
    (!s.is_empty()).then(|| s.to_owned())
}

/// Abbreviations whose final period is part of the word, not ISBD punctuation.
const ABBREVIATIONS: &[&str] = &[
    "Inc", "Ltd", "Co", "Corp", "Bros", "Jr", "Sr", "ed", "eds", "etc", "St", "Dr",
];

/// Strip the ISBD punctuation that ends MARC subfields (" /", " :", " ;", ",", ".", " ="), but
/// keep the period of an initial or abbreviation ("Willard B.", "Washington, D.C.", "2nd ed.").
fn trim_punctuation(s: &str) -> &str {
    let mut s = s.trim();
    loop {
        let before = s;
        s = s.trim_end_matches([' ', '/', ':', ';', ',', '=']);
        if let Some(rest) = s.strip_suffix('.')
            && !ends_with_abbreviation(rest)
        {
            s = rest;
        }
        if s == before {
            return s.trim_start();
        }
    }
}

fn ends_with_abbreviation(before_period: &str) -> bool {
    let word = before_period
        .rsplit([' ', '.', ',', '('])
        .next()
        .unwrap_or_default();
    let mut chars = word.chars();
    let initial = matches!((chars.next(), chars.next()), (Some(c), None) if c.is_uppercase());
    initial || ABBREVIATIONS.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Tag;

    fn field(tag: &str, ind: &str, subfields: &[(char, &str)]) -> DataField {
        let mut ind = ind.chars();
        DataField {
            tag: Tag::new(tag.as_bytes()).unwrap(),
            ind1: ind.next().unwrap_or(' '),
            ind2: ind.next().unwrap_or(' '),
            subfields: subfields
                .iter()
                .map(|(c, v)| (*c, (*v).to_owned()))
                .collect(),
        }
    }

    fn record(control: &[(&str, &str)], data: Vec<DataField>) -> Record {
        Record {
            control_fields: control
                .iter()
                .map(|(t, v)| (Tag::new(t.as_bytes()).unwrap(), (*v).to_owned()))
                .collect(),
            data_fields: data,
            ..Record::default()
        }
    }

    const F008: &str = "890831s1990    inu      b   s00110deng  ";

    #[test]
    fn an_english_book_maps_with_isbd_punctuation_trimmed() {
        let r = record(
            &[("001", "426705"), ("008", F008)],
            vec![
                field("010", "  ", &[('a', "   89046000 ")]),
                field("020", "  ", &[('a', "0253325528 (alk. paper)")]),
                field("020", "  ", &[('a', "9780253325525 :"), ('c', "$35.00")]),
                field("035", "  ", &[('a', "(OCoLC)ocm00020854")]),
                field("035", "  ", &[('a', "(DLC)   89046000")]),
                field(
                    "100",
                    "1 ",
                    &[('a', "Gatewood, Willard B.,"), ('d', "1931-")],
                ),
                field(
                    "245",
                    "10",
                    &[
                        ('a', "Aristocrats of color :"),
                        ('b', "the Black elite, 1880-1920 /"),
                        ('c', "Willard B. Gatewood."),
                    ],
                ),
                field("250", "  ", &[('a', "2nd ed.")]),
                field(
                    "260",
                    "  ",
                    &[
                        ('a', "Washington, D.C. :"),
                        ('b', "Indiana University Press,"),
                        ('c', "c1990."),
                    ],
                ),
                field(
                    "650",
                    " 0",
                    &[('a', "African Americans"), ('x', "Social conditions.")],
                ),
                field(
                    "650",
                    " 0",
                    &[('a', "Upper class."), ('z', "United States")],
                ),
                field("650", " 0", &[('a', "African Americans")]),
            ],
        );
        let bib = BibRecord::from_record(&r);
        assert_eq!(
            bib.title.as_deref(),
            Some("Aristocrats of color : the Black elite, 1880-1920")
        );
        assert_eq!(bib.author.as_deref(), Some("Gatewood, Willard B."));
        assert_eq!(bib.publisher.as_deref(), Some("Indiana University Press"));
        assert_eq!(bib.place.as_deref(), Some("Washington, D.C."));
        assert_eq!(bib.year.as_deref(), Some("1990"));
        assert_eq!(bib.edition.as_deref(), Some("2nd ed."));
        assert_eq!(bib.isbns, ["0253325528", "9780253325525"]);
        assert_eq!(bib.lccn.as_deref(), Some("89046000"));
        assert_eq!(bib.oclc_numbers, ["20854"]);
        assert_eq!(bib.language.as_deref(), Some("eng"));
        assert_eq!(bib.subjects, ["African Americans", "Upper class"]);
        assert_eq!(bib.title_vernacular, None);
    }

    #[test]
    fn rda_264_is_preferred_and_copyright_dates_are_a_fallback() {
        let r = record(
            &[("008", "150101t20152014nyu           000 0 eng d")],
            vec![
                field("245", "00", &[('a', "Plain title.")]),
                field("264", " 4", &[('c', "©2014")]),
                field(
                    "264",
                    " 1",
                    &[('a', "New York :"), ('b', "Wiley,"), ('c', "[2015?]")],
                ),
                field("264", " 2", &[('b', "Distributor")]),
                field("260", "  ", &[('b', "Old style")]),
            ],
        );
        let bib = BibRecord::from_record(&r);
        assert_eq!(bib.title.as_deref(), Some("Plain title"));
        assert_eq!(bib.publisher.as_deref(), Some("Wiley"));
        assert_eq!(bib.year.as_deref(), Some("2015"));

        let copyright_only = record(
            &[("008", "150101s19uu    nyu           000 0 eng d")],
            vec![
                field(
                    "264",
                    " 1",
                    &[
                        ('b', "Wiley"),
                        ('c', "[date of publication not identified]"),
                    ],
                ),
                field("264", " 4", &[('c', "©2014")]),
            ],
        );
        assert_eq!(
            BibRecord::from_record(&copyright_only).year.as_deref(),
            Some("2014")
        );
    }

    #[test]
    fn without_a_1xx_the_author_is_the_statement_of_responsibility_and_008_gives_the_year() {
        let r = record(
            &[("008", "000107s2000    nyua          001 0 eng  ")],
            vec![
                field("041", "0 ", &[('a', "engfre")]),
                field(
                    "245",
                    "00",
                    &[('a', "Proceedings /"), ('c', "edited by A. Smith.")],
                ),
                field("260", "  ", &[('c', "[19--]")]),
                field("022", "  ", &[('a', "1234-5679 ;")]),
            ],
        );
        let bib = BibRecord::from_record(&r);
        assert_eq!(bib.author.as_deref(), Some("edited by A. Smith"));
        assert_eq!(bib.year.as_deref(), Some("2000"));
        assert_eq!(bib.issns, ["1234-5679"]);
        assert_eq!(bib.language.as_deref(), Some("eng"));

        let no_008 = record(&[], vec![field("041", "0 ", &[('a', "engfre")])]);
        assert_eq!(
            BibRecord::from_record(&no_008).language.as_deref(),
            Some("eng")
        );
    }

    #[test]
    fn a_chinese_record_gives_its_title_author_and_publisher_in_chinese_script() {
        let r = record(
            &[("008", "101026s2010    cc            000 0 chi  ")],
            vec![
                field("100", "1 ", &[('6', "880-01"), ('a', "Lu, Xun,")]),
                field(
                    "245",
                    "10",
                    &[
                        ('6', "880-02"),
                        ('a', "Lu Xun quan ji /"),
                        ('c', "Lu Xun zhu."),
                    ],
                ),
                field(
                    "260",
                    "  ",
                    &[
                        ('6', "880-03"),
                        ('a', "Beijing :"),
                        ('b', "Ren min wen xue chu ban she,"),
                        ('c', "2010."),
                    ],
                ),
                field("880", "1 ", &[('6', "100-01/$1"), ('a', "鲁迅,")]),
                field(
                    "880",
                    "10",
                    &[
                        ('6', "245-02/$1"),
                        ('a', "鲁迅全集 :"),
                        ('b', "第一卷 /"),
                        ('c', "鲁迅著."),
                    ],
                ),
                field(
                    "880",
                    "  ",
                    &[
                        ('6', "260-03/$1"),
                        ('a', "北京 :"),
                        ('b', "人民文学出版社,"),
                        ('c', "2010."),
                    ],
                ),
            ],
        );
        let bib = BibRecord::from_record(&r);
        assert_eq!(bib.title.as_deref(), Some("Lu Xun quan ji"));
        assert_eq!(bib.title_vernacular.as_deref(), Some("鲁迅全集 : 第一卷"));
        assert_eq!(bib.author_vernacular.as_deref(), Some("鲁迅"));
        assert_eq!(bib.publisher_vernacular.as_deref(), Some("人民文学出版社"));
        assert_eq!(bib.language.as_deref(), Some("chi"));
    }

    #[test]
    fn the_880_with_the_matching_occurrence_number_wins() {
        let r = record(
            &[],
            vec![
                field("245", "10", &[('6', "880-05"), ('a', "Romanised")]),
                field("880", "10", &[('6', "245-00/$1"), ('a', "Unlinked")]),
                field("880", "10", &[('6', "245-05/$1"), ('a', "Linked")]),
            ],
        );
        assert_eq!(
            BibRecord::from_record(&r).title_vernacular.as_deref(),
            Some("Linked")
        );
    }

    #[test]
    fn punctuation_is_trimmed_but_initials_and_abbreviations_keep_their_period() {
        assert_eq!(trim_punctuation("Title /"), "Title");
        assert_eq!(trim_punctuation("New York :"), "New York");
        assert_eq!(trim_punctuation("Smith, John,"), "Smith, John");
        assert_eq!(
            trim_punctuation("Chemistry for children."),
            "Chemistry for children"
        );
        assert_eq!(trim_punctuation("Smith, J."), "Smith, J.");
        assert_eq!(
            trim_punctuation("Wiley & Sons, Inc.,"),
            "Wiley & Sons, Inc."
        );
        assert_eq!(trim_punctuation("U.S.A."), "U.S.A.");
        assert_eq!(trim_punctuation(" . / : "), "");
        assert_eq!(trim_punctuation("鲁迅著."), "鲁迅著");
    }

    #[test]
    fn years_are_the_first_run_of_four_digits() {
        assert_eq!(first_year("c1990.").as_deref(), Some("1990"));
        assert_eq!(first_year("[2015?]").as_deref(), Some("2015"));
        assert_eq!(first_year("12345 2001").as_deref(), Some("2001"));
        assert_eq!(first_year("[19--]"), None);
        assert_eq!(first_year("民国二十年 [1931]").as_deref(), Some("1931"));
    }

    fn hongloumeng() -> Record {
        record(
            &[("001", "CAL 012000123456")],
            vec![
                field("010", "  ", &[('a', "7-02-000220-X"), ('d', "CNY59.70")]),
                field(
                    "100",
                    "  ",
                    &[('a', "19820301d1982    em y0chiy50      ea")],
                ),
                field("101", "0 ", &[('a', "chi")]),
                field(
                    "200",
                    "1 ",
                    &[
                        ('a', "红楼梦"),
                        ('9', "hong lou meng"),
                        ('e', "脂评本"),
                        ('f', "曹雪芹著"),
                    ],
                ),
                field("205", "  ", &[('a', "第3版")]),
                field(
                    "210",
                    "  ",
                    &[('a', "北京 :"), ('c', "人民文学出版社,"), ('d', "1982.")],
                ),
                field("606", "0 ", &[('a', "章回小说"), ('y', "中国")]),
                field("606", "0 ", &[('a', "章回小说")]),
                field("701", " 0", &[('a', "曹雪芹"), ('f', "约1715-约1763")]),
            ],
        )
    }

    #[test]
    fn a_cnmarc_record_maps_title_author_publisher_and_identifiers() {
        let r = hongloumeng();
        assert_eq!(Dialect::detect(&r), Dialect::Unimarc);
        let b = BibRecord::from_record_as(&r, Dialect::Unimarc);
        assert_eq!(b.title.as_deref(), Some("红楼梦: 脂评本"));
        assert_eq!(b.author.as_deref(), Some("曹雪芹"));
        assert_eq!(b.publisher.as_deref(), Some("人民文学出版社"));
        assert_eq!(b.place.as_deref(), Some("北京"));
        assert_eq!(b.year.as_deref(), Some("1982"));
        assert_eq!(b.edition.as_deref(), Some("第3版"));
        assert_eq!(b.isbns, ["7-02-000220-X"]);
        assert_eq!(b.language.as_deref(), Some("chi"));
        assert_eq!(b.subjects, ["章回小说"]);
        assert_eq!(b.title_vernacular, None);
    }

    #[test]
    fn cnmarc_falls_back_to_the_statement_of_responsibility_and_the_coded_date() {
        let r = record(
            &[],
            vec![
                field("011", "  ", &[('a', "1001-8867")]),
                field(
                    "100",
                    "  ",
                    &[('a', "19570101a19579999km y0chiy50      ea")],
                ),
                field(
                    "200",
                    "1 ",
                    &[('a', "中国图书馆学报"), ('f', "中国图书馆学会")],
                ),
                field("700", " 1", &[('a', "Knuth"), ('b', "Donald E.")]),
            ],
        );
        let b = BibRecord::from_unimarc(&r);
        assert_eq!(b.issns, ["1001-8867"]);
        assert_eq!(b.year.as_deref(), Some("1957"));
        assert_eq!(b.author.as_deref(), Some("Knuth, Donald E."));
        let no_author = record(
            &[],
            vec![field("200", "1 ", &[('a', "围城"), ('f', "钱锺书著")])],
        );
        assert_eq!(
            BibRecord::from_unimarc(&no_author).author.as_deref(),
            Some("钱锺书著")
        );
    }

    #[test]
    fn the_dialect_is_told_by_the_fields() {
        let marc21 = record(
            &[("008", F008)],
            vec![field("245", "10", &[('a', "Title")])],
        );
        assert_eq!(Dialect::detect(&marc21), Dialect::Marc21);
        // A MARC 21 record's 100 is a name, not a date: still MARC 21 by its 245.
        let named = record(
            &[],
            vec![
                field("100", "1 ", &[('a', "Smith, John")]),
                field("245", "10", &[('a', "T")]),
            ],
        );
        assert_eq!(Dialect::detect(&named), Dialect::Marc21);
        let dated_only = record(&[], vec![field("100", "  ", &[('a', "20200101d2020")])]);
        assert_eq!(Dialect::detect(&dated_only), Dialect::Unimarc);
        assert_eq!(Dialect::detect(&record(&[], vec![])), Dialect::Marc21);
        assert_eq!(Dialect::parse("CNMARC"), Some(Dialect::Unimarc));
        assert_eq!(Dialect::parse("marc21"), Some(Dialect::Marc21));
        assert_eq!(Dialect::parse("mods"), None);
    }
}
