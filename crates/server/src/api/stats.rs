//! Borrowing statistics from the request history: requests, fills, fill rate, unfilled
//! reasons and turnaround per stage, by reader type, department, reader, source, journal,
//! partner, library, format, month or year; the caller's library, or (hub admins) every
//! library on the node. JSON, CSV (UTF-8 with a byte order mark, so spreadsheet programs
//! read Chinese correctly) or XLSX.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use domain::Actor;
use domain::citation::FieldError;
use domain::people::Role;
use domain::stats::GroupStats;
use serde::{Deserialize, Serialize};
use store::{StatKey, StatScope};
use time::Date;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(borrowing))
        .routes(routes!(partners))
}

/// How far back partner evaluation (and routing) looks.
const HISTORY_DAYS: i64 = 365;

/// One partner's capability as a lender, from the request history of every library on the
/// node and the requests waiting for it now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartnerScore {
    /// Library code.
    pub library: String,
    pub name: String,
    pub name_zh: String,
    /// Capability score, 0 to 100: 40 % fill, 25 % speed, 20 % reliability, 15 % load.
    pub score: u32,
    /// The parts of the score, each 0 to 100.
    pub fill_points: u32,
    pub speed_points: u32,
    pub reliability_points: u32,
    pub load_points: u32,
    /// Requests it was asked over the last year.
    pub asked: u32,
    pub filled: u32,
    pub unfilled: u32,
    /// filled / (filled + unfilled), when anything was decided.
    pub fill_rate: Option<f64>,
    /// Median hours from our request to its shipment.
    pub median_hours: Option<f64>,
    /// Answered before the deadline.
    pub on_time: u32,
    /// Let the deadline pass.
    pub late: u32,
    /// on_time / (on_time + late), when any answer was due.
    pub reliability: Option<f64>,
    /// Requests waiting for its answer now.
    pub open_now: u32,
}

/// The partners' scores and how they are made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartnerEvaluation {
    /// How the score is made, in English.
    pub explanation: String,
    /// How the score is made, in Chinese.
    pub explanation_zh: String,
    /// Best first.
    pub partners: Vec<PartnerScore>,
}

/// Every other library's capability as a lender, best first. For admins.
pub async fn evaluate(st: &AppState, user: &CurrentUser) -> ApiResult<PartnerEvaluation> {
    if !user.roles.iter().any(|r| r.is_admin()) {
        return Err(ApiError::forbidden(
            "partner evaluation is for the library's admins",
            "合作馆评估仅供本馆管理员查看",
        ));
    }
    let records = st
        .store
        .lender_records(
            st.now() - time::Duration::days(HISTORY_DAYS),
            std::time::Duration::from_secs(st.config.routing_history_secs),
        )
        .await?;
    let mut partners: Vec<PartnerScore> = st
        .store
        .libraries()
        .await?
        .into_iter()
        .filter(|l| l.library_id != user.library_id)
        .map(|l| {
            let r = records.get(&l.library_id).cloned().unwrap_or_default();
            let c = r.capability();
            PartnerScore {
                score: c.score,
                fill_points: c.fill,
                speed_points: c.speed,
                reliability_points: c.reliability,
                load_points: c.load,
                asked: r.asked,
                filled: r.filled,
                unfilled: r.unfilled,
                fill_rate: r.fill_per_mille().map(|f| f as f64 / 1000.0),
                median_hours: r.median_minutes.map(|m| m as f64 / 60.0),
                on_time: r.on_time,
                late: r.late,
                reliability: r.reliability_per_mille().map(|f| f as f64 / 1000.0),
                open_now: r.open_now,
                library: l.library_id,
                name: l.name_en,
                name_zh: l.name_zh,
            }
        })
        .collect();
    partners.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.library.cmp(&b.library))
    });
    Ok(PartnerEvaluation {
        explanation: domain::routing::CAPABILITY_EXPLAINED.to_owned(),
        explanation_zh: domain::routing::CAPABILITY_EXPLAINED_ZH.to_owned(),
        partners,
    })
}

