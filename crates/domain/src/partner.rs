//! The partner directory as a file: libraries with their agency ids, names, region, closed days
//! and lending terms, one per CSV row or JSON object. Each row is checked on its own; every bad
//! field is named with its line (CSV) or item number (JSON), and good rows stand regardless.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::calendar::{ClosedDays, WeekdayName};
use crate::geo::GeoPoint;
use crate::ident::{AgencyId, LibraryCode};
use crate::library::{LibraryKind, LibraryOffset, PartnerPolicy, Service};
use crate::money::{Currency, Money};

/// A partner as read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    /// Where it came from: the CSV line or the JSON item number (1-based).
    pub line: usize,
    pub code: LibraryCode,
    pub agency: AgencyId,
    pub name_en: String,
    pub name_zh: String,
    pub kind: LibraryKind,
    pub region: String,
    pub address: String,
    pub hub: Option<LibraryCode>,
    pub closed: ClosedDays,
    /// Where it is (columns `latitude`, `longitude` in decimal degrees): `None` when the file
    /// has neither column (the directory keeps what it has), `Some(None)` when they are empty.
    pub location: Option<Option<GeoPoint>>,
    /// Its time (column `utc_offset`, e.g. `+09:00`): `None` when the file leaves it empty (a
    /// new library takes the importing node's time, a known one keeps its own).
    pub utc_offset: Option<LibraryOffset>,
    pub policy: PartnerPolicy,
}

/// One thing wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// CSV line or JSON item number, 1-based; 0 for the file as a whole.
    pub line: usize,
    pub field: String,
    /// Stable snake_case, e.g. `required`, `invalid_agency_id`.
    pub code: &'static str,
    pub message: String,
    /// The same in Chinese.
    pub message_zh: String,
}

/// What is wrong, in Chinese, by the stable code.
fn zh(line: usize, field: &str, code: &str) -> String {
    let what = match code {
        "required" => "为必填项",
        "too_long" => "超过 200 个字符",
        "invalid_library_code" => "不是有效的图书馆代码（2 至 16 个字母、数字、- 或 _）",
        "invalid_agency_id" => "不是有效的机构标识（类型:值，如 ISIL:CN-100871）",
        "invalid_kind" => "应为 university、public、research、supplier 或 hub",
        "invalid_service" => "服务应为 loan 或 copy",
        "invalid_currency" => "币种应为三个字母（如 CNY）",
        "invalid_amount" | "too_many_decimals" | "amount_out_of_range" => "金额无效（如 12.50）",
        "negative_amount" => "金额不能为负数",
        "out_of_range" => "超出允许范围",
        "invalid_weekday" => "不是星期名称（monday … sunday 或 周一 … 周日）",
        "invalid_date" => "应为 YYYY-MM-DD 格式的日期",
        "invalid_flag" => "应为 true 或 false",
        "duplicate_code" => "代码在文件中重复",
        "duplicate_agency_id" => "机构标识在文件中重复",
        "agency_id_taken" => "机构标识已属于另一图书馆",
        "unknown_library" => "不是本系统中的图书馆",
        "own_library" => "是导入馆自身",
        "unknown_column" => "是未知的列名",
        "missing_column" => "是必需的列，文件中没有",
        "unclosed_quote" => "有未闭合的引号",
        "empty_file" => "文件为空：第一行应为列名",
        "invalid_json" => "不是合作馆对象组成的 JSON 数组",
        "invalid_isbn" => "不是有效的 ISBN（10 或 13 位，校验位须正确）",
        "invalid_issn" => "不是有效的 ISSN（NNNN-NNNC，校验位须正确）",
        "invalid_oclc_number" => "不是有效的 OCLC 号（数字，可带 (OCoLC)、ocm、ocn 或 on 前缀）",
        "invalid_year" => "应为四位数字的年份",
        "invalid_coordinate" => "不是以度为单位的数值（如 39.9929）",
        "no_identifier" => "须至少给出 isbn、issn、oclc 或 title 之一",
        "duplicate_column" => "列名重复",
        _ => "无效",
    };
    if line == 0 {
        what.to_owned()
    } else if field.is_empty() {
        format!("第 {line} 行：{what}")
    } else {
        format!("第 {line} 行 {field}：{what}")
    }
}

/// The columns a file may have. `code`, `agency`, `name_en` and `name_zh` are required.
pub const COLUMNS: &[&str] = &[
    "code",
    "agency",
    "name_en",
    "name_zh",
    "kind",
    "region",
    "address",
    "latitude",
    "longitude",
    "hub",
    "services",
    "currency",
    "loan_fee",
    "copy_fee",
    "loan_days",
    "answer_days",
    "delivery_methods",
    "payment_methods",
    "closed_weekdays",
    "closed_dates",
    "active",
    "utc_offset",
];

