//! The copyright cover page of delivered PDFs: put in front of files from other producers
//! (classic cross-reference tables, and cross-reference and object streams), with the
//! library's declaration, the request, the reader, the date and this view's count; the
//! original pages kept; staff and the borrowing library get the file as stored; an encrypted
//! file is delivered unchanged; a copy stored before covers existed is read at its first view;
//! a copy fetched from a lender on another node gets its cover on the borrower's node.

use serde_json::{Value, json};

use crate::delivery::{article_for, ship_and_deliver_file, upload};
use crate::helpers::{Bucket, Engine, TestApp, engines};

const OBJSTM: &[u8] = include_bytes!("../../../../fixtures/pdf/qpdf-objstm.pdf");
const CLASSIC: &[u8] = include_bytes!("../../../../fixtures/pdf/fpdf2-classic.pdf");
const ENCRYPTED: &[u8] = include_bytes!("../../../../fixtures/pdf/encrypted.pdf");

/// BCU's reader `bcu-phd` asks for an article, XNU uploads `pdf` and ships it, BCU delivers
/// it. Returns the borrowing request id and the uploaded file's id.
async fn delivered(app: &TestApp, pdf: &[u8]) -> (String, String) {
    let id = article_for(app, "bcu-phd", "XNU").await;
    let xnu = app.login("xnu-lend").await;
    let bcu = app.login("bcu-borrow").await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, file) = upload(app, &xnu, &lend_id, "article.pdf", pdf).await;
    assert_eq!(st, 201, "{file}");
    app.lend_action(
        &xnu,
        &lend_id,
        json!({"action": "ship_digital", "file_id": file["file_id"]}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    app.borrow_action(&bcu, &id, json!({"action": "receive"}))
        .await;
    let v = app
        .borrow_action(&bcu, &id, json!({"action": "deliver_to_patron"}))
        .await;
    assert_eq!(v["state"], "completed", "{v}");
    (id, file["file_id"].as_str().unwrap().to_owned())
}

/// GET `path` (with a token): status, Content-Length and the body.
async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Option<u64>, Vec<u8>) {
    let mut r = app.client.get(format!("{}{path}", app.base));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let len = resp
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, len, resp.bytes().await.unwrap().to_vec())
}

/// A poppler tool's output for `pdf`, or `None` when poppler-utils is not installed.
fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.pdf");
    std::fs::write(&path, pdf).unwrap();
    let mut cmd = std::process::Command::new(tool);
    cmd.args(args).arg(&path);
    if tool == "pdftotext" {
        cmd.arg("-");
    }
    let out = cmd.output().ok()?;
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

fn page_text(pdf: &[u8], page: usize) -> Option<String> {
    let p = page.to_string();
    poppler("pdftotext", &["-enc", "UTF-8", "-f", &p, "-l", &p], pdf)
}

/// Checks a copy as its reader received it: `original` then an update whose first page is
/// the cover of view `view` of `max`.
fn check_cover(got: &[u8], original: &[u8], pages: i64, id: &str, reader: &str, view: i64) {
    assert!(got.len() > original.len());
    assert!(
        got.starts_with(original),
        "the original bytes are kept as they were"
    );
    // Our own reader finds one page more...
    let plan = pdf::stamp::plan(got).unwrap();
    assert_eq!(plan.page_count(), pages + 1);
    // ... and so does poppler, with the cover's text on page 1 and the article after it.
    let Some(info) = poppler("pdfinfo", &[], got) else {
        println!("note: poppler-utils is not installed; the cover's text was not read back");
        return;
    };
    assert!(
        info.contains(&format!("Pages:           {}", pages + 1)),
        "{info}"
    );
    let cover = page_text(got, 1).unwrap();
    for words in [
        "版权声明",
        "Copyright notice",
        "北辰",
        "仅供本人学习研究",
        "for my own study only",
        id,
        reader,
        &format!("opened {view} of 5 times"),
        &format!("第 {view} 次打开，共可打开 5 次"),
    ] {
        assert!(cover.contains(words), "{words:?} on the cover: {cover}");
    }
    assert!(!cover.contains("Original page"), "{cover}");
    let first = page_text(got, 2).unwrap();
    assert!(first.contains("Original page 1 of the article"), "{first}");
    let last = page_text(got, usize::try_from(pages + 1).unwrap()).unwrap();
    assert!(
        last.contains(&format!("Original page {pages} of the article")),
        "{last}"
    );
}