/// Partner evaluation: each other library's capability score as a lender (fill rate, speed,
/// reliability, load now), as routing uses it, with how it is made in English and Chinese.
#[utoipa::path(get, path = "/api/v1/stats/partners", tag = "statistics",
    responses((status = 200, body = PartnerEvaluation), (status = 403, body = ErrorBody)))]
pub async fn partners(
    State(st): State<AppState>,
    user: CurrentUser,
) -> ApiResult<axum::Json<PartnerEvaluation>> {
    Ok(axum::Json(evaluate(&st, &user).await?))
}

#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// patron_type (default), department, reader, source (form, openurl, lookup, api),
    /// journal, partner (also `lender`), library, format, month or year.
    pub by: Option<String>,
    /// First day (YYYY-MM-DD) of requests counted, by creation; default 1 January this year.
    pub from: Option<String>,
    /// Last day counted (YYYY-MM-DD); default today.
    pub to: Option<String>,
    /// json (default), csv or xlsx.
    pub format: Option<String>,
    /// Only the N groups with most requests, most first (1 to 1000), e.g. the top journals.
    pub top: Option<String>,
    /// library (default): the caller's library; hub: every library on the node (hub admins).
    pub scope: Option<String>,
}

/// What a report is asked for, checked.
#[derive(Debug, Clone)]
pub struct Report {
    pub key: StatKey,
    pub from: Date,
    pub to: Date,
    pub format: ExportFormat,
    pub top: Option<usize>,
    pub hub: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
    Xlsx,
}

fn day(field: &'static str, v: Option<&str>, default: Date) -> Result<Date, FieldError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| FieldError::new(field, "invalid_date", format!("{s:?} is not YYYY-MM-DD")))
            .and_then(|d| {
                if (1970..=2200).contains(&d.year()) {
                    Ok(d)
                } else {
                    Err(FieldError::new(
                        field,
                        "out_of_range",
                        format!("{s}: a day between 1970 and 2200"),
                    ))
                }
            }),
    }
}

impl Report {
    /// Every problem with the parameters, named by parameter.
    pub fn parse(q: &StatsQuery, today: Date) -> Result<Report, Vec<FieldError>> {
        let mut errors = Vec::new();
        let by = q.by.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let key = match by {
            None => StatKey::PatronType,
            Some(b) => StatKey::parse(b).unwrap_or_else(|| {
                let names: Vec<&str> = StatKey::ALL.iter().map(|k| k.as_str()).collect();
                errors.push(FieldError::new(
                    "by",
                    "unknown_grouping",
                    format!("{b:?} is not one of {}", names.join(", ")),
                ));
                StatKey::PatronType
            }),
        };
        let start_of_year = Date::from_ordinal_date(today.year(), 1).unwrap_or(today);
        let from = day("from", q.from.as_deref(), start_of_year);
        let to = day("to", q.to.as_deref(), today);
        let (from, to) = match (from, to) {
            (Ok(f), Ok(t)) if t < f => {
                errors.push(FieldError::new(
                    "to",
                    "before_from",
                    format!("to {t} is before from {f}"),
                ));
                (f, t)
            }
            (Ok(f), Ok(t)) => (f, t),
            (f, t) => {
                errors.extend(f.err());
                errors.extend(t.err());
                (today, today)
            }
        };
        let format = match q.format.as_deref().map(str::trim) {
            None | Some("") | Some("json") => ExportFormat::Json,
            Some("csv") => ExportFormat::Csv,
            Some("xlsx") => ExportFormat::Xlsx,
            Some(other) => {
                errors.push(FieldError::new(
                    "format",
                    "unknown_format",
                    format!("{other:?} is not json, csv or xlsx"),
                ));
                ExportFormat::Json
            }
        };
        let top = match q.top.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(t) => match t.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => Some(n),
                _ => {
                    errors.push(FieldError::new(
                        "top",
                        "out_of_range",
                        format!("{t:?} is not a whole number from 1 to 1000"),
                    ));
                    None
                }
            },
        };
        let hub = match q.scope.as_deref().map(str::trim) {
            None | Some("") | Some("library") => false,
            Some("hub") => true,
            Some(other) => {
                errors.push(FieldError::new(
                    "scope",
                    "unknown_scope",
                    format!("{other:?} is not library or hub"),
                ));
                false
            }
        };
        if errors.is_empty() {
            Ok(Report {
                key,
                from,
                to,
                format,
                top,
                hub,
            })
        } else {
            Err(errors)
        }
    }

    /// A file name for the export, without extension.
    pub fn file_stem(&self) -> String {
        format!(
            "borrowing-statistics-{}-{}-{}",
            self.key.as_str(),
            self.from,
            self.to
        )
    }
}

