//! Monthly settlement of fees between libraries: closing a month (bilateral netting or hub
//! clearing), and each library's statement of a closed month as CSV (UTF-8 with a byte order
//! mark, so spreadsheet programs read Chinese correctly) or XLSX. The API and the `settle`
//! command both come here.
//!
//! A closed month never changes: charges that happen in it later are booked into the next open
//! month as corrections. So statements are rendered from stored rows alone, and the same month
//! always gives the same bytes.

use domain::fees::{Month, Position, SettlementMode, balance};
use domain::money::{Currency, Money};
use serde::Serialize;
use store::{FeeRow, SettlementRow, Store, StoreError};
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("{month} has not started yet: only a month that has begun can be closed")]
    FutureMonth { month: Month },
    #[error("{month} is already closed in {mode} mode; it cannot be closed again in another mode")]
    OtherMode { month: Month, mode: String },
    #[error("{month} is not closed yet: close it first (POST /api/v1/settlements/{month})")]
    NotClosed { month: Month },
    #[error("{0} not found")]
    UnknownLibrary(String),
    #[error("the month's sums do not fit in 64-bit minor units")]
    Overflow,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the spreadsheet: {0}")]
    Xlsx(String),
}

/// A closed month: who closed it, its positions, and the sum of the nets per currency
/// (zero when the network balances).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Settlement {
    pub month: String,
    /// bilateral or hub.
    pub mode: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub closed_at: OffsetDateTime,
    pub closed_by: String,
    /// Fee transactions counted in the month, corrections included.
    pub charges: i64,
    /// Of those, charges of earlier, already closed months booked here.
    pub corrections: i64,
    /// Each library against each partner (bilateral) or against the hub (counterparty null).
    #[schema(value_type = Vec<Object>)]
    pub positions: Vec<Position>,
    /// Currency → sum of all nets in minor units: 0 when the books balance.
    #[schema(value_type = Object)]
    pub balance: std::collections::BTreeMap<String, i64>,
}

fn settlement(head: SettlementRow, positions: Vec<Position>) -> Settlement {
    let balance = balance(&positions)
        .into_iter()
        .map(|(c, v)| (c, i64::try_from(v).unwrap_or(i64::MAX)))
        .collect();
    Settlement {
        month: head.month,
        mode: head.mode,
        closed_at: head.closed_at,
        closed_by: head.closed_by,
        charges: head.charges,
        corrections: head.corrections,
        positions,
        balance,
    }
}

/// Close `month`: net its charges as `mode` says and store the positions. Closing a closed
/// month again in the same mode gives back what was stored.
pub async fn close_month(
    store: &Store,
    month: Month,
    mode: SettlementMode,
    closed_by: &str,
    now: OffsetDateTime,
) -> Result<Settlement, SettleError> {
    // A month has begun once the farthest-east library is in it (charges are booked in the
    // lending library's month).
    if month > Month::of(now.to_offset(domain::library::LibraryOffset::FARTHEST_EAST.utc_offset()))
    {
        return Err(SettleError::FutureMonth { month });
    }
    let by = closed_by.to_owned();
    store
        .write(move |tx| {
            Box::pin(async move {
                tx.lock_fees_for_closing().await?;
                let m = month.to_string();
                if let Some(head) = tx.settlement_head(&m).await? {
                    if head.mode != mode.as_str() {
                        return Err(SettleError::OtherMode {
                            month,
                            mode: head.mode,
                        });
                    }
                    return Ok(());
                }
                // Netted inside the database: the month's rows are read once and never
                // leave it (`domain::fees::net` is the same rule, and the tests hold the two
                // to each other).
                let head = SettlementRow {
                    month: m.clone(),
                    mode: mode.as_str().to_owned(),
                    closed_at: now,
                    closed_by: by,
                    charges: 0,
                    corrections: 0,
                };
                tx.close_fee_month(&head, mode == SettlementMode::Hub)
                    .await
                    .map_err(|e| {
                        if e.is_numeric_overflow() {
                            SettleError::Overflow
                        } else {
                            SettleError::Store(e)
                        }
                    })?;
                Ok(())
            })
        })
        .await?;
    closed(store, month).await
}

