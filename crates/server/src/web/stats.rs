//! The statistics pages: borrowing statistics by any grouping with a bar chart of requests and
//! fills and one of turnaround per stage, each beside a table of the same figures, with CSV
//! and XLSX downloads; and partner evaluation (capability scores) for admins.

use axum::http::StatusCode;
use axum::response::Response;
use domain::people::Role;
use domain::stats::GroupStats;
use store::StatKey;

use super::catalog::Msg;
use super::chart::{Row, bars};
use super::forms::{AdminPage, Block, Cell, FormView, Input, Opt, TableView};
use super::{Ctx, QueryIn, WebError, query};
use crate::api::stats::{ExportFormat, Report, StatsQuery};
use crate::error::ApiError;

/// Groups drawn in a chart at most; the table beside it has them all.
const CHART_ROWS: usize = 30;

fn key_label(m: &Msg, k: StatKey) -> &'static str {
    match k {
        StatKey::PatronType => m.pick("Reader type", "读者类型"),
        StatKey::Department => m.pick("Department", "院系"),
        StatKey::Reader => m.pick("Reader", "读者"),
        StatKey::Source => m.pick("Source (how the request came in)", "来源（请求提交方式）"),
        StatKey::Journal => m.pick("Journal", "期刊"),
        StatKey::Partner => m.pick("Partner library", "合作馆"),
        StatKey::Library => m.pick("Borrowing library", "借入馆"),
        StatKey::Format => m.pick("Format", "文献类型"),
        StatKey::Month => m.pick("Month", "月份"),
        StatKey::Year => m.pick("Year", "年份"),
    }
}

/// A group's key as people read it: codes in the page's language, the rest as stored.
fn group_label(m: &Msg, k: StatKey, g: &str) -> String {
    let fixed = match (k, g) {
        (_, "all") => Some(m.pick("All requests", "全部请求")),
        (_, "-") => Some(m.pick("(none)", "（无）")),
        (StatKey::PatronType, "faculty") => Some(m.pick("Faculty", "教师")),
        (StatKey::PatronType, "phd") => Some(m.pick("PhD student", "博士生")),
        (StatKey::PatronType, "master") => Some(m.pick("Master's student", "硕士生")),
        (StatKey::PatronType, "undergraduate") => Some(m.pick("Undergraduate", "本科生")),
        (StatKey::PatronType, "staff") => Some(m.pick("Library staff", "馆员")),
        (StatKey::PatronType, "external") => Some(m.pick("External reader", "校外读者")),
        (StatKey::Source, "form") => Some(m.pick("Web form", "网页表单")),
        (StatKey::Source, "openurl") => Some(m.pick("OpenURL link", "OpenURL 链接")),
        (StatKey::Source, "lookup") => {
            Some(m.pick("DOI / PMID / ISBN lookup", "DOI / PMID / ISBN 检索"))
        }
        (StatKey::Source, "api") => Some(m.pick("API", "接口")),
        (StatKey::Format, f) => Some(m.format(f)).filter(|l| *l != f),
        _ => None,
    };
    fixed.map_or_else(|| g.to_owned(), str::to_owned)
}

fn reason_label(m: &Msg, r: &str) -> String {
    match r {
        "deadline_passed" => m.pick("deadline passed", "逾期未答复").to_owned(),
        "not_given" => m.pick("no reason given", "未说明原因").to_owned(),
        "no_lender" => m.pick("no lender asked", "无可请求的馆").to_owned(),
        other => other.to_owned(),
    }
}

fn stage_label(m: &Msg, stage: &str) -> &'static str {
    match stage {
        "request_to_sent" => m.pick("Request → sent", "提交 → 发出"),
        "sent_to_shipped" => m.pick("Sent → shipped", "发出 → 寄出"),
        "shipped_to_received" => m.pick("Shipped → received", "寄出 → 收到"),
        "received_to_reader" => m.pick("Received → reader", "收到 → 交给读者"),
        _ => m.pick("Returned → checked in", "归还 → 签收"),
    }
}

fn hours(m: &Msg, h: Option<f64>) -> String {
    match h {
        Some(h) => format!("{h:.1} {}", m.pick("h", "小时")),
        None => "–".to_owned(),
    }
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{:.0} %", r * 100.0))
}

/// The query string of a report, for the download links.
fn export_href(q: &StatsQuery, format: &str) -> String {
    let mut parts = vec![format!("format={format}")];
    for (k, v) in [
        ("by", &q.by),
        ("from", &q.from),
        ("to", &q.to),
        ("top", &q.top),
        ("scope", &q.scope),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", super::percent_encode(v)));
        }
    }
    format!("/staff/stats/export?{}", parts.join("&"))
}