/// Requests a report request summarises itself when the summaries are behind: about a page
/// of the statistics job, well under a second. More is left to the job (a report after an
/// upgrade summarised 205,000 requests inline: 51 s).
const INLINE_SUMMARY: u64 = 2_000;

/// A report, and whether it is still incomplete.
#[derive(Debug, Clone)]
pub struct Ran {
    pub stats: Vec<GroupStats>,
    /// While the statistics job is catching up: the report counts only the requests
    /// summarised so far.
    pub preparing: Option<Preparing>,
}

/// The statistics are being prepared (after an upgrade or a restore): the report counts the
/// requests summarised so far.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preparing {
    /// Requests summarised so far in this pass.
    pub summarised: u64,
    /// Requests this pass summarises.
    pub total: u64,
    pub message: String,
    pub message_zh: String,
}

impl Preparing {
    fn of(p: store::FactProgress) -> Self {
        Preparing {
            summarised: p.done,
            total: p.total,
            message: format!(
                "Statistics are being prepared: {} of {} requests summarised. Until then the figures count only the requests summarised so far.",
                p.done, p.total
            ),
            message_zh: format!(
                "统计数据正在准备中：已汇总 {} / {} 个请求。在此之前，数字仅包含已汇总的请求。",
                p.done, p.total
            ),
        }
    }

    /// The notice in `m`'s language.
    pub fn message_in(&self, m: &crate::web::catalog::Msg) -> &str {
        if m.is_zh() {
            &self.message_zh
        } else {
            &self.message
        }
    }
}

/// A report still being prepared (JSON, status 202): the groups counted so far and how far
/// the summaries have got. A complete report is the plain list of groups (status 200).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartialReport {
    pub preparing: Preparing,
    #[schema(value_type = Vec<GroupStatsDoc>)]
    pub groups: Vec<GroupStats>,
}

/// The time of `library_id`, whose days a report's period and months are.
pub async fn library_offset(
    st: &AppState,
    library_id: &str,
) -> Result<domain::library::LibraryOffset, store::StoreError> {
    Ok(st.store.library(library_id).await?.offset())
}

/// The report's groups for `user`. Summaries a little behind the events are brought up to
/// date first; far behind (the statistics job is catching up), the report counts what is
/// summarised and says how far that is. Staff only; the hub's view for hub admins only.
pub async fn run(st: &AppState, user: &CurrentUser, r: &Report) -> ApiResult<Ran> {
    if !user.can(Actor::BorrowingStaff) {
        return Err(ApiError::forbidden(
            "statistics are for the library's staff",
            "统计数据仅供本馆馆员查看",
        ));
    }
    if r.hub && !user.roles.contains(&Role::HubAdmin) {
        return Err(ApiError::forbidden(
            "scope=hub (the hub and its members) is for hub admins",
            "scope=hub（中心及其成员馆）仅供中心管理员使用",
        ));
    }
    if r.hub && r.key == StatKey::Reader {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "by",
            "reader_in_hub_scope",
            "by=reader is for the library's own readers: the hub's view does not name other libraries' readers",
        )]));
    }
    // Far behind only when nothing was summarised yet (after an upgrade or a restore): then
    // the report says it is incomplete. Otherwise a few changes are summarised here, and more
    // (a busy hub's last minute) are left to the job, which runs every
    // `statistics_interval_ms`: the figures are that much behind, not incomplete.
    // Where several processes share the database, only the one running the job summarises
    // (the others' reports read the summaries as they are, at most that much behind).
    let preparing = match st.store.request_facts_pending().await? {
        Some(p) if p.remaining() <= INLINE_SUMMARY => {
            st.store.refresh_request_facts(st.now()).await?;
            // Still a full pass under way (another process runs the job, or it did not
            // finish): the figures are not whole yet.
            match st.store.request_facts_pending().await? {
                Some(p) if p.full => Some(Preparing::of(p)),
                Some(_) | None => None,
            }
        }
        Some(p) if p.full => Some(Preparing::of(p)),
        Some(_) | None => None,
    };
    // The days of the period are the library's: from its midnight to its midnight.
    let offset = library_offset(st, &user.library_id).await?;
    let scope = StatScope {
        library_id: Some(user.library_id.clone()),
        members: r.hub,
        from: offset.start_of(r.from),
        to: offset.start_of(r.to) + time::Duration::days(1),
    };
    let stats = st.store.stat_report(&scope, r.key, r.top).await?;
    Ok(Ran { stats, preparing })
}

