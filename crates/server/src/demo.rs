//! `serve --demo`: a small consortium with real catalog records, people in every role and
//! requests in many states, so every queue has something in it on first start.
//!
//! The directory and catalog are written before the server answers (one transaction); the
//! requests are then driven through the real flow in the background, messages and all.

use std::path::Path;

use anyhow::Context;
use domain::calendar::{ClosedDays, WeekdayName};
use domain::library::{LibraryKind, PartnerPolicy, Service};
use domain::money::{Currency, Money};
use domain::people::{AccountStatus, PatronType, Role, UserKind};
use serde::Serialize;
use store::{Json, LibraryRow, NewCatalogRecord, NewUser, StoreError};
use time::macros::date;

use crate::AppState;
use crate::auth::hash_password;
use crate::drive::{Driver, action};
use crate::flow::{ActionInput, CreateRequest};

/// The one password of every demo account (shown on start and in demo-accounts.json).
pub const DEMO_PASSWORD: &str = "librelay-demo";

#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    pub library: String,
    pub username: String,
    pub password: String,
    pub role: String,
}

struct Lib {
    code: &'static str,
    isil: &'static str,
    en: &'static str,
    zh: &'static str,
    kind: LibraryKind,
    region: &'static str,
    closed: &'static [WeekdayName],
    /// Latitude and longitude in millionths of a degree (made-up sites in the right cities).
    at: (i64, i64),
}

const HUB: &str = "HUB";

const LIBS: &[Lib] = &[
    Lib {
        code: HUB,
        isil: "CN-JJHUB",
        en: "Jing-Jin Academic Library Consortium",
        zh: "京津学术图书馆联盟",
        kind: LibraryKind::Hub,
        region: "Beijing",
        closed: &[WeekdayName::Saturday, WeekdayName::Sunday],
        at: (39_904_200, 116_407_400),
    },
    Lib {
        code: "BCU",
        isil: "CN-BCU",
        en: "Beichen University Library",
        zh: "北辰大学图书馆",
        kind: LibraryKind::University,
        region: "Beijing",
        closed: &[WeekdayName::Sunday],
        at: (40_049_800, 116_410_300),
    },
    Lib {
        code: "XNU",
        isil: "CN-XNU",
        en: "Xishan Normal University Library",
        zh: "西山师范大学图书馆",
        kind: LibraryKind::University,
        region: "Beijing",
        closed: &[WeekdayName::Sunday],
        at: (39_990_800, 116_196_500),
    },
    Lib {
        code: "HTU",
        isil: "CN-HTU",
        en: "Haitang University of Technology Library",
        zh: "海棠理工大学图书馆",
        kind: LibraryKind::University,
        region: "Tianjin",
        closed: &[WeekdayName::Sunday],
        at: (39_107_000, 117_170_000),
    },
    Lib {
        code: "CPL",
        isil: "CN-JHCPL",
        en: "Jinghua City Public Library",
        zh: "京华市公共图书馆",
        kind: LibraryKind::Public,
        region: "Beijing",
        closed: &[WeekdayName::Monday],
        at: (39_930_100, 116_390_500),
    },
    Lib {
        code: "NSD",
        isil: "CN-NSD",
        en: "National Sci-Tech Document Supplier (demo)",
        zh: "国家科技文献供应中心（演示）",
        kind: LibraryKind::Supplier,
        region: "Beijing",
        closed: &[WeekdayName::Saturday, WeekdayName::Sunday],
        at: (39_959_600, 116_331_700),
    },
];

/// A document supplier that works by e-mail only: requests go to it as bilingual letters and
/// staff record its answers. It has no lending terms, so routing never picks it by itself;
/// staff put it in a request's lender string.
const EMAIL_PARTNER: Lib = Lib {
    code: "EDS",
    isil: "CN-EDS",
    en: "Eastern Document Service (e-mail only, demo)",
    zh: "东方文献服务社（邮件往来，演示）",
    kind: LibraryKind::Supplier,
    region: "Shanghai",
    closed: &[WeekdayName::Saturday, WeekdayName::Sunday],
    at: (31_230_400, 121_473_700),
};