fn form(m: &Msg, q: &StatsQuery, r: Option<&Report>, hub_admin: bool) -> FormView {
    let by = r.map_or(StatKey::PatronType, |r| r.key);
    let mut f = FormView::post(
        "stats",
        "/staff/stats",
        m.pick("Show statistics", "显示统计"),
    );
    f.method = "get";
    f = f
        .input(
            Input::new("by", m.pick("Group by", "分组方式"), "select", by.as_str()).options(
                StatKey::ALL
                    .iter()
                    .map(|k| Opt::new(k.as_str(), key_label(m, *k), *k == by))
                    .collect(),
            ),
        )
        .input(
            Input::new(
                "from",
                m.pick("From (first day)", "起始日期"),
                "date",
                &r.map_or_else(|| q.from.clone().unwrap_or_default(), |r| r.from.to_string()),
            )
            .hint(m.pick("Requests created on or after this day.", "统计此日及以后提交的请求。")),
        )
        .input(Input::new(
            "to",
            m.pick("To (last day)", "截止日期"),
            "date",
            &r.map_or_else(|| q.to.clone().unwrap_or_default(), |r| r.to.to_string()),
        ))
        .input(
            Input::new(
                "top",
                m.pick("Only the most requested", "仅显示请求最多的"),
                "number",
                q.top.as_deref().unwrap_or_default(),
            )
            .hint(m.pick(
                "A number from 1 to 1000, e.g. 10 with Journal for the top journals; empty: every group.",
                "1 到 1000 之间的数字，例如按期刊分组填 10 即为前十种期刊；留空显示全部。",
            )),
        );
    if hub_admin {
        let hub = r.is_some_and(|r| r.hub);
        f = f.input(
            Input::new("scope", m.pick("Libraries", "范围"), "select", "").options(vec![
                Opt::new("library", m.pick("My library", "本馆"), !hub),
                Opt::new(
                    "hub",
                    m.pick("Every library of the hub", "联盟全部成员馆"),
                    hub,
                ),
            ]),
        );
    }
    f
}

/// `GET /staff/stats`: the statistics page.
pub async fn page(ctx: Ctx, q: QueryIn<StatsQuery>) -> Response {
    let r = async {
        let user = ctx.user()?;
        let q = query(q)?;
        let m = ctx.m;
        let hub_admin = user.roles.contains(&Role::HubAdmin);
        let mut page = AdminPage::new(m, ctx.chrome(), m.pick("Borrowing statistics", "借入统计"));
        page.intro = Some(
            m.pick(
                "Counted from the history of every request: how many were asked for, how many a partner supplied, why the others were not, and how long each stage took (median and 90th percentile: nine in ten were quicker).",
                "根据每个请求的处理记录统计：提交了多少、合作馆提供了多少、未满足的原因，以及各环节所用时间（中位数和 90% 分位数：九成请求快于此值）。",
            )
            .to_owned(),
        );
        let today = crate::api::stats::library_offset(&ctx.st, &user.library_id)
            .await
            .map_err(ApiError::from)?
            .date(ctx.st.now());
        let report = match Report::parse(&q, today) {
            Ok(r) => r,
            Err(fields) => {
                let mut f = form(m, &q, None, hub_admin);
                for e in fields {
                    f.field_error(e.field, m.field_error_of(&e));
                }
                page.blocks.push(Block::form(f));
                return Ok(ctx.respond(StatusCode::UNPROCESSABLE_ENTITY, page));
            }
        };
        let crate::api::stats::Ran { stats, preparing } =
            crate::api::stats::run(&ctx.st, user, &report).await?;
        page.notice = preparing.map(|p| p.message_in(m).to_owned());
        page.blocks.push(Block::form(form(m, &q, Some(&report), hub_admin)));
        page.links = vec![
            (
                export_href(&q, "csv"),
                m.pick("Download CSV", "下载 CSV").to_owned(),
            ),
            (
                export_href(&q, "xlsx"),
                m.pick("Download Excel (XLSX)", "下载 Excel（XLSX）").to_owned(),
            ),
            (
                "/staff/stats?by=journal&top=10".to_owned(),
                m.pick("Top 10 journals", "期刊前十").to_owned(),
            ),
        ];
        page.blocks.extend(blocks(m, report.key, &stats));
        Ok(ctx.page(page))
    }
    .await;
    ctx.finish(r)
}