/// Requests, fills, fill rate, unfilled reasons and turnaround per stage (median and 90th
/// percentile, in hours), grouped as asked, with a total row `all`; JSON, CSV or XLSX.
#[utoipa::path(get, path = "/api/v1/stats/borrowing", tag = "statistics", params(StatsQuery),
    responses(
        (status = 200, body = Vec<GroupStatsDoc>, description = "groups, then the total `all`; CSV or XLSX with format=csv|xlsx"),
        (status = 202, body = PartialReport, description = "JSON only: the statistics are being prepared (after an upgrade or a restore, nothing summarised yet): the groups counted so far and how many requests are summarised"),
        (status = 503, body = ErrorBody, description = "`statistics_preparing`: a CSV or XLSX export while the statistics are being prepared; ask again when they are ready"),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a bad parameter, named in `fields`")))]
pub async fn borrowing(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<StatsQuery>,
) -> ApiResult<Response> {
    let today = library_offset(&st, &user.library_id).await?.date(st.now());
    let report = Report::parse(&q, today).map_err(ApiError::Invalid)?;
    let ran = run(&st, &user, &report).await?;
    export(&report, ran)
}

/// The report as asked: JSON, CSV or XLSX; while it is being prepared with status 202, and
/// the notice in the JSON (`preparing`) or, for a file, in a header.
pub fn export(report: &Report, ran: Ran) -> ApiResult<Response> {
    let Ran { stats, preparing } = ran;
    let stats = stats.as_slice();
    let stem = report.file_stem();
    match (report.format, preparing) {
        (ExportFormat::Json, Some(preparing)) => Ok((
            axum::http::StatusCode::ACCEPTED,
            axum::Json(PartialReport {
                preparing,
                groups: stats.to_vec(),
            }),
        )
            .into_response()),
        // A file carries no notice that a reader of it would see: none is made until the
        // figures are whole.
        (_, Some(p)) => Err(ApiError::Bilingual(
            503,
            "statistics_preparing",
            format!("{} Export the file again when they are ready.", p.message),
            format!("{}准备完成后请重新导出文件。", p.message_zh),
        )),
        (_, None) => export_file(report, &stem, stats),
    }
}

fn export_file(report: &Report, stem: &str, stats: &[GroupStats]) -> ApiResult<Response> {
    Ok(match report.format {
        ExportFormat::Json => axum::Json(stats).into_response(),
        ExportFormat::Csv => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{stem}.csv\""),
                ),
            ],
            to_csv(report.key.as_str(), stats),
        )
            .into_response(),
        ExportFormat::Xlsx => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{stem}.xlsx\""),
                ),
            ],
            to_xlsx(report.key.as_str(), stats)?,
        )
            .into_response(),
    })
}

/// The columns of an export: (code, Chinese).
fn columns(key: &str) -> Vec<(String, String)> {
    let mut head = vec![
        (key.to_owned(), "分组".to_owned()),
        ("requests".into(), "请求数".into()),
        ("filled".into(), "满足数".into()),
        ("unfilled".into(), "未满足数".into()),
        ("cancelled".into(), "取消数".into()),
        ("fill_rate".into(), "满足率".into()),
    ];
    let zh = [
        "提交至发出",
        "发出至寄出",
        "寄出至收到",
        "收到至交给读者",
        "归还至签收",
    ];
    for ((name, _, _), zh) in domain::stats::STAGES.iter().zip(zh) {
        head.push((
            format!("{name}_median_hours"),
            format!("{zh}中位数（小时）"),
        ));
        head.push((format!("{name}_p90_hours"), format!("{zh}90%分位（小时）")));
    }
    head.push(("unfilled_reasons".into(), "未满足原因".into()));
    head
}