const REQUIRED: &[&str] = &["code", "agency", "name_en", "name_zh"];

/// A JSON value of a field: text, a number, true/false or a list of texts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Loose {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<String>),
}

impl Loose {
    fn into_text(self) -> String {
        match self {
            Loose::Text(s) => s,
            Loose::Int(n) => n.to_string(),
            Loose::Float(f) => f.to_string(),
            Loose::Bool(b) => b.to_string(),
            Loose::List(v) => v.join(";"),
        }
    }
}

/// Fields of one row by column name, before checking.
pub type RawRow = (usize, Vec<(String, String)>);

impl RowError {
    pub fn new(line: usize, field: &str, code: &'static str, message: String) -> RowError {
        err(line, field, code, message)
    }
}

fn err(line: usize, field: &str, code: &'static str, message: String) -> RowError {
    RowError {
        line,
        field: field.to_owned(),
        code,
        message,
        message_zh: zh(line, field, code),
    }
}

/// Split CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF, a leading byte order
/// mark) into rows of fields keyed by the header's column names. A file-level problem (no
/// header, an unknown or missing column, an unclosed quote) is an error; the rows are not.
pub fn read_csv(text: &str) -> Result<Vec<RawRow>, Vec<RowError>> {
    let records = split_csv(text, ',')?;
    let mut it = records.into_iter();
    let Some((_, header)) = it.next() else {
        return Err(vec![err(
            0,
            "",
            "empty_file",
            "the file is empty: the first line names the columns".to_owned(),
        )]);
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    check_columns(header.iter().map(String::as_str))?;
    Ok(it
        .map(|(line, values)| {
            let pairs = header
                .iter()
                .cloned()
                .zip(values.into_iter().chain(std::iter::repeat(String::new())))
                .collect();
            (line, pairs)
        })
        .collect())
}

/// Split delimited text (RFC 4180 quoting, CRLF or LF, a leading byte order mark) into records
/// of fields with the line each starts on, the header included; blank lines are skipped. Shared
/// by every spreadsheet import (partners, holdings), comma- or tab-separated.
pub fn split_csv(text: &str, delimiter: char) -> Result<Vec<(usize, Vec<String>)>, Vec<RowError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records: Vec<(usize, Vec<String>)> = Vec::new();
    let mut field = String::new();
    let mut fields = Vec::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                any = true;
            }
            c if c == delimiter => {
                fields.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if any || fields.iter().any(|f| !f.is_empty()) {
                    records.push((start, std::mem::take(&mut fields)));
                } else {
                    fields.clear();
                }
                any = false;
                line += 1;
                start = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(vec![err(
            start,
            "",
            "unclosed_quote",
            format!("line {start}: a quoted field is never closed"),
        )]);
    }
    if any || !field.is_empty() {
        fields.push(field);
        records.push((start, fields));
    }
    Ok(records)
}