async fn cover_on_each_view(app: TestApp) {
    // The library's own declaration goes on the cover.
    let admin = app.login("bcu-admin").await;
    let (st, saved) = app
        .put_json(
            "/api/v1/copyright-settings",
            json!({
                "declaration_en": "I declare the copy is for my own study only.",
                "declaration_zh": "本人声明：复制件仅供本人学习研究。",
                "limit": 5, "window_years": 5, "compliance": "CCG", "duplicate_window_days": 365
            }),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{saved}");

    let (id, file_id) = delivered(&app, OBJSTM).await;
    let req = app.state.store.borrow_request(&id).await.unwrap();
    let reader = app.state.store.user(&req.patron_id).await.unwrap();
    let phd = app.login("bcu-phd").await;
    let path = format!("/api/v1/requests/{id}/document");
    for view in 1..=2 {
        let (st, len, body) = fetch(&app, &path, Some(&phd)).await;
        assert_eq!(st, 200);
        assert_eq!(len, Some(body.len() as u64), "the length is announced");
        check_cover(&body, OBJSTM, 3, &id, &reader.display_name, view);
    }
    // Staff of the borrowing library check the copy as stored, without a cover or a view.
    let bcu = app.login("bcu-borrow").await;
    let (st, _, body) = fetch(&app, &path, Some(&bcu)).await;
    assert_eq!((st, body.as_slice()), (200, OBJSTM));
    // A reissued link opens without logging in, with the next view on the cover.
    let (st, link) = app
        .post(
            &format!("/api/v1/requests/{id}/document/reissue"),
            json!({}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{link}");
    let (st, _, body) = fetch(&app, link["link"].as_str().unwrap(), None).await;
    assert_eq!(st, 200);
    check_cover(&body, OBJSTM, 3, &id, &reader.display_name, 1);
    // The history says so in both languages, each page in its own.
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let reissued = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "document_link_reissued")
        .unwrap_or_else(|| panic!("{events}"));
    // In the library's time (UTC+8), not UTC.
    let expires = time::OffsetDateTime::parse(
        link["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let until = domain::library::LibraryOffset::CHINA.time_label(expires);
    assert!(until.ends_with("(UTC+8)"), "{until}");
    assert_eq!(reissued["note"], format!("new link until {until}").as_str());
    assert_eq!(
        reissued["data"]["note_zh"],
        format!("新链接有效期至 {until}").as_str()
    );
    let staff = crate::web::web_login(&app, "bcu-borrow").await;
    let zh = crate::web::get(
        &app,
        &format!("/requests/{id}"),
        Some(&format!("{staff}; librelay_lang=zh-CN")),
    )
    .await;
    assert!(
        zh.body.contains(&format!("新链接有效期至 {until}")),
        "{}",
        zh.body
    );
    assert!(
        zh.body.contains("复制件已打开（通过链接）；还可打开 4 次"),
        "{}",
        zh.body
    );
    assert!(!zh.body.contains("copy opened"), "{}", zh.body);
    // The plan was read when the file was stored.
    let f = app.state.store.file(&file_id).await.unwrap().unwrap();
    assert!(f.cover_plan.unwrap().contains("\"kind\":\"stamp\""));

    // A classic cross-reference table from another producer.
    let (id, _) = delivered(&app, CLASSIC).await;
    let (st, _, body) = fetch(&app, &format!("/api/v1/requests/{id}/document"), Some(&phd)).await;
    assert_eq!(st, 200);
    check_cover(&body, CLASSIC, 2, &id, &reader.display_name, 1);
}

#[tokio::test]
async fn a_delivered_pdf_opens_with_the_copyright_cover_page_in_front_of_its_pages() {
    for e in engines() {
        cover_on_each_view(TestApp::spawn(e).await).await;
    }
}

#[tokio::test]
async fn covers_are_the_same_with_the_copies_kept_in_an_s3_compatible_bucket() {
    for e in engines() {
        let Some(bucket) = Bucket::fresh("cover on S3").await else {
            return;
        };
        cover_on_each_view(TestApp::spawn_with(e, |c| bucket.apply(c)).await).await;
        unchanged_and_late(TestApp::spawn_with(e, |c| bucket.apply(c)).await).await;
    }
}

async fn unchanged_and_late(app: TestApp) {
    let phd = app.login("bcu-phd").await;

    // Encrypted: delivered as it is, the reason kept with the file; the view still counts.
    let (id, file_id) = delivered(&app, ENCRYPTED).await;
    let (st, _, body) = fetch(&app, &format!("/api/v1/requests/{id}/document"), Some(&phd)).await;
    assert_eq!((st, body.as_slice()), (200, ENCRYPTED));
    let f = app.state.store.file(&file_id).await.unwrap().unwrap();
    let plan: Value = serde_json::from_str(f.cover_plan.as_deref().unwrap()).unwrap();
    assert_eq!(plan["kind"], "unchanged", "{plan}");
    assert_eq!(plan["reason"], "the file is encrypted", "{plan}");
    let bcu = app.login("bcu-borrow").await;
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let viewed: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "document_viewed")
        .collect();
    assert_eq!(viewed.len(), 1, "{events}");
    assert_eq!(viewed[0]["note"], "copy opened (logged in); 4 views left");
    assert_eq!(
        viewed[0]["data"]["note_zh"],
        "复制件已打开（登录后）；还可打开 4 次"
    );

    // A copy stored before covers existed (no plan kept): read at its first view, then kept.
    let (id, file_id) = delivered(&app, CLASSIC).await;
    let fid = file_id.clone();
    app.state
        .store
        .write(move |tx| Box::pin(async move { tx.set_cover_plan(&fid, "").await }))
        .await
        .unwrap();
    let (st, _, body) = fetch(&app, &format!("/api/v1/requests/{id}/document"), Some(&phd)).await;
    assert_eq!(st, 200);
    assert_eq!(pdf::stamp::plan(&body).unwrap().page_count(), 3);
    let f = app.state.store.file(&file_id).await.unwrap().unwrap();
    assert!(f.cover_plan.unwrap().contains("\"kind\":\"stamp\""));

    // Not a PDF at all: as stored.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let (id, _) = delivered(&app, &png).await;
    let (st, _, body) = fetch(&app, &format!("/api/v1/requests/{id}/document"), Some(&phd)).await;
    assert_eq!((st, body), (200, png));
}

#[tokio::test]
async fn an_encrypted_pdf_is_delivered_unchanged_and_an_older_copy_is_read_at_its_first_view() {
    for e in engines() {
        unchanged_and_late(TestApp::spawn(e).await).await;
    }
}

async fn across_nodes(engine: Engine) {
    let (a, b) = TestApp::pair(engine).await;
    let id = article_for(&a, "bcu-phd", "HTU").await;
    ship_and_deliver_file(&b, "htu-lend", &a, &id, CLASSIC).await;
    // The borrowing node fetched the copy as the lender stored it, and read it for its cover.
    let req = a.state.store.borrow_request(&id).await.unwrap();
    let reader = a.state.store.user(&req.patron_id).await.unwrap();
    let (_, file_id) = a.state.store.borrow_document(&id).await.unwrap();
    let f = a
        .state
        .store
        .file(&file_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.size_bytes, CLASSIC.len() as i64);
    assert!(f.cover_plan.unwrap().contains("\"kind\":\"stamp\""));
    let phd = a.login("bcu-phd").await;
    let (st, _, body) = fetch(&a, &format!("/api/v1/requests/{id}/document"), Some(&phd)).await;
    assert_eq!(st, 200);
    // One cover, the borrowing library's (BCU's default declaration).
    let Some(_) = poppler("pdfinfo", &[], &body) else {
        return;
    };
    assert_eq!(pdf::stamp::plan(&body).unwrap().page_count(), 3);
    let cover = page_text(&body, 1).unwrap();
    assert!(cover.contains(&id), "{cover}");
    assert!(cover.contains(&reader.display_name), "{cover}");
    assert!(cover.contains("opened 1 of 5 times"), "{cover}");
    assert!(cover.contains("private study or research"), "{cover}");
}

#[tokio::test]
async fn a_copy_from_another_node_gets_its_cover_where_the_reader_is() {
    for e in engines() {
        across_nodes(e).await;
    }
}

/// Run `sql` on the app's own database, behind its back.
async fn raw_sql(app: &TestApp, sql: &'static str) {
    let url = app.state.config.store_config().url;
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    }
}

async fn facts_unreadable(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let phd = app.login("bcu-phd").await;
    let (id, _) = delivered(&app, CLASSIC).await;
    // The declaration the cover quotes cannot be read any more.
    raw_sql(
        &app,
        "DELETE FROM copyright_settings; \
         INSERT INTO copyright_settings (library_id, settings, updated_at) \
         SELECT library_id, '\"not settings\"', '2026-01-01T00:00:00Z' FROM library",
    )
    .await;
    let (st, _, body) = fetch(&app, &format!("/api/v1/requests/{id}/document"), Some(&phd)).await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        body.as_slice(),
        CLASSIC,
        "the copy as stored, without a cover"
    );
    let bcu = app.login("bcu-borrow").await;
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let viewed = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "document_viewed")
        .count();
    assert_eq!(viewed, 1, "{events}");
}