fn reasons(g: &GroupStats) -> String {
    g.unfilled_reasons
        .iter()
        .map(|(r, n)| format!("{r}: {n}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn to_csv(key: &str, stats: &[GroupStats]) -> String {
    let mut out = String::from("\u{feff}");
    let head: Vec<String> = columns(key).into_iter().map(|(c, _)| c).collect();
    out.push_str(&head.join(","));
    out.push_str("\r\n");
    let num = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_default();
    for g in stats {
        let mut row = vec![
            csv_field(&g.group),
            g.requests.to_string(),
            g.filled.to_string(),
            g.unfilled.to_string(),
            g.cancelled.to_string(),
            num(g.fill_rate),
        ];
        for s in &g.stages {
            row.push(num(s.median_hours));
            row.push(num(s.p90_hours));
        }
        row.push(csv_field(&reasons(g)));
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

fn to_xlsx(key: &str, stats: &[GroupStats]) -> ApiResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let x = |e: rust_xlsxwriter::XlsxError| ApiError::internal(anyhow::anyhow!("statistics: {e}"));
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("统计 Statistics").map_err(x)?;
    let bold = Format::new().set_bold();
    let hours = Format::new().set_num_format("0.00");
    let rate = Format::new().set_num_format("0.0%");
    for (c, (code, zh)) in columns(key).iter().enumerate() {
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        ws.write_string_with_format(0, c, zh, &bold).map_err(x)?;
        ws.write_string_with_format(1, c, code, &bold).map_err(x)?;
    }
    for (r, g) in stats.iter().enumerate() {
        let r = u32::try_from(r + 2)
            .map_err(|_| ApiError::internal(anyhow::anyhow!("statistics: too many rows")))?;
        ws.write_string(r, 0, &g.group).map_err(x)?;
        ws.write_number(r, 1, g.requests as f64).map_err(x)?;
        ws.write_number(r, 2, g.filled as f64).map_err(x)?;
        ws.write_number(r, 3, g.unfilled as f64).map_err(x)?;
        ws.write_number(r, 4, g.cancelled as f64).map_err(x)?;
        if let Some(f) = g.fill_rate {
            ws.write_number_with_format(r, 5, f, &rate).map_err(x)?;
        }
        let mut c = 6u16;
        for s in &g.stages {
            for v in [s.median_hours, s.p90_hours] {
                if let Some(v) = v {
                    ws.write_number_with_format(r, c, v, &hours).map_err(x)?;
                }
                c += 1;
            }
        }
        ws.write_string(r, c, reasons(g)).map_err(x)?;
    }
    wb.save_to_buffer().map_err(x)
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    // A value a spreadsheet would take for a formula (titles and names come from readers and
    // partners) is written as text.
    let guarded;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err() {
        guarded = format!("'{s}");
        guarded.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One group of a statistics report (the JSON shape).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct GroupStatsDoc {
    /// The group's key; `all` is the total over every request, `-` requests without a key.
    group: String,
    requests: u64,
    /// Supplied by a lender (shipped or delivered at least once).
    filled: u64,
    unfilled: u64,
    cancelled: u64,
    /// filled / (filled + unfilled); null while nothing is decided.
    fill_rate: Option<f64>,
    /// Unfilled requests by reason: the lender's ISO 18626 reasonUnfilled, `deadline_passed`,
    /// `not_given` or `no_lender`.
    unfilled_reasons: std::collections::BTreeMap<String, u64>,
    stages: Vec<StageStatDoc>,
}

/// Turnaround of one stage.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StageStatDoc {
    /// request_to_sent, sent_to_shipped, shipped_to_received, received_to_reader or
    /// returned_to_checked_in.
    stage: String,
    /// Requests that went through the stage.
    n: u64,
    median_hours: Option<f64>,
    p90_hours: Option<f64>,
}