/// A closed month as stored.
pub async fn closed(store: &Store, month: Month) -> Result<Settlement, SettleError> {
    match store.settlement(&month.to_string()).await? {
        Some((head, positions)) => Ok(settlement(head, positions)),
        None => Err(SettleError::NotClosed { month }),
    }
}

/// One library's statement of a closed month.
#[derive(Debug, Clone)]
pub struct Statement {
    pub library: String,
    pub name_en: String,
    pub name_zh: String,
    pub settlement: Settlement,
    pub positions: Vec<Position>,
    pub fees: Vec<FeeRow>,
    /// The time of each lender of `fees`: a charge's month is its lender's.
    pub lender_offsets: std::collections::HashMap<String, domain::library::LibraryOffset>,
}

pub async fn statement(
    store: &Store,
    month: Month,
    library: &str,
) -> Result<Statement, SettleError> {
    let lib = store
        .library(library)
        .await
        .map_err(|_| SettleError::UnknownLibrary(format!("library {library}")))?;
    let s = closed(store, month).await?;
    let positions = s
        .positions
        .iter()
        .filter(|p| p.library == lib.library_id)
        .cloned()
        .collect();
    let fees = store
        .month_fees_of(&month.to_string(), &lib.library_id)
        .await?;
    let mut lender_offsets = std::collections::HashMap::new();
    for f in &fees {
        if !lender_offsets.contains_key(&f.lender_id) {
            let offset = match store.library(&f.lender_id).await {
                Ok(l) => l.offset(),
                Err(store::StoreError::NotFound) => domain::library::LibraryOffset::default(),
                Err(e) => return Err(e.into()),
            };
            lender_offsets.insert(f.lender_id.clone(), offset);
        }
    }
    Ok(Statement {
        library: lib.library_id,
        name_en: lib.name_en,
        name_zh: lib.name_zh,
        settlement: s,
        positions,
        fees,
        lender_offsets,
    })
}

fn amount(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(c) => Money::new(minor, c).to_decimal_string(),
        Err(_) => minor.to_string(),
    }
}

/// The cells of a statement, shared by CSV and XLSX: rows of (text or amount) cells.
enum Cell {
    Text(String),
    Amount(i64, String),
    Int(i64),
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

impl Statement {
    fn signed(&self, f: &FeeRow) -> (i64, &'static str, &'static str, String) {
        if f.lender_id == self.library {
            (f.amount_minor, "lender", "出借方", f.borrower_id.clone())
        } else {
            (-f.amount_minor, "borrower", "借入方", f.lender_id.clone())
        }
    }