/// Where the demo e-mail partner reads its mail.
pub const EMAIL_PARTNER_ADDRESS: &str = "ill@eds.example.com";

/// The members that lend books (the hub coordinates; the supplier sells copies).
const LENDERS: &[&str] = &["BCU", "XNU", "HTU", "CPL"];

/// Real Library of Congress records (public domain), chosen by fixtures/demo/select.py.
const RECORDS: &[u8] = include_bytes!("../../../fixtures/demo/loc-demo.mrc");

/// Journals for article requests: (title, ISSN, publisher).
const JOURNALS: &[(&str, &str, &str)] = &[
    ("Nature", "0028-0836", "Nature Publishing Group"),
    (
        "Science",
        "0036-8075",
        "American Association for the Advancement of Science",
    ),
    ("Journal of Documentation", "0022-0418", "Emerald"),
    ("Library Hi Tech", "0737-8831", "Emerald"),
    ("中国图书馆学报", "1001-8867", "国家图书馆出版社"),
    ("The Lancet", "0140-6736", "Elsevier"),
];

/// The KBART package BCU licenses in the demo (Nature, from 1869, the current year kept back).
const DEMO_KBART: &str = "publication_title\tprint_identifier\tonline_identifier\tdate_first_issue_online\tnum_first_vol_online\tnum_first_issue_online\tdate_last_issue_online\tnum_last_vol_online\tnum_last_issue_online\ttitle_url\tfirst_author\ttitle_id\tembargo_info\tcoverage_depth\tnotes\tpublisher_name\tpublication_type
Nature\t0028-0836\t1476-4687\t1869-11-04\t1\t1\t\t\t\thttps://licensed.example.org/nature\t\tnature\tR1Y\tfulltext\t\tNature Publishing Group\tserial
";

/// Seed an empty store. Returns `None` when it already has libraries (the demo ran before).
pub async fn seed_directory(
    st: &AppState,
    data_dir: &Path,
) -> anyhow::Result<Option<Vec<DemoAccount>>> {
    seed_directory_split(st, data_dir, &[]).await
}