/// The charts and tables of a report.
pub fn blocks(m: &Msg, key: StatKey, stats: &[GroupStats]) -> Vec<Block> {
    let mut out = Vec::new();
    let groups: Vec<&GroupStats> = stats.iter().filter(|g| g.group != "all").collect();
    let by = key_label(m, key);
    let title = format!("{} · {by}", m.pick("Requests and fills", "请求数与满足数"));
    out.push(Block::heading(title.clone()));
    let drawn: Vec<&GroupStats> = if groups.len() > CHART_ROWS {
        let mut v = groups.clone();
        v.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| a.group.cmp(&b.group))
        });
        v.truncate(CHART_ROWS);
        out.push(Block::text(format!(
            "{} {CHART_ROWS} {}",
            m.pick("The chart shows the", "图中仅显示请求最多的"),
            m.pick(
                "groups with most requests; the table has them all.",
                "组；下表列出全部。"
            )
        )));
        v
    } else {
        groups.clone()
    };
    let rows: Vec<Row> = drawn
        .iter()
        .map(|g| Row {
            label: group_label(m, key, &g.group),
            values: vec![
                (Some(g.requests as f64), g.requests.to_string()),
                (
                    Some(g.filled as f64),
                    format!("{} ({})", g.filled, rate(g.fill_rate)),
                ),
            ],
        })
        .collect();
    let desc = format!(
        "{} {}",
        groups.len(),
        m.pick(
            "groups; for each, the number of requests and how many a partner supplied (fill rate in brackets). The table below has the same figures.",
            "组；每组的请求数和合作馆提供的数量（括号内为满足率）。下表列出相同数据。"
        )
    );
    out.push(Block::svg(bars(
        "chart-groups",
        &title,
        &desc,
        &[m.pick("Requests", "请求数"), m.pick("Filled", "满足数")],
        &rows,
    )));
    out.push(Block::table(TableView {
        caption: Some(title),
        headers: vec![
            by.to_owned(),
            m.pick("Requests", "请求数").to_owned(),
            m.pick("Filled", "满足数").to_owned(),
            m.pick("Unfilled", "未满足").to_owned(),
            m.pick("Cancelled", "已取消").to_owned(),
            m.pick("Fill rate", "满足率").to_owned(),
            m.pick("Why unfilled", "未满足原因").to_owned(),
        ],
        rows: stats
            .iter()
            .map(|g| {
                vec![
                    Cell::text(group_label(m, key, &g.group)),
                    Cell::text(g.requests.to_string()),
                    Cell::text(g.filled.to_string()),
                    Cell::text(g.unfilled.to_string()),
                    Cell::text(g.cancelled.to_string()),
                    Cell::text(rate(g.fill_rate)),
                    Cell::text(
                        g.unfilled_reasons
                            .iter()
                            .map(|(r, n)| format!("{} {n}", reason_label(m, r)))
                            .collect::<Vec<_>>()
                            .join(m.pick("; ", "；")),
                    ),
                ]
            })
            .collect(),
        empty: m
            .pick("No requests in this period.", "此期间没有请求。")
            .to_owned(),
    }));

    if let Some(all) = stats.iter().find(|g| g.group == "all") {
        let title = m.pick("Turnaround per stage", "各环节用时").to_owned();
        out.push(Block::heading(title.clone()));
        let rows: Vec<Row> = all
            .stages
            .iter()
            .map(|s| Row {
                label: stage_label(m, s.stage).to_owned(),
                values: vec![
                    (s.median_hours, hours(m, s.median_hours)),
                    (s.p90_hours, hours(m, s.p90_hours)),
                ],
            })
            .collect();
        out.push(Block::svg(bars(
            "chart-stages",
            &title,
            m.pick(
                "For each stage of a request, the median hours and the 90th percentile (nine in ten requests were quicker), over every request counted. The table below has the same figures.",
                "请求各环节所用小时数的中位数和 90% 分位数（九成请求快于此值），统计全部请求。下表列出相同数据。",
            ),
            &[m.pick("Median", "中位数"), m.pick("90th percentile", "90% 分位")],
            &rows,
        )));
        out.push(Block::table(TableView {
            caption: Some(title),
            headers: vec![
                m.pick("Stage", "环节").to_owned(),
                m.pick("Requests through it", "经过此环节的请求").to_owned(),
                m.pick("Median", "中位数").to_owned(),
                m.pick("90th percentile", "90% 分位").to_owned(),
            ],
            rows: all
                .stages
                .iter()
                .map(|s| {
                    vec![
                        Cell::text(stage_label(m, s.stage)),
                        Cell::text(s.n.to_string()),
                        Cell::text(hours(m, s.median_hours)),
                        Cell::text(hours(m, s.p90_hours)),
                    ]
                })
                .collect(),
            empty: String::new(),
        }));
    }
    out
}