    /// Head rows, then positions, then transactions (headers in Chinese and English).
    fn sections(&self) -> (Vec<Vec<Cell>>, Vec<Vec<Cell>>) {
        let s = &self.settlement;
        let mode_zh = if s.mode == "hub" {
            "中心清算"
        } else {
            "双边轧差"
        };
        let closed = s
            .closed_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut summary = vec![
            vec![
                t("结算单 Statement"),
                t(&self.library),
                t(&self.name_zh),
                t(&self.name_en),
            ],
            vec![t("月份 Month"), t(&s.month)],
            vec![t("方式 Mode"), t(format!("{mode_zh} {}", s.mode))],
            vec![t("结算时间 Closed at (UTC)"), t(closed)],
            vec![],
            vec![
                t("对方 Counterparty"),
                t("币种 Currency"),
                t("应收 Receivable"),
                t("应付 Payable"),
                t("净额 Net (+ 收 receive / − 付 pay)"),
                t("笔数 Charges"),
            ],
        ];
        for p in &self.positions {
            summary.push(vec![
                t(p.counterparty
                    .clone()
                    .unwrap_or_else(|| "清算中心 clearing centre".to_owned())),
                t(&p.currency),
                Cell::Amount(p.receivable, p.currency.clone()),
                Cell::Amount(p.payable, p.currency.clone()),
                Cell::Amount(p.net, p.currency.clone()),
                Cell::Int(p.charges),
            ]);
        }
        // One total per currency: what the library receives, pays and nets in the month.
        let mut totals: std::collections::BTreeMap<&str, (i64, i64, i64, i64)> =
            std::collections::BTreeMap::new();
        for p in &self.positions {
            let e = totals.entry(p.currency.as_str()).or_default();
            e.0 = e.0.saturating_add(p.receivable);
            e.1 = e.1.saturating_add(p.payable);
            e.2 = e.2.saturating_add(p.net);
            e.3 = e.3.saturating_add(p.charges);
        }
        for (cur, (receivable, payable, net, charges)) in totals {
            summary.push(vec![
                t("合计 Total"),
                t(cur),
                Cell::Amount(receivable, cur.to_owned()),
                Cell::Amount(payable, cur.to_owned()),
                Cell::Amount(net, cur.to_owned()),
                Cell::Int(charges),
            ]);
        }
        let mut lines = vec![vec![
            t("编号 No."),
            t("发生时间 Occurred (UTC)"),
            t("类型 Kind"),
            t("服务 Service"),
            t("角色 Role"),
            t("对方 Counterparty"),
            t("出借请求 Lending request"),
            t("借入请求 Borrowing request"),
            t("计费依据 Basis"),
            t("币种 Currency"),
            t("金额 Amount (+ 收 / − 付)"),
        ]];
        for f in &self.fees {
            let (signed, role, role_zh, other) = self.signed(f);
            let manual = f.service == store::MANUAL_SERVICE;
            let kind = if manual {
                "人工更正 manual correction".to_owned()
            } else if f.kind == "correction" {
                let offset = self
                    .lender_offsets
                    .get(&f.lender_id)
                    .copied()
                    .unwrap_or_default();
                let from = Month::of(f.occurred_at.to_offset(offset.utc_offset()));
                format!("更正 correction (from {from})")
            } else {
                "收费 charge".to_owned()
            };
            let service = match f.service.as_str() {
                "loan" => "借书 loan",
                s if s == store::MANUAL_SERVICE => "调整 adjustment",
                _ => "复制 copy",
            };
            lines.push(vec![
                Cell::Int(f.fee_transaction_id),
                t(f.occurred_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()),
                t(kind),
                t(service),
                t(format!("{role_zh} {role}")),
                t(other),
                t(&f.lend_request_id),
                t(&f.borrow_request_id),
                if manual {
                    t(format!("原因 reason: {}", f.basis))
                } else {
                    t(&f.basis)
                },
                t(&f.currency),
                Cell::Amount(signed, f.currency.clone()),
            ]);
        }
        (summary, lines)
    }