/// Seed an empty store where the libraries in `remote` (code, ISO 18626 endpoint) are served
/// by another node: they get a librelay peer profile and no accounts here. Two nodes seeded
/// with complementary halves make a federation to try.
pub async fn seed_directory_split(
    st: &AppState,
    data_dir: &Path,
    remote: &[(String, String)],
) -> anyhow::Result<Option<Vec<DemoAccount>>> {
    if st.store.count_libraries().await? > 0 {
        return Ok(None);
    }
    let mut peers = Vec::new();
    for (code, endpoint) in remote {
        let code = code.trim().to_uppercase();
        if !LIBS.iter().any(|l| l.code == code) {
            anyhow::bail!(
                "{code} is not a demo library ({})",
                LIBS.iter().map(|l| l.code).collect::<Vec<_>>().join(", ")
            );
        }
        let profile =
            domain::peer::PeerProfile::preset(domain::peer::PeerSystem::Librelay, endpoint.trim());
        if let Some(e) = profile.validate().first() {
            anyhow::bail!("the endpoint for {code}: {}", e.message);
        }
        peers.push((code, profile));
    }
    peers.push((
        EMAIL_PARTNER.code.to_owned(),
        domain::peer::PeerProfile::preset(
            domain::peer::PeerSystem::Email,
            format!("mailto:{EMAIL_PARTNER_ADDRESS}"),
        ),
    ));
    // One hash for every demo account: Argon2 is slow on purpose, and the demo must answer
    // within a second of start.
    let hash = hash_password(DEMO_PASSWORD.to_owned()).await?;
    let now = st.now();
    let (mut users, mut accounts) = people(&hash);
    users.retain(|u| !peers.iter().any(|(c, _)| *c == u.library_id));
    accounts.retain(|a| !peers.iter().any(|(c, _)| *c == a.library));
    let records = catalog_records().context("reading the demo catalog records")?;
    st.store
        .write(move |tx| {
            Box::pin(async move {
                for l in LIBS.iter().chain([&EMAIL_PARTNER]) {
                    tx.insert_library(&LibraryRow {
                        library_id: l.code.to_owned(),
                        agency_type: "ISIL".to_owned(),
                        agency_value: l.isil.to_owned(),
                        name_en: l.en.to_owned(),
                        name_zh: l.zh.to_owned(),
                        kind: l.kind.as_str().to_owned(),
                        region: l.region.to_owned(),
                        address: demo_address(l),
                        hub_id: (l.code != HUB).then(|| HUB.to_owned()),
                        closed_days: Json(ClosedDays {
                            weekdays: l.closed.to_vec(),
                            dates: vec![
                                date!(2026 - 10 - 01),
                                date!(2026 - 10 - 02),
                                date!(2027 - 01 - 01),
                                date!(2027 - 02 - 06),
                                date!(2027 - 02 - 07),
                                date!(2027 - 02 - 08),
                            ],
                        }),
                        created_at: now,
                        latitude_e6: Some(l.at.0),
                        longitude_e6: Some(l.at.1),
                        utc_offset_minutes: domain::library::LibraryOffset::CHINA.minutes(),
                    })
                    .await?;
                }
                for l in LIBS.iter().filter(|l| l.code != HUB) {
                    for (partner, policy) in policies(l) {
                        tx.upsert_policy(l.code, partner, &policy).await?;
                    }
                }
                for u in &users {
                    tx.insert_user(u, now).await?;
                }
                for (code, schedule) in demo_fee_schedules() {
                    tx.set_fee_schedule(code, &schedule, now).await?;
                }
                for (code, profile) in &peers {
                    tx.upsert_peer(code, profile, now).await?;
                }
                for (i, (rec, holders)) in records.iter().enumerate() {
                    tx.insert_catalog_record(rec, now).await?;
                    for (j, h) in holders.iter().enumerate() {
                        let call = format!("{}-{:04}", h, i);
                        let barcode = format!("{h}{i:06}{j}");
                        tx.insert_holding(&rec.record_id, h, Some(&call), Some(&barcode))
                            .await?;
                    }
                }
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    // The demo's catalog is searchable at once, like an imported one.
    st.catalog
        .rebuild(&st.store, |_| {})
        .await
        .context("indexing the demo catalog")?;
    write_accounts(data_dir, &accounts)?;
    Ok(Some(accounts))
}

/// A postal address for a demo library (partners ship loans there).
fn demo_address(l: &Lib) -> String {
    format!(
        "{}馆际互借处，{}市示例路 1 号 / ILL Office, {}, 1 Example Road, {}",
        l.zh,
        match l.region {
            "Tianjin" => "天津",
            "Shanghai" => "上海",
            _ => "北京",
        },
        l.en,
        l.region
    )
}

fn write_accounts(data_dir: &Path, accounts: &[DemoAccount]) -> anyhow::Result<()> {
    let path = data_dir.join("demo-accounts.json");
    let json = serde_json::to_string_pretty(accounts)?;
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
}

fn cny(minor: i64) -> Option<Money> {
    Currency::parse("CNY")
        .ok()
        .map(|currency| Money { minor, currency })
}

/// Default terms of each lender, and the shorter national loan for partners outside the region
/// ("one month inside the region, two weeks nationally").
fn policies(l: &Lib) -> Vec<(Option<&'static str>, PartnerPolicy)> {
    let base = PartnerPolicy {
        services: vec![Service::Loan, Service::Copy],
        loan_days: 30,
        answer_days: 3,
        loan_fee: None,
        copy_fee: None,
        delivery_methods: vec!["courier".to_owned(), "mail".to_owned(), "url".to_owned()],
        payment_methods: vec!["hub_clearing".to_owned()],
        active: true,
    };
    let mut out = Vec::new();
    match l.kind {
        LibraryKind::Supplier => out.push((
            None,
            PartnerPolicy {
                services: vec![Service::Copy],
                answer_days: 2,
                copy_fee: cny(2000),
                payment_methods: vec!["hub_clearing".to_owned(), "invoice".to_owned()],
                ..base
            },
        )),
        LibraryKind::Public => out.push((
            None,
            PartnerPolicy {
                services: vec![Service::Loan],
                loan_days: 21,
                ..base
            },
        )),
        _ => {
            out.push((None, base.clone()));
            for other in LIBS
                .iter()
                .filter(|o| o.code != l.code && o.code != HUB && o.region != l.region)
            {
                out.push((
                    Some(other.code),
                    PartnerPolicy {
                        loan_days: 14,
                        ..base.clone()
                    },
                ));
            }
        }
    }
    out
}

fn people(hash: &str) -> (Vec<NewUser>, Vec<DemoAccount>) {
    let mut users = Vec::new();
    let mut accounts = Vec::new();
    let mut add = |lib: &str,
                   username: String,
                   name: String,
                   kind: UserKind,
                   patron: Option<PatronType>,
                   roles: &[Role],
                   status: AccountStatus| {
        let role = match (kind, roles.first()) {
            (UserKind::Patron, _) => format!(
                "patron:{}",
                patron.map(|p| p.as_str()).unwrap_or("external")
            ),
            (_, Some(r)) => r.as_str().to_owned(),
            _ => "staff".to_owned(),
        };
        if status == AccountStatus::Active {
            accounts.push(DemoAccount {
                library: lib.to_owned(),
                username: username.clone(),
                password: DEMO_PASSWORD.to_owned(),
                role,
            });
        }
        // Every demo account can receive letters (at a sink such as a local test SMTP
        // server); external readers read English, everyone else Chinese.
        let email = format!("{username}@{}.example.edu", lib.to_lowercase());
        users.push(NewUser {
            user_id: uuid::Uuid::now_v7().to_string(),
            library_id: lib.to_owned(),
            username,
            email: Some(email),
            display_name: name,
            password_hash: hash.to_owned(),
            kind: kind.as_str().to_owned(),
            patron_type: patron.map(|p| p.as_str().to_owned()),
            department: patron.map(|p| department(p).to_owned()),
            roles: domain::people::roles_to_string(roles),
            status: status.as_str().to_owned(),
            locale: if patron == Some(PatronType::External) {
                "en".to_owned()
            } else {
                "zh-CN".to_owned()
            },
        });
    };
    add(
        HUB,
        "hub-admin".into(),
        "联盟管理员 Hub Admin".into(),
        UserKind::Staff,
        None,
        &[Role::HubAdmin],
        AccountStatus::Active,
    );
    for l in LIBS.iter().filter(|l| l.code != HUB) {
        let c = l.code.to_lowercase();
        let has_readers = l.kind != LibraryKind::Supplier;
        let staff: [(&str, Role, &str); 4] = [
            ("borrow", Role::BorrowingOperator, "馆际借入员 Borrowing"),
            ("lend", Role::LendingOperator, "馆际借出员 Lending"),
            (
                "manager",
                Role::ResourceSharingManager,
                "资源共享主管 RS Manager",
            ),
            ("admin", Role::LibraryAdmin, "系统管理员 Admin"),
        ];
        for (suffix, role, name) in staff {
            add(
                l.code,
                format!("{c}-{suffix}"),
                format!("{} {name}", l.code),
                UserKind::Staff,
                None,
                &[role],
                AccountStatus::Active,
            );
        }
        let types: &[PatronType] = match (l.code, has_readers) {
            (_, false) => &[],
            ("BCU", _) => PatronType::ALL,
            _ => &[PatronType::Faculty, PatronType::Undergraduate],
        };
        for t in types {
            add(
                l.code,
                format!("{c}-{}", t.as_str()),
                format!("{} {}", l.code, reader_name(*t)),
                UserKind::Patron,
                Some(*t),
                &[],
                AccountStatus::Active,
            );
        }
    }
    add(
        "BCU",
        "bcu-newreader".into(),
        "新注册读者 New reader".into(),
        UserKind::Patron,
        Some(PatronType::Master),
        &[],
        AccountStatus::Pending,
    );
    (users, accounts)
}

fn reader_name(t: PatronType) -> &'static str {
    match t {
        PatronType::Faculty => "王教授 Prof. Wang",
        PatronType::Phd => "李博士生 Li (PhD)",
        PatronType::Master => "张硕士生 Zhang (Master's)",
        PatronType::Undergraduate => "陈同学 Chen (Undergraduate)",
        PatronType::Staff => "刘老师 Liu (Staff)",
        PatronType::External => "赵先生 Zhao (External)",
    }
}

fn department(t: PatronType) -> &'static str {
    match t {
        PatronType::Faculty | PatronType::Phd => "History 历史学系",
        PatronType::Master => "Computer Science 计算机系",
        PatronType::Undergraduate => "Chemistry 化学系",
        PatronType::Staff => "Library 图书馆",
        PatronType::External => "Alumni 校友",
    }
}

/// Catalog records with their holders: each record is held by one to three lenders, chosen by
/// its position so every run gives the same catalog.
/// (title, author, year) of the demo's real catalog records, for benchmarks that need
/// citations as varied as a library's.
pub fn demo_citations() -> Vec<(String, Option<String>, Option<String>)> {
    marc::Iso2709Reader::new(std::io::BufReader::new(RECORDS))
        .filter_map(Result::ok)
        .filter_map(|rec| {
            let bib = marc::BibRecord::from_record(&rec);
            let title = bib.title.clone().filter(|t| !t.trim().is_empty())?;
            Some((title, bib.author.clone(), bib.year))
        })
        .collect()
}

fn catalog_records() -> anyhow::Result<Vec<(NewCatalogRecord, Vec<&'static str>)>> {
    let mut out = Vec::new();
    let reader = marc::Iso2709Reader::new(std::io::BufReader::new(RECORDS));
    for (i, rec) in reader.enumerate() {
        let Ok(rec) = rec else { continue };
        let bib = marc::BibRecord::from_record(&rec);
        let Some(title) = bib.title.clone().filter(|t| !t.is_empty()) else {
            continue;
        };
        let isbn = bib
            .isbns
            .iter()
            .find_map(|s| domain::ident::Isbn::parse(s).ok())
            .map(|i| i.to_string());
        let record_id = rec
            .control_number()
            .map(|c| format!("lc{}", c.trim()))
            .unwrap_or_else(|| format!("demo{i}"));
        let holders = holders_for(i);
        out.push((
            NewCatalogRecord {
                record_id,
                title,
                author: bib.author.clone(),
                publisher: bib.publisher.clone(),
                year: bib.year.clone(),
                isbn,
                issn: None,
                oclc_number: bib.oclc_numbers.first().cloned(),
                lccn: bib.lccn.clone(),
                language: bib.language.clone(),
                title_vernacular: bib.title_vernacular.clone(),
                author_vernacular: bib.author_vernacular.clone(),
            },
            holders,
        ));
    }
    for (i, (title, issn, publisher)) in JOURNALS.iter().enumerate() {
        out.push((
            NewCatalogRecord {
                record_id: format!("journal{i}"),
                title: (*title).to_owned(),
                publisher: Some((*publisher).to_owned()),
                issn: Some((*issn).to_owned()),
                ..Default::default()
            },
            vec!["NSD", LENDERS[i % 3], LENDERS[(i + 1) % 3]],
        ));
    }
    Ok(out)
}

fn holders_for(i: usize) -> Vec<&'static str> {
    // Every third record only at HTU and XNU, so loans visibly travel between regions.
    if i.is_multiple_of(3) {
        return vec!["HTU", "XNU"];
    }
    let mut h = vec![LENDERS[i % LENDERS.len()]];
    if i.is_multiple_of(2) {
        h.push(LENDERS[(i + 1) % LENDERS.len()]);
    }
    if i.is_multiple_of(5) {
        h.push(LENDERS[(i + 2) % LENDERS.len()]);
    }
    h
}

/// Drive a few dozen requests into different states through the real flow. Runs in the
/// background after the server answers; failures are logged, not fatal.
pub async fn seed_activity(st: AppState) {
    if let Err(e) = activity(&st).await {
        tracing::warn!(error = %e, "demo activity stopped early");
    } else {
        tracing::info!("demo activity seeded");
    }
    // A year of past traffic, written in bulk, so statistics, charts and partner evaluation
    // have something to show.
    match crate::traffic::generate(&st, DEMO_HISTORY, st.now(), true, "demo", |_, _| {}).await {
        Ok(n) => {
            tracing::info!(requests = n, "demo history of the past year generated");
            // Summarised for the statistics now rather than at the job's next round.
            if let Err(e) = crate::jobs::summarise_for_statistics(&st).await {
                tracing::warn!(error = %e, "demo history not summarised for the statistics");
            }
        }
        Err(e) => tracing::warn!(error = %e, "demo history not generated"),
    }
}

/// Past requests the demo generates (a year of a small consortium's traffic).
pub const DEMO_HISTORY: usize = 6_000;

async fn activity(st: &AppState) -> anyhow::Result<()> {
    let d = Driver::new(st.clone());
    let books = st.store.catalog_sample(400).await?;
    let books: Vec<_> = books.into_iter().filter(|b| b.isbn.is_some()).collect();
    let patrons = [
        "bcu-faculty",
        "bcu-phd",
        "bcu-master",
        "bcu-undergraduate",
        "xnu-faculty",
        "cpl-undergraduate",
        "htu-faculty",
    ];
    // The stage each request is left at, cycling.
    let stages = [
        "pending",
        "sent",
        "will_supply",
        "shipped",
        "received",
        "on_loan",
        "returned",
        "completed",
        "unfilled",
        "cancelled",
        "conditional",
        "pick_slip",
    ];
    let mut n = 0usize;
    for (i, book) in books.iter().enumerate().take(30) {
        let patron = patrons[i % patrons.len()];
        let stage = stages[i % stages.len()];
        if let Err(e) = one_loan(&d, patron, book, stage).await {
            tracing::warn!(error = %e, patron, stage, "demo loan");
        }
        n += 1;
    }
    // BCU licenses Nature: the demo request for it (left for review) shows the licensed link.
    if let Err(e) = crate::licences::import_kbart(
        &st.store,
        "BCU",
        "Demo: Nature Portfolio",
        DEMO_KBART,
        None,
        st.now(),
    )
    .await
    {
        tracing::warn!(error = ?e, "demo licences");
    }
    for (i, (title, issn, _)) in JOURNALS.iter().enumerate() {
        let patron = patrons[i % 4];
        let stage = [
            "pending",
            "sent",
            "shipped",
            "completed",
            "received",
            "unfilled",
        ][i % 6];
        if let Err(e) = one_copy(&d, patron, title, issn, i, stage).await {
            tracing::warn!(error = %e, patron, stage, "demo copy");
        }
        n += 1;
    }
    if let Some(book) = books.get(30) {
        if let Err(e) = to_email_partner(&d, "bcu-faculty", book).await {
            tracing::warn!(error = %e, "demo request to the e-mail partner");
        }
        n += 1;
    }
    tracing::info!(requests = n, "demo requests created");
    Ok(())
}

/// A loan asked of the e-mail partner: its letter goes out through the outbox (to the mail
/// server configured), and the request waits for staff to record the partner's answer.
async fn to_email_partner(
    d: &Driver,
    patron: &str,
    book: &store::CatalogRecord,
) -> anyhow::Result<()> {
    let who = d.user(patron).await?;
    let staff = d
        .user(&format!("{}-borrow", lib_of(patron).to_lowercase()))
        .await?;
    let mut citation = serde_json::json!({ "title": book.title, "author": book.author, "isbn": book.isbn, "publisher": book.publisher, "need_by": "2027-03-01", "max_cost": {"amount": "30.00", "currency": "CNY"} });
    if let Some(obj) = citation.as_object_mut() {
        obj.retain(|_, v| !v.is_null() && v.as_str() != Some(""));
    }
    let body = CreateRequest {
        format: "loan".to_owned(),
        citation: serde_json::from_value(citation)?,
        patron_id: None,
        rota: None,
    };
    let req = d.create(&who, body).await?;
    let rota = ActionInput {
        rota: Some(vec![EMAIL_PARTNER.code.to_owned()]),
        ..action("edit_rota")
    };
    d.borrow(&staff, &req.request_id, rota).await?;
    d.borrow(&staff, &req.request_id, action("approve")).await?;
    Ok(())
}

fn lib_of(username: &str) -> String {
    username
        .split('-')
        .next()
        .unwrap_or_default()
        .to_uppercase()
}

async fn one_loan(
    d: &Driver,
    patron: &str,
    book: &store::CatalogRecord,
    stage: &str,
) -> anyhow::Result<()> {
    let who = d.user(patron).await?;
    let borrower = lib_of(patron).to_lowercase();
    let staff = d.user(&format!("{borrower}-borrow")).await?;
    let mut citation = serde_json::json!({ "title": book.title, "author": book.author, "isbn": book.isbn, "publisher": book.publisher, "year": book.year.as_deref().map(|y| y.chars().filter(char::is_ascii_digit).take(4).collect::<String>()) });
    if let Some(obj) = citation.as_object_mut() {
        obj.retain(|_, v| !v.is_null() && v.as_str() != Some(""));
    }
    let body = CreateRequest {
        format: "loan".to_owned(),
        citation: serde_json::from_value(citation)?,
        patron_id: None,
        rota: None,
    };
    let req = d.create(&who, body).await?;
    if stage == "pending" || req.rota.0.entries.is_empty() {
        return Ok(());
    }
    let id = req.request_id.clone();
    if stage == "cancelled" {
        d.borrow(&who, &id, action("cancel")).await?;
        return Ok(());
    }
    let req = d.borrow(&staff, &id, action("approve")).await?;
    let mut lender = req.lender_id.clone().unwrap_or_default();
    let mut lend = d.until_lend_state(&id, &lender, "request_received").await?;
    if stage == "sent" {
        return Ok(());
    }
    let mut lender_staff = d.user(&format!("{}-lend", lender.to_lowercase())).await?;
    if stage == "unfilled" {
        // Every lender says no, one after the other.
        loop {
            let reject = ActionInput {
                reason: Some("NotOnShelf".into()),
                note: Some("在架上未找到 / not on the shelf".into()),
                ..action("reject")
            };
            d.lend(&lender_staff, &lend.request_id, reject).await?;
            let next = d
                .until_borrow_state_any(&id, &["sent", "unfilled"], &lender)
                .await?;
            if next.state == "unfilled" {
                return Ok(());
            }
            lender = next.lender_id.clone().unwrap_or_default();
            lender_staff = d.user(&format!("{}-lend", lender.to_lowercase())).await?;
            lend = d.until_lend_state(&id, &lender, "request_received").await?;
        }
    }
    if stage == "conditional" {
        let cond = ActionInput {
            note: Some("仅限馆内阅览 / library use only".into()),
            ..action("conditional")
        };
        d.lend(&lender_staff, &lend.request_id, cond).await?;
        d.until_borrow_state(&id, "conditional_pending").await?;
        return Ok(());
    }
    d.lend(&lender_staff, &lend.request_id, action("will_supply"))
        .await?;
    d.until_borrow_state(&id, "will_supply").await?;
    if stage == "will_supply" {
        return Ok(());
    }
    if stage == "pick_slip" {
        d.lend(&lender_staff, &lend.request_id, action("print_pick_slip"))
            .await?;
        return Ok(());
    }
    let ship = ActionInput {
        barcode: lend.barcode.clone().or(Some("DEMO0001".into())),
        ..action("ship_physical")
    };
    d.lend(&lender_staff, &lend.request_id, ship).await?;
    d.until_borrow_state(&id, "shipped").await?;
    if stage == "shipped" {
        return Ok(());
    }
    d.borrow(&staff, &id, action("receive")).await?;
    if stage == "received" {
        return Ok(());
    }
    d.borrow(&staff, &id, action("lend_to_patron")).await?;
    if stage == "on_loan" {
        return Ok(());
    }
    d.borrow(&staff, &id, action("patron_return")).await?;
    if stage == "returned" {
        return Ok(());
    }
    d.borrow(&staff, &id, action("ship_return")).await?;
    d.until_lend_state(&id, &lender, "return_shipped").await?;
    d.lend(&lender_staff, &lend.request_id, action("check_in"))
        .await?;
    d.until_borrow_state(&id, "completed").await?;
    Ok(())
}

async fn one_copy(
    d: &Driver,
    patron: &str,
    journal: &str,
    issn: &str,
    i: usize,
    stage: &str,
) -> anyhow::Result<()> {
    let who = d.user(patron).await?;
    let borrower = lib_of(patron).to_lowercase();
    let staff = d.user(&format!("{borrower}-borrow")).await?;
    let citation = serde_json::json!({
        "title": format!("Demo article {} on resource sharing", i + 1),
        "author": "Smith, J.",
        "source_title": journal,
        "issn": issn,
        "volume": format!("{}", 10 + i),
        "issue": "2",
        "year": "2024",
        "pages": format!("{}-{}", 100 + i * 10, 112 + i * 10),
        "copyright_declaration": true
    });
    let body = CreateRequest {
        format: "article_copy".into(),
        citation: serde_json::from_value(citation)?,
        patron_id: None,
        rota: None,
    };
    let req = d.create(&who, body).await?;
    if stage == "pending" || req.rota.0.entries.is_empty() {
        return Ok(());
    }
    let id = req.request_id.clone();
    let req = d.borrow(&staff, &id, action("approve")).await?;
    let lender = req.lender_id.clone().unwrap_or_default();
    let lend = d.until_lend_state(&id, &lender, "request_received").await?;
    if stage == "sent" {
        return Ok(());
    }
    let lender_staff = d.user(&format!("{}-lend", lender.to_lowercase())).await?;
    if stage == "unfilled" {
        let reject = ActionInput {
            reason: Some("NotHeld".into()),
            ..action("reject")
        };
        d.lend(&lender_staff, &lend.request_id, reject).await?;
        return Ok(());
    }
    let ship = ActionInput {
        url: Some(format!(
            "https://files.example.org/demo/{}.pdf",
            lend.request_id
        )),
        ..action("ship_digital")
    };
    d.lend(&lender_staff, &lend.request_id, ship).await?;
    d.until_borrow_state(&id, "shipped").await?;
    if stage == "shipped" {
        return Ok(());
    }
    d.borrow(&staff, &id, action("receive")).await?;
    if stage == "received" {
        return Ok(());
    }
    d.borrow(&staff, &id, action("deliver_to_patron")).await?;
    Ok(())
}

/// Fee schedules of the demo lenders (CPL charges nothing): XNU and BCU lend to each other
/// free of charge; HTU charges its own region less; NSD sells copies by the page.
fn demo_fee_schedules() -> Vec<(&'static str, domain::fees::FeeSchedule)> {
    use domain::fees::{FeeSchedule, PartnerGroup, Rates, ReciprocalGroup};
    let Ok(yuan) = domain::money::Currency::parse("CNY") else {
        return vec![];
    };
    let cny = || yuan.clone();
    vec![
        (
            "XNU",
            FeeSchedule {
                currency: cny(),
                rates: Rates {
                    loan: 1000,
                    copy_flat: 200,
                    copy_per_page: 50,
                    express: 1500,
                },
                partner_groups: vec![],
                reciprocal_groups: vec![ReciprocalGroup {
                    name: "北辰—西山互惠 BCU–XNU reciprocal".to_owned(),
                    members: vec!["BCU".to_owned()],
                }],
            },
        ),
        (
            "HTU",
            FeeSchedule {
                currency: cny(),
                rates: Rates {
                    loan: 2000,
                    copy_flat: 500,
                    copy_per_page: 30,
                    express: 2000,
                },
                partner_groups: vec![PartnerGroup {
                    name: "京津地区 Region".to_owned(),
                    members: vec!["BCU".to_owned(), "XNU".to_owned()],
                    rates: Rates {
                        loan: 1500,
                        copy_flat: 300,
                        copy_per_page: 30,
                        express: 1500,
                    },
                }],
                reciprocal_groups: vec![],
            },
        ),
        (
            "NSD",
            FeeSchedule {
                currency: cny(),
                rates: Rates {
                    loan: 3000,
                    copy_flat: 1000,
                    copy_per_page: 50,
                    express: 2000,
                },
                partner_groups: vec![],
                reciprocal_groups: vec![],
            },
        ),
    ]
}