fn check_columns<'a>(names: impl Iterator<Item = &'a str> + Clone) -> Result<(), Vec<RowError>> {
    let mut errors = Vec::new();
    for n in names.clone() {
        if !COLUMNS.contains(&n) {
            errors.push(err(
                1,
                n,
                "unknown_column",
                format!(
                    "column {n:?} is not known; the columns are {}",
                    COLUMNS.join(", ")
                ),
            ));
        }
    }
    for r in REQUIRED {
        if !names.clone().any(|n| n == *r) {
            errors.push(err(
                1,
                r,
                "missing_column",
                format!("column {r:?} is required"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A JSON array of objects with the CSV's column names as keys (lists may be arrays). An item
/// that is not an object, or has an unknown key, is an error of that item.
pub fn read_json(text: &str) -> Result<Vec<RawRow>, Vec<RowError>> {
    let items: Vec<std::collections::BTreeMap<String, Option<Loose>>> =
        serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(text)).map_err(|e| {
            vec![err(
                e.line(),
                "",
                "invalid_json",
                format!(
                    "not a JSON array of partner objects (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                ),
            )]
        })?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, obj)| {
            let pairs = obj
                .into_iter()
                .map(|(k, v)| {
                    (
                        k.trim().to_lowercase(),
                        v.map(Loose::into_text).unwrap_or_default(),
                    )
                })
                .collect();
            (i + 1, pairs)
        })
        .collect())
}

fn list(s: &str) -> Vec<String> {
    s.split([';', '|', ','])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn weekday(s: &str) -> Option<WeekdayName> {
    use WeekdayName::*;
    Some(match s.to_lowercase().as_str() {
        "monday" | "mon" | "周一" | "星期一" => Monday,
        "tuesday" | "tue" | "周二" | "星期二" => Tuesday,
        "wednesday" | "wed" | "周三" | "星期三" => Wednesday,
        "thursday" | "thu" | "周四" | "星期四" => Thursday,
        "friday" | "fri" | "周五" | "星期五" => Friday,
        "saturday" | "sat" | "周六" | "星期六" => Saturday,
        "sunday" | "sun" | "周日" | "星期日" | "星期天" => Sunday,
        _ => return None,
    })
}

/// Check one row: the partner, or every problem with it.
pub fn check_row((line, pairs): RawRow) -> Result<PartnerRecord, Vec<RowError>> {
    let mut errors = Vec::new();
    let get = |name: &str| -> String {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    for (k, _) in &pairs {
        if !COLUMNS.contains(&k.as_str()) {
            errors.push(err(
                line,
                k,
                "unknown_column",
                format!("line {line}: field {k:?} is not known"),
            ));
        }
    }
    let required = |name: &str, errors: &mut Vec<RowError>| {
        let v = get(name);
        if v.is_empty() {
            errors.push(err(
                line,
                name,
                "required",
                format!("line {line}: {name} is required"),
            ));
        } else if v.chars().count() > 200 {
            errors.push(err(
                line,
                name,
                "too_long",
                format!("line {line}: {name} is longer than 200 characters"),
            ));
        }
        v
    };
    let code_text = required("code", &mut errors);
    let agency_text = required("agency", &mut errors);
    let name_en = required("name_en", &mut errors);
    let name_zh = required("name_zh", &mut errors);
    let code = match LibraryCode::parse(&code_text) {
        Ok(c) => Some(c),
        Err(e) if !code_text.is_empty() => {
            errors.push(err(
                line,
                "code",
                "invalid_library_code",
                format!("line {line}: {e}"),
            ));
            None
        }
        Err(_) => None,
    };
    let agency = match AgencyId::parse(&agency_text) {
        Ok(a) => Some(a),
        Err(e) if !agency_text.is_empty() => {
            errors.push(err(
                line,
                "agency",
                "invalid_agency_id",
                format!("line {line}: {e}"),
            ));
            None
        }
        Err(_) => None,
    };
    let kind_text = get("kind");
    let kind = if kind_text.is_empty() {
        LibraryKind::University
    } else {
        LibraryKind::parse(&kind_text.to_lowercase()).unwrap_or_else(|| {
            errors.push(err(
                line,
                "kind",
                "invalid_kind",
                format!(
                    "line {line}: kind {kind_text:?} must be university, public, research, supplier or hub"
                ),
            ));
            LibraryKind::University
        })
    };
    let hub_text = get("hub");
    let hub = if hub_text.is_empty() {
        None
    } else {
        match LibraryCode::parse(&hub_text) {
            Ok(h) => Some(h),
            Err(e) => {
                errors.push(err(
                    line,
                    "hub",
                    "invalid_library_code",
                    format!("line {line}: {e}"),
                ));
                None
            }
        }
    };
    let mut services = Vec::new();
    let services_text = get("services");
    if services_text.is_empty() {
        services = vec![Service::Loan, Service::Copy];
    }
    for s in list(&services_text) {
        match Service::parse(&s.to_lowercase()) {
            Some(v) if !services.contains(&v) => services.push(v),
            Some(_) => {}
            None => errors.push(err(
                line,
                "services",
                "invalid_service",
                format!("line {line}: service {s:?} must be loan or copy"),
            )),
        }
    }
    let currency_text = get("currency");
    let currency = Currency::parse(if currency_text.is_empty() {
        "CNY"
    } else {
        &currency_text
    })
    .map_err(|e| {
        errors.push(err(line, "currency", e.code(), format!("line {line}: {e}")));
    })
    .ok();
    let fee = |name: &str, errors: &mut Vec<RowError>| -> Option<Money> {
        let v = get(name);
        if v.is_empty() {
            return None;
        }
        let c = currency.clone()?;
        match Money::parse_decimal(&v, c) {
            Ok(m) if m.is_negative() => {
                errors.push(err(
                    line,
                    name,
                    "negative_amount",
                    format!("line {line}: {name} {v:?} is below zero"),
                ));
                None
            }
            Ok(m) => Some(m).filter(|m| m.minor > 0),
            Err(e) => {
                errors.push(err(
                    line,
                    name,
                    e.code(),
                    format!("line {line}: {name}: {e}"),
                ));
                None
            }
        }
    };
    let loan_fee = fee("loan_fee", &mut errors);
    let copy_fee = fee("copy_fee", &mut errors);
    let days = |name: &str, default: u32, max: u32, errors: &mut Vec<RowError>| -> u32 {
        let v = get(name);
        if v.is_empty() {
            return default;
        }
        match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                errors.push(err(
                    line,
                    name,
                    "out_of_range",
                    format!("line {line}: {name} {v:?} must be a whole number from 1 to {max}"),
                ));
                default
            }
        }
    };
    let loan_days = days("loan_days", 30, 365, &mut errors);
    let answer_days = days("answer_days", 3, 30, &mut errors);
    let mut weekdays = Vec::new();
    for w in list(&get("closed_weekdays")) {
        match weekday(&w) {
            Some(d) if !weekdays.contains(&d) => weekdays.push(d),
            Some(_) => {}
            None => errors.push(err(
                line,
                "closed_weekdays",
                "invalid_weekday",
                format!("line {line}: {w:?} is not a weekday (monday … sunday)"),
            )),
        }
    }
    let mut dates = Vec::new();
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    for d in list(&get("closed_dates")) {
        match Date::parse(&d, fmt) {
            Ok(d) => dates.push(d),
            Err(_) => errors.push(err(
                line,
                "closed_dates",
                "invalid_date",
                format!("line {line}: {d:?} is not a date YYYY-MM-DD"),
            )),
        }
    }
    dates.sort();
    dates.dedup();
    let has_location = pairs
        .iter()
        .any(|(k, _)| k == "latitude" || k == "longitude");
    let location = match GeoPoint::parse(&get("latitude"), &get("longitude")) {
        Ok(p) => has_location.then_some(p),
        Err(e) => {
            errors.push(err(line, e.field(), e.code(), format!("line {line}: {e}")));
            None
        }
    };
    let active_text = get("active").to_lowercase();
    let active = match active_text.as_str() {
        "" | "true" | "yes" | "y" | "1" | "是" => true,
        "false" | "no" | "n" | "0" | "否" => false,
        other => {
            errors.push(err(
                line,
                "active",
                "invalid_flag",
                format!("line {line}: active {other:?} must be true or false"),
            ));
            true
        }
    };
    let offset_text = get("utc_offset");
    let utc_offset = if offset_text.is_empty() {
        None
    } else {
        match LibraryOffset::parse(&offset_text) {
            Ok(o) => Some(o),
            Err(e) => {
                errors.push(RowError {
                    line,
                    field: "utc_offset".to_owned(),
                    code: "invalid_utc_offset",
                    message: format!("line {line}: {}", e.en),
                    message_zh: format!("第 {line} 行：{}", e.zh),
                });
                None
            }
        }
    };
    let (Some(code), Some(agency), true) = (code, agency, errors.is_empty()) else {
        return Err(errors);
    };
    Ok(PartnerRecord {
        line,
        code,
        agency,
        name_en,
        name_zh,
        kind,
        region: get("region"),
        address: get("address"),
        hub,
        closed: ClosedDays { weekdays, dates },
        location,
        utc_offset,
        policy: PartnerPolicy {
            services,
            loan_days,
            answer_days,
            loan_fee,
            copy_fee,
            delivery_methods: list(&get("delivery_methods")),
            payment_methods: list(&get("payment_methods")),
            active,
        },
    })
}

/// Check every row; a code or agency id that an earlier row of the file already used is an
/// error of the later row.
pub fn check_rows(rows: Vec<RawRow>) -> (Vec<PartnerRecord>, Vec<RowError>) {
    let mut good: Vec<PartnerRecord> = Vec::new();
    let mut bad = Vec::new();
    for row in rows {
        match check_row(row) {
            Ok(p) => {
                if let Some(first) = good.iter().find(|g| g.code == p.code) {
                    bad.push(err(
                        p.line,
                        "code",
                        "duplicate_code",
                        format!(
                            "line {}: code {} is already on line {}",
                            p.line, p.code, first.line
                        ),
                    ));
                } else if let Some(first) = good.iter().find(|g| g.agency == p.agency) {
                    bad.push(err(
                        p.line,
                        "agency",
                        "duplicate_agency_id",
                        format!(
                            "line {}: agency id {} is already on line {}",
                            p.line, p.agency, first.line
                        ),
                    ));
                } else {
                    good.push(p);
                }
            }
            Err(e) => bad.extend(e),
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_csv_with_bad_rows_names_each_by_line_and_field() {
        let csv = "\u{feff}code,agency,name_en,name_zh,region,services,loan_fee,copy_fee,loan_days,closed_weekdays,closed_dates\n\
            PKU,ISIL:CN-100871,Peking University Library,北京大学图书馆,Beijing,loan;copy,,10.00,30,sunday,2026-10-01\n\
            bad code!,ISIL:CN-1,X,Y,,,,,,,\n\
            \"FDU\",ISIL:CN-200433,\"Fudan University Library, Shanghai\",复旦大学图书馆,Shanghai,copy,,abc,0,funday,\n\
            PKU,ISIL:CN-9,Again,再次,,,,,,,\n";
        let rows = read_csv(csv).unwrap();
        assert_eq!(rows.len(), 4);
        let (good, bad) = check_rows(rows);
        assert_eq!(good.len(), 1);
        let pku = &good[0];
        assert_eq!(pku.code.as_str(), "PKU");
        assert_eq!(pku.policy.copy_fee.as_ref().map(|m| m.minor), Some(1000));
        assert_eq!(pku.policy.loan_fee, None);
        assert_eq!(pku.closed.weekdays, [WeekdayName::Sunday]);
        let got: Vec<_> = bad
            .iter()
            .map(|e| (e.line, e.field.as_str(), e.code))
            .collect();
        assert_eq!(bad[1].message_zh, "第 4 行 copy_fee：金额无效（如 12.50）");
        assert_eq!(
            got,
            [
                (3, "code", "invalid_library_code"),
                (4, "copy_fee", "invalid_amount"),
                (4, "loan_days", "out_of_range"),
                (4, "closed_weekdays", "invalid_weekday"),
                (5, "code", "duplicate_code"),
            ]
        );
    }

    #[test]
    fn coordinates_are_read_in_degrees_and_checked_as_a_pair() {
        let csv = "code,agency,name_en,name_zh,latitude,longitude\n\
            PKU,ISIL:CN-100871,Peking University Library,北京大学图书馆,39.9929,116.3059\n\
            NOPE,ISIL:CN-2,Nowhere,无处,95,116\n\
            HALF,ISIL:CN-3,Half,一半,39.9,\n\
            NONE,ISIL:CN-4,No place,无坐标,,\n";
        let (good, bad) = check_rows(read_csv(csv).unwrap());
        let pku = good[0].location.unwrap().unwrap();
        assert_eq!((pku.lat_e6(), pku.lon_e6()), (39_992_900, 116_305_900));
        assert_eq!(good[1].code.as_str(), "NONE");
        assert_eq!(good[1].location, Some(None));
        let got: Vec<_> = bad
            .iter()
            .map(|e| (e.line, e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            got,
            [
                (3, "latitude", "out_of_range"),
                (4, "longitude", "required")
            ]
        );
        assert_eq!(bad[0].message_zh, "第 3 行 latitude：超出允许范围");
        assert!(bad[0].message.contains("-90 to 90"), "{}", bad[0].message);
    }

    #[test]
    fn unknown_or_missing_columns_refuse_the_file() {
        let e = read_csv("code,agencyy,name_en\nA,B,C\n").unwrap_err();
        let got: Vec<_> = e.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("agencyy", "unknown_column"),
                ("agency", "missing_column"),
                ("name_zh", "missing_column")
            ]
        );
        assert_eq!(read_csv("a,\"b\n").unwrap_err()[0].code, "unclosed_quote");
    }

    #[test]
    fn json_items_are_numbered() {
        let json = r#"[{"code":"NLC","agency":"ISIL:CN-NLC","name_en":"National Library","name_zh":"国家图书馆","services":["copy"],"copy_fee":5,"kind":"research"},
                       {"code":"X","agency":"nope"}]"#;
        let (good, bad) = check_rows(read_json(json).unwrap());
        assert_eq!(good[0].policy.services, [Service::Copy]);
        assert_eq!(good[0].policy.copy_fee.as_ref().map(|m| m.minor), Some(500));
        assert!(bad.iter().all(|e| e.line == 2));
        let fields: Vec<_> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name_en", "name_zh", "code", "agency"]);
    }

    proptest! {
        /// Any text is either refused as a file or split into rows; checking rows never panics.
        #[test]
        fn any_text_reads_or_errs(s in "\\PC{0,300}") {
            if let Ok(rows) = read_csv(&format!("code,agency,name_en,name_zh\n{s}")) {
                let _ = check_rows(rows);
            }
            let _ = read_json(&s);
        }
    }
}