    /// CSV, UTF-8 with a byte order mark, CRLF line ends.
    pub fn to_csv(&self) -> Vec<u8> {
        let (summary, lines) = self.sections();
        let mut out = String::from("\u{feff}");
        for row in summary
            .iter()
            .chain(std::iter::once(&Vec::new()))
            .chain(&lines)
        {
            let cells: Vec<String> = row
                .iter()
                .map(|c| match c {
                    Cell::Text(s) => csv_field(s),
                    Cell::Amount(m, cur) => amount(*m, cur),
                    Cell::Int(n) => n.to_string(),
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out.into_bytes()
    }

    /// XLSX: a summary sheet and a transactions sheet; amounts are numbers with the
    /// currency's decimals. The document's dates are the month's closing time, so the same
    /// month always gives the same file.
    pub fn to_xlsx(&self) -> Result<Vec<u8>, SettleError> {
        use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};
        let x = |e: rust_xlsxwriter::XlsxError| SettleError::Xlsx(e.to_string());
        let (summary, lines) = self.sections();
        let mut wb = Workbook::new();
        let when =
            ExcelDateTime::from_timestamp(self.settlement.closed_at.unix_timestamp()).map_err(x)?;
        wb.set_properties(
            &DocProperties::new()
                .set_title(format!("{} {}", self.library, self.settlement.month))
                .set_author("librelay")
                .set_creation_datetime(&when),
        );
        let bold = Format::new().set_bold();
        for (name, rows) in [("结算 Summary", &summary), ("明细 Transactions", &lines)] {
            let ws = wb.add_worksheet();
            ws.set_name(name).map_err(x)?;
            for (r, row) in rows.iter().enumerate() {
                let r = u32::try_from(r).map_err(|_| SettleError::Xlsx("too many rows".into()))?;
                for (c, cell) in row.iter().enumerate() {
                    let c = u16::try_from(c).unwrap_or(u16::MAX);
                    match cell {
                        Cell::Text(s) if r == 0 || (name.starts_with('结') && r == 5) => {
                            ws.write_string_with_format(r, c, s, &bold).map_err(x)?;
                        }
                        Cell::Text(s) => {
                            ws.write_string(r, c, s).map_err(x)?;
                        }
                        Cell::Amount(m, cur) => {
                            let digits = Currency::parse(cur).map_or(2, |c| c.exponent());
                            let fmt = if digits == 0 {
                                Format::new().set_num_format("0")
                            } else {
                                Format::new()
                                    .set_num_format(format!("0.{}", "0".repeat(digits as usize)))
                            };
                            // Exact for any amount below 2^53 minor units.
                            let v = *m as f64 / 10f64.powi(digits as i32);
                            ws.write_number_with_format(r, c, v, &fmt).map_err(x)?;
                        }
                        Cell::Int(n) => {
                            ws.write_number(r, c, *n as f64).map_err(x)?;
                        }
                    }
                }
            }
            ws.set_column_width(0, 24).map_err(x)?;
        }
        wb.save_to_buffer().map_err(x)
    }
}

impl Statement {
    /// PDF on A4 landscape: the head, the positions with a total per currency, then every
    /// transaction; the same cells as the CSV and XLSX. Chinese text uses the readers' own
    /// STSong-Light, so nothing is embedded, and nothing in the file depends on the clock.
    pub fn to_pdf(&self) -> Vec<u8> {
        use pdf::Weight;
        use pdf::layout::{Align, Column, Flow};
        let (summary, lines) = self.sections();
        let text = |c: &Cell| match c {
            Cell::Text(s) => s.clone(),
            Cell::Amount(m, cur) => amount(*m, cur),
            Cell::Int(n) => n.to_string(),
        };
        let row = |r: &Vec<Cell>| r.iter().map(text).collect::<Vec<String>>();
        let mut flow = Flow::new(pdf::A4_LANDSCAPE, 36.0);
        flow.document().set_title(&format!(
            "结算单 Statement {} {}",
            self.library, self.settlement.month
        ));
        flow.document().set_author("librelay");
        // Head: the title line, then label / value lines up to the blank row before the
        // positions' header (row 5, see `sections`).
        if let Some(first) = summary.first() {
            flow.paragraph(14.0, Weight::Bold, &row(first).join("  "));
            flow.space(4.0);
        }
        for r in summary.get(1..4).unwrap_or_default() {
            flow.paragraph(10.0, Weight::Regular, &row(r).join(": "));
        }
        flow.space(8.0);
        let table =
            |flow: &mut Flow, head: Option<&Vec<Cell>>, body: &[Vec<Cell>], weights: &[f32]| {
                let Some(head) = head else { return };
                let columns: Vec<Column> = head
                    .iter()
                    .zip(weights)
                    .enumerate()
                    .map(|(i, (c, w))| {
                        // Amounts and counts sit right, as numbers do.
                        let numeric = body
                            .iter()
                            .any(|r| matches!(r.get(i), Some(Cell::Amount(..) | Cell::Int(_))));
                        let align = if numeric { Align::Right } else { Align::Left };
                        Column::new(text(c), *w, align)
                    })
                    .collect();
                let body: Vec<Vec<String>> = body.iter().map(row).collect();
                flow.table(&columns, &body, 8.0);
            };
        let positions = summary.get(6..).unwrap_or_default();
        table(
            &mut flow,
            summary.get(5),
            positions,
            &[3.0, 1.0, 1.5, 1.5, 2.0, 1.0],
        );
        flow.space(12.0);
        flow.paragraph(11.0, Weight::Bold, "明细 Transactions");
        flow.space(2.0);
        table(
            &mut flow,
            lines.first(),
            lines.get(1..).unwrap_or_default(),
            &[0.7, 2.0, 1.6, 1.3, 1.3, 1.5, 2.3, 2.3, 3.0, 1.0, 1.3],
        );
        let footer = format!(
            "librelay - {} - {} ({})",
            self.library, self.settlement.month, self.settlement.mode
        );
        flow.finish(&footer).to_bytes()
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