#[tokio::test]
async fn a_counted_view_still_gets_the_copy_when_the_cover_cannot_be_made() {
    for e in engines() {
        facts_unreadable(e).await;
    }
}

/// A library that sets its time to UTC-5 gets its cover dates, its links' last day and the
/// history's notes in that time; the setting is its admins', and a wrong one is refused with
/// the reason in both languages.
#[tokio::test]
async fn a_library_in_another_time_gets_its_dates_in_its_time() {
    for e in engines() {
        let app = TestApp::spawn(e).await;
        let admin = app.login("bcu-admin").await;
        let bcu = app.login("bcu-borrow").await;
        let (st, v) = app.get("/api/v1/library-time", Some(&bcu)).await;
        assert_eq!((st, v["utc_offset"].as_str()), (200, Some("+08:00")), "{v}");
        let (st, _) = app
            .put_json(
                "/api/v1/library-time",
                json!({"utc_offset": "-05:00"}),
                &bcu,
            )
            .await;
        assert_eq!(st, 403, "only its admins");
        let resp = app
            .client
            .put(format!("{}/api/v1/library-time", app.base))
            .bearer_auth(&admin)
            .header("accept-language", "zh-CN")
            .json(&json!({"utc_offset": "America/New_York"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422);
        let err: Value = resp.json().await.unwrap();
        let field = &err["error"]["fields"][0];
        assert_eq!(field["field"], "utc_offset", "{err}");
        assert!(field["message"].as_str().unwrap().contains("时差"), "{err}");
        assert!(
            field["message_en"].as_str().unwrap().contains("-05:00"),
            "{err}"
        );
        let (st, v) = app
            .put_json(
                "/api/v1/library-time",
                json!({"utc_offset": "-05:00"}),
                &admin,
            )
            .await;
        assert_eq!((st, v["utc_offset"].as_str()), (200, Some("-05:00")), "{v}");
        let (_, libs) = app.get("/api/v1/libraries", Some(&bcu)).await;
        let own = libs
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["code"] == "BCU")
            .unwrap();
        assert_eq!(own["utc_offset"], "-05:00");

        let west = domain::library::LibraryOffset::parse("-05:00").unwrap();
        let (id, _) = delivered(&app, OBJSTM).await;
        let (st, link) = app
            .post(
                &format!("/api/v1/requests/{id}/document/reissue"),
                json!({}),
                Some(&bcu),
            )
            .await;
        assert_eq!(st, 200, "{link}");
        let expires = time::OffsetDateTime::parse(
            link["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let until = west.time_label(expires);
        assert!(until.ends_with("(UTC-5)"), "{until}");
        let (_, events) = app
            .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
            .await;
        let reissued = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "document_link_reissued")
            .unwrap();
        assert_eq!(reissued["note"], format!("new link until {until}").as_str());
        let path = link["link"].as_str().unwrap().to_owned();
        let (st, _, body) = fetch(&app, &path, None).await;
        assert_eq!(st, 200);
        if let Some(cover) = page_text(&body, 1) {
            let today = west.date(app.state.now()).to_string();
            assert!(cover.contains(&until), "{until} on the cover: {cover}");
            assert!(cover.contains(&today), "{today} on the cover: {cover}");
        }
        // After its last day the refusal says that day, in the library's time.
        app.clock.advance(time::Duration::days(61));
        let resp = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 410);
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "link_expired", "{err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(&until),
            "{err}"
        );
    }
}