/// `GET /staff/stats/export?format=csv|xlsx`: the report as a file.
pub async fn export(ctx: Ctx, q: QueryIn<StatsQuery>) -> Response {
    let r = async {
        let user = ctx.user()?;
        let q = query(q)?;
        let today = crate::api::stats::library_offset(&ctx.st, &user.library_id)
            .await
            .map_err(ApiError::from)?
            .date(ctx.st.now());
        let report = Report::parse(&q, today).map_err(ApiError::Invalid)?;
        if report.format == ExportFormat::Json {
            return Err(WebError::Api(ApiError::Invalid(vec![
                domain::citation::FieldError::new(
                    "format",
                    "unknown_format",
                    "format must be csv or xlsx",
                ),
            ])));
        }
        let ran = crate::api::stats::run(&ctx.st, user, &report).await?;
        Ok(crate::api::stats::export(&report, ran)?)
    }
    .await;
    ctx.finish(r)
}

/// `GET /admin/evaluation`: each partner's capability score, explained, for admins.
pub async fn evaluation(ctx: Ctx) -> Response {
    let r = async {
        let user = ctx.user()?;
        let m = ctx.m;
        let ev = crate::api::stats::evaluate(&ctx.st, user).await?;
        let title = m.pick("Partner evaluation", "合作馆评估");
        let mut page = AdminPage::new(m, ctx.chrome(), title);
        page.intro = Some(if m.is_zh() {
            ev.explanation_zh.clone()
        } else {
            ev.explanation.clone()
        });
        page.links = vec![("/admin".to_owned(), m.pick("Admin", "管理").to_owned())];
        let name = |p: &crate::api::stats::PartnerScore| {
            let n = if m.is_zh() { &p.name_zh } else { &p.name };
            format!("{} ({})", n, p.library)
        };
        let rows: Vec<Row> = ev
            .partners
            .iter()
            .take(CHART_ROWS)
            .map(|p| Row {
                label: name(p),
                values: vec![(Some(f64::from(p.score)), p.score.to_string())],
            })
            .collect();
        page.blocks.push(Block::svg(bars(
            "chart-partners",
            m.pick("Capability score by partner", "各合作馆能力评分"),
            m.pick(
                "The capability score out of 100 of each partner, best first. The table below has the same scores and what they are made of.",
                "各合作馆的能力评分（满分 100），由高到低。下表列出相同评分及其组成。",
            ),
            &[m.pick("Score", "评分")],
            &rows,
        )));
        let days = |h: Option<f64>| {
            h.map_or_else(
                || "–".to_owned(),
                |h| format!("{:.1} {}", h / 24.0, m.pick("days", "天")),
            )
        };
        page.blocks.push(Block::table(TableView {
            caption: Some(m.pick("Capability score by partner", "各合作馆能力评分").to_owned()),
            headers: vec![
                m.pick("Partner", "合作馆").to_owned(),
                m.pick("Score", "评分").to_owned(),
                m.pick("Fill rate", "满足率").to_owned(),
                m.pick("Median to shipment", "寄出中位时间").to_owned(),
                m.pick("Answered in time", "按期答复率").to_owned(),
                m.pick("Open requests now", "当前待处理请求").to_owned(),
                m.pick("Asked (last year)", "近一年请求数").to_owned(),
            ],
            rows: ev
                .partners
                .iter()
                .map(|p| {
                    vec![
                        Cell::text(name(p)),
                        Cell::text(format!(
                            "{} ({} {} · {} {} · {} {} · {} {})",
                            p.score,
                            m.pick("fill", "满足"),
                            p.fill_points,
                            m.pick("speed", "速度"),
                            p.speed_points,
                            m.pick("reliability", "可靠"),
                            p.reliability_points,
                            m.pick("load", "负载"),
                            p.load_points
                        )),
                        Cell::text(rate(p.fill_rate)),
                        Cell::text(days(p.median_hours)),
                        Cell::text(rate(p.reliability)),
                        Cell::text(p.open_now.to_string()),
                        Cell::text(p.asked.to_string()),
                    ]
                })
                .collect(),
            empty: m.pick("No partners yet.", "尚无合作馆。").to_owned(),
        }));
        Ok(ctx.page(page))
    }
    .await;
    ctx.finish(r)
}
