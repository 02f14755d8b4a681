//! Document delivery: a lender uploads the copy (checked by content), ships it, the borrowing
//! library passes it to the reader, who may open it a limited number of times and days; the
//! same across two nodes, where the borrower fetches the copy from the lender's node.

use serde_json::{Value, json};

use crate::helpers::{Bucket, Engine, TestApp, engines};

pub(crate) const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    lend_id: &str,
    name: &str,
    body: &[u8],
) -> (u16, Value) {
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/lending/{lend_id}/files?filename={name}",
            app.base
        ))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header("accept-language", "zh-CN")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// GET a delivered copy: status, content type, body.
async fn open(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut r = app.client.get(format!("{}{path}", app.base));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.bytes().await.unwrap().to_vec())
}

fn article() -> Value {
    json!({
        "title": "Resource sharing at speed", "author": "Wang, L.", "source_title": "Journal of Documentation",
        "issn": "0022-0418", "volume": "81", "issue": "2", "year": "2025", "pages": "101-119",
        "copyright_declaration": true
    })
}

/// A PhD reader of BCU asks for an article; staff send it to `lender` and approve.
async fn article_sent_to(app: &TestApp, lender: &str) -> String {
    article_for(app, "bcu-phd", lender).await
}

/// `reader` of BCU asks for an article; staff send it to `lender` and approve.
pub(crate) async fn article_for(app: &TestApp, reader: &str, lender: &str) -> String {
    let patron = app.login(reader).await;
    let bcu = app.login("bcu-borrow").await;
    let (st, req) = app
        .post(
            "/api/v1/requests",
            json!({"format": "article_copy", "citation": article()}),
            Some(&patron),
        )
        .await;
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    app.borrow_action(&bcu, &id, json!({"action": "edit_rota", "rota": [lender]}))
        .await;
    app.borrow_action(&bcu, &id, json!({"action": "approve"}))
        .await;
    id
}

/// The lender (on `lender_node`, as `lender`) uploads the copy for borrowing request `id` of
/// BCU (on `borrower_node`) and ships it; BCU receives it and delivers it to the reader.
/// Returns the uploaded file.
pub(crate) async fn ship_and_deliver(
    lender_node: &TestApp,
    lender: &str,
    borrower_node: &TestApp,
    id: &str,
) -> Value {
    ship_and_deliver_file(lender_node, lender, borrower_node, id, PDF).await
}

/// `ship_and_deliver` with the file `body`.
pub(crate) async fn ship_and_deliver_file(
    lender_node: &TestApp,
    lender: &str,
    borrower_node: &TestApp,
    id: &str,
    body: &[u8],
) -> Value {
    let token = lender_node.login(lender).await;
    let bcu = borrower_node.login("bcu-borrow").await;
    let lend_id = lender_node.lend_for(&token, id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, file) = upload(lender_node, &token, &lend_id, "copy.pdf", body).await;
    assert_eq!(st, 201, "{file}");
    lender_node
        .lend_action(
            &token,
            &lend_id,
            json!({"action": "ship_digital", "file_id": file["file_id"]}),
        )
        .await;
    borrower_node
        .eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "shipped"
        })
        .await;
    borrower_node
        .borrow_action(&bcu, id, json!({"action": "receive"}))
        .await;
    borrower_node
        .borrow_action(&bcu, id, json!({"action": "deliver_to_patron"}))
        .await;
    file
}

/// The largest upload in `copy_delivered_on_one_node`'s app, small enough to send one byte more.
const SMALL_LIMIT: usize = 64 * 1024;

/// The objects in `bucket` (when the copies are kept in S3): the keys the app stored.
async fn stored_keys(bucket: Option<&Bucket>) -> Option<Vec<String>> {
    match bucket {
        Some(b) => Some(b.keys().await),
        None => None,
    }
}

/// The whole delivery on one node; `bucket`: the app keeps its copies there (checked after
/// each step on the S3 server itself).
/// The sweeps' interval that holds them back: they run once at start, then not for an hour.
const HELD_BACK_MS: u64 = 3_600_000;

fn held_back(c: &mut server::Config) {
    c.sweep_interval_ms = HELD_BACK_MS;
}

/// Spawned with `held_back`: the test runs the purge itself once the copy has expired, and
/// the sweep job, which runs the same purge every 100 ms in tests, must not be there first.
async fn copy_delivered_on_one_node(app: TestApp, bucket: Option<&Bucket>) {
    assert_eq!(app.state.config.max_file_bytes, SMALL_LIMIT);
    assert_eq!(app.state.config.sweep_interval_ms, HELD_BACK_MS);
    let id = article_sent_to(&app, "XNU").await;
    let xnu = app.login("xnu-lend").await;
    let bcu = app.login("bcu-borrow").await;
    let patron = app.login("bcu-phd").await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // What is not a PDF, TIFF, JPEG, PNG or EPUB is refused by its content, with a reason.
    let (st, err) = upload(&app, &xnu, &lend_id, "paper.pdf", b"<html>not a pdf</html>").await;
    assert_eq!(st, 415, "{err}");
    assert_eq!(err["error"]["code"], "unsupported_file_type");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("PDF"),
        "{err}"
    );
    let (st, err) = upload(&app, &xnu, &lend_id, "empty.pdf", b"").await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (422, Some("empty_file"))
    );
    // One byte over the limit: refused, saying the limit.
    let mut big = PDF.to_vec();
    big.resize(SMALL_LIMIT + 1, b' ');
    let (st, err) = upload(&app, &xnu, &lend_id, "big.pdf", &big).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (413, Some("file_too_large")),
        "{err}"
    );
    assert!(
        err["error"]["message_en"]
            .as_str()
            .unwrap()
            .contains(&SMALL_LIMIT.to_string()),
        "{err}"
    );
    // Another library's staff cannot upload to it.
    let htu = app.login("htu-lend").await;
    let (st, _) = upload(&app, &htu, &lend_id, "x.pdf", PDF).await;
    assert_eq!(st, 404);
    // Nothing refused was stored, not even in part.
    assert_eq!(stored_keys(bucket).await, bucket.map(|_| Vec::new()));
    assert!(
        app.state
            .store
            .files_for_lend(&lend_id)
            .await
            .unwrap()
            .is_empty()
    );

    let (st, file) = upload(&app, &xnu, &lend_id, "../Wang 2025.pdf", PDF).await;
    assert_eq!(st, 201, "{file}");
    assert_eq!(file["content_type"], "application/pdf");
    assert_eq!(file["filename"], "Wang 2025.pdf");
    assert_eq!(file["size_bytes"], PDF.len());
    let file_id = file["file_id"].as_str().unwrap();
    let stored = app.state.store.file(file_id).await.unwrap().unwrap();
    let key = stored.storage_key.as_str();
    if let Some(keys) = stored_keys(bucket).await {
        let prefix = app.state.config.s3_prefix.trim_matches('/');
        let want = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}/{key}")
        };
        assert_eq!(
            keys,
            vec![want],
            "the copy is in the bucket, under the prefix"
        );
        assert!(
            !app.dir.path().join("files").exists(),
            "nothing on the local file system"
        );
    }
    app.lend_action(
        &xnu,
        &lend_id,
        json!({"action": "ship_digital", "file_id": file_id}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    // Not yet delivered to the reader: nothing to open.
    let (st, _, _) = open(
        &app,
        &format!("/api/v1/requests/{id}/document"),
        Some(&patron),
    )
    .await;
    assert_eq!(st, 404);
    app.borrow_action(&bcu, &id, json!({"action": "receive"}))
        .await;
    let v = app
        .borrow_action(&bcu, &id, json!({"action": "deliver_to_patron"}))
        .await;
    assert_eq!(v["state"], "completed");

    // The reader opens it five times; the sixth is refused, and says why.
    for _ in 0..5 {
        let (st, ct, body) = open(
            &app,
            &format!("/api/v1/requests/{id}/document"),
            Some(&patron),
        )
        .await;
        assert_eq!((st, ct.as_str()), (200, "application/pdf"));
        assert_eq!(body, PDF);
    }
    let resp = app
        .client
        .get(format!("{}/api/v1/requests/{id}/document", app.base))
        .bearer_auth(&patron)
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 410);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "view_limit_reached", "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("上限"),
        "{err}"
    );
    // Only that reader: another reader of the same library sees nothing.
    let other = app.login("bcu-master").await;
    let (st, _, _) = open(
        &app,
        &format!("/api/v1/requests/{id}/document"),
        Some(&other),
    )
    .await;
    assert_eq!(st, 404);
    // Staff may check the copy without using up the reader's views.
    let (st, _, body) = open(&app, &format!("/api/v1/requests/{id}/document"), Some(&bcu)).await;
    assert_eq!((st, body.as_slice()), (200, PDF));
    // Every view is in the history.
    let (_, events) = app
        .get(&format!("/api/v1/requests/{id}/events"), Some(&bcu))
        .await;
    let views = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "document_viewed")
        .count();
    assert_eq!(views, 5, "{events}");

    // Staff issue a new link; it opens without logging in, until its days run out.
    let (st, link) = app
        .post(
            &format!("/api/v1/requests/{id}/document/reissue"),
            json!({}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 200, "{link}");
    assert_eq!(link["max_views"], 5);
    let path = link["link"].as_str().unwrap().to_owned();
    let (st, _, body) = open(&app, &path, None).await;
    assert_eq!((st, body.as_slice()), (200, PDF));
    let (st, _, _) = open(&app, "/d/not-a-real-token", None).await;
    assert_eq!(st, 404);
    app.clock.advance(time::Duration::days(31));
    let (st, _, _) = open(&app, &path, None).await;
    assert_eq!(st, 410);
    // Expired copies are purged: the bytes go, the record stays.
    let purged = server::jobs::purge_files(&app.state).await.unwrap();
    assert!(purged >= 1);
    let f = app.state.store.file(file_id).await.unwrap().unwrap();
    assert!(f.purged_at.is_some());
    assert!(!app.state.files.exists(key).await.unwrap());
    assert!(app.state.files.get(key).await.is_err());
    assert_eq!(stored_keys(bucket).await, bucket.map(|_| Vec::new()));
    let bcu = app.login("bcu-borrow").await;
    let (st, _, _) = open(&app, &format!("/api/v1/requests/{id}/document"), Some(&bcu)).await;
    assert_eq!(st, 410);
}

#[tokio::test]
async fn a_copy_is_uploaded_shipped_and_opened_by_its_reader_within_the_limits() {
    for e in engines() {
        let app = TestApp::spawn_with(e, |c| {
            c.max_file_bytes = SMALL_LIMIT;
            held_back(c);
        })
        .await;
        copy_delivered_on_one_node(app, None).await;
    }
}

#[tokio::test]
async fn the_same_with_the_copies_kept_in_an_s3_compatible_bucket() {
    for (n, e) in engines().into_iter().enumerate() {
        let Some(bucket) = Bucket::fresh("delivery on S3").await else {
            return;
        };
        // On the second engine the copies go under a folder of the bucket.
        let app = TestApp::spawn_with(e, |c| {
            bucket.apply_prefixed(c, if n == 0 { "" } else { "ill/copies" });
            c.max_file_bytes = SMALL_LIMIT;
            held_back(c);
        })
        .await;
        copy_delivered_on_one_node(app, Some(&bucket)).await;
    }
}

#[tokio::test]
async fn a_failed_store_leaves_no_record_and_says_so() {
    let Some(bucket) = Bucket::fresh("failed S3 upload").await else {
        return;
    };
    let app = TestApp::spawn_with(Engine::Sqlite, |c| bucket.apply(c)).await;
    let id = article_sent_to(&app, "XNU").await;
    let xnu = app.login("xnu-lend").await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The bucket goes away under the running app: the upload fails whole.
    bucket.remove().await;
    let (st, err) = upload(&app, &xnu, &lend_id, "copy.pdf", PDF).await;
    assert_eq!(st, 500, "{err}");
    assert!(
        app.state
            .store
            .files_for_lend(&lend_id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_bucket_that_cannot_be_written_stops_the_start_with_the_reason() {
    let Some(bucket) = Bucket::fresh("S3 start checks").await else {
        return;
    };
    let start = |change: Box<dyn FnOnce(&mut server::Config)>| async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = server::Config::for_tests(dir.path().to_path_buf());
        change(&mut config);
        match server::App::build(config).await {
            Ok(_) => panic!("started"),
            Err(e) => format!("{e:#}"),
        }
    };
    let missing = Bucket {
        name: format!("{}-missing", bucket.name),
        ..bucket.clone()
    };
    let err = start(Box::new(move |c| missing.apply(c))).await;
    assert!(err.contains("cannot be reached or written"), "{err}");
    assert!(err.contains("无法访问或写入"), "{err}");
    // Nothing answers there.
    let b = bucket.clone();
    let err = start(Box::new(move |c| {
        b.apply(c);
        c.s3_endpoint = "http://127.0.0.1:9".to_owned();
    }))
    .await;
    assert!(err.contains("cannot be reached"), "{err}");
    // Incomplete: a key without its secret.
    let b = bucket.clone();
    let err = start(Box::new(move |c| {
        b.apply(c);
        c.s3_secret_access_key = String::new();
    }))
    .await;
    assert!(err.contains("s3_secret_access_key is not"), "{err}");
    assert!(err.contains("未设置 s3_secret_access_key"), "{err}");
}

#[tokio::test]
async fn each_library_sets_how_often_and_how_long_its_readers_may_open_copies() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let admin = app.login("bcu-admin").await;
    let bcu = app.login("bcu-borrow").await;
    let (st, v) = app.get("/api/v1/delivery-settings", Some(&bcu)).await;
    assert_eq!((st, &v), (200, &json!({"max_views": 5, "days": 30})));
    let put = |token: String, body: Value| {
        app.client
            .put(format!("{}/api/v1/delivery-settings", app.base))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let resp = put(bcu.clone(), json!({"max_views": 2, "days": 7}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403, "only admins");
    let resp = put(admin.clone(), json!({"max_views": 11, "days": 0}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let resp = put(admin.clone(), json!({"max_views": 2, "days": 7}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // A copy delivered now follows BCU's terms: two views.
    let id = article_sent_to(&app, "XNU").await;
    let patron = app.login("bcu-phd").await;
    ship_and_deliver(&app, "xnu-lend", &app, &id).await;
    let path = format!("/api/v1/requests/{id}/document");
    for want in [200, 200, 410] {
        let (st, _, _) = open(&app, &path, Some(&patron)).await;
        assert_eq!(st, want);
    }
}

#[tokio::test]
async fn a_copy_from_another_node_is_fetched_and_delivered() {
    let (a, b) = TestApp::pair(Engine::Sqlite).await;
    let id = article_sent_to(&a, "HTU").await;
    let patron = a.login("bcu-phd").await;
    let file = ship_and_deliver(&b, "htu-lend", &a, &id).await;
    let (st, ct, body) = open(
        &a,
        &format!("/api/v1/requests/{id}/document"),
        Some(&patron),
    )
    .await;
    assert_eq!(
        (st, ct.as_str(), body.as_slice()),
        (200, "application/pdf", PDF)
    );
    // In the pages, the reader's request links to the copy, which opens from there.
    let cookie = crate::web::web_login(&a, "bcu-phd").await;
    let page = crate::web::get(&a, &format!("/requests/{id}"), Some(&cookie)).await;
    let link = format!("/requests/{id}/copy");
    assert!(page.body.contains(&link), "{}", page.body);
    let copy = crate::web::get(&a, &link, Some(&cookie)).await;
    assert_eq!(copy.status, 200);
    assert_eq!(copy.headers["content-type"], "application/pdf");
    assert!(copy.body.starts_with("%PDF-"));
    // The lender's address needs its key.
    let (st, _, _) = open(
        &b,
        &format!(
            "/api/v1/files/{}?key=wrong",
            file["file_id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn a_copy_that_cannot_be_fetched_is_not_delivered_and_staff_are_told() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let id = article_sent_to(&app, "XNU").await;
    let xnu = app.login("xnu-lend").await;
    let bcu = app.login("bcu-borrow").await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // An address nothing answers at.
    app.lend_action(
        &xnu,
        &lend_id,
        json!({"action": "ship_digital", "url": "http://127.0.0.1:9/gone.pdf"}),
    )
    .await;
    app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
        v["state"] == "shipped"
    })
    .await;
    app.borrow_action(&bcu, &id, json!({"action": "receive"}))
        .await;
    let (st, err) = app
        .post(
            &format!("/api/v1/requests/{id}/actions"),
            json!({"action": "deliver_to_patron"}),
            Some(&bcu),
        )
        .await;
    assert_eq!(st, 502, "{err}");
    assert_eq!(err["error"]["code"], "copy_not_fetched");
    let (_, v) = app.get(&format!("/api/v1/requests/{id}"), Some(&bcu)).await;
    assert_eq!(v["state"], "received", "nothing changed: {v}");
}

/// A PDF of about `size` bytes that can take a cover: a one-page document whose bulk is an
/// image stream between the page and the cross-reference.
fn pdf_of_size(size: usize) -> Vec<u8> {
    let mut f = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for body in [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ] {
        offsets.push(f.len());
        f.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", offsets.len()).as_bytes());
    }
    let image: Vec<u8> = (0..size.saturating_sub(600))
        .map(|i| (i % 251) as u8)
        .collect();
    offsets.push(f.len());
    f.extend_from_slice(format!("4 0 obj\n<< /Length {} >>\nstream\n", image.len()).as_bytes());
    f.extend_from_slice(&image);
    f.extend_from_slice(b"\nendstream\nendobj\n");
    let xref = f.len();
    f.extend_from_slice(b"xref\n0 5\n0000000000 65535 f \n");
    for o in &offsets {
        f.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    f.extend_from_slice(
        format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    f
}

/// Upload `body` sent in pieces of 64 KiB with no declared length (chunked), as a client
/// streaming a file does: the server learns the size only as the bytes come.
async fn upload_chunked(app: &TestApp, token: &str, lend_id: &str, body: Vec<u8>) -> (u16, Value) {
    use std::io::{Read as _, Write as _};
    let addr = app.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /api/v1/lending/{lend_id}/files?filename=big.pdf HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
         Accept-Language: zh-CN\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let raw = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        // A refusal may close the connection before the last piece: then the answer is read.
        let mut sent = true;
        for piece in body.chunks(64 * 1024) {
            let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
            frame.extend_from_slice(piece);
            frame.extend_from_slice(b"\r\n");
            if s.write_all(&frame).is_err() {
                sent = false;
                break;
            }
        }
        if sent {
            let _ = s.write_all(b"0\r\n\r\n");
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

/// Every file under `dir`, at any depth (staging files included).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `app` (limit `limit`) refuses `big` whether its length is declared or only streamed: 413
/// in both languages, saying the limit, and nothing stored, not even in part.
async fn too_large_is_refused_with_nothing_left(
    app: &TestApp,
    bucket: Option<&Bucket>,
    limit: usize,
    big: Vec<u8>,
) {
    let id = article_sent_to(app, "XNU").await;
    let xnu = app.login("xnu-lend").await;
    let lend_id = app.lend_for(&xnu, &id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for declared in [true, false] {
        let (st, err) = if declared {
            upload(app, &xnu, &lend_id, "big.pdf", &big).await
        } else {
            upload_chunked(app, &xnu, &lend_id, big.clone()).await
        };
        assert_eq!(
            (st, err["error"]["code"].as_str()),
            (413, Some("file_too_large")),
            "{err}"
        );
        let zh = err["error"]["message"].as_str().unwrap();
        let en = err["error"]["message_en"].as_str().unwrap();
        assert!(
            zh.contains("上限") && zh.contains(&limit.to_string()),
            "{err}"
        );
        assert!(en.contains(&limit.to_string()), "{err}");
        assert!(
            app.state
                .store
                .files_for_lend(&lend_id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            files_under(&app.dir.path().join("files")),
            Vec::<std::path::PathBuf>::new()
        );
        if let Some(b) = bucket {
            assert_eq!(b.keys().await, Vec::<String>::new(), "declared: {declared}");
            assert_eq!(b.uploads_in_progress().await, 0, "declared: {declared}");
        }
    }
    // A copy within the limit still goes in, in one piece or streamed.
    let ok = pdf_of_size(limit / 2);
    let (st, file) = upload_chunked(app, &xnu, &lend_id, ok.clone()).await;
    assert_eq!(st, 201, "{file}");
    assert_eq!(file["size_bytes"], ok.len());
}

#[tokio::test]
async fn a_copy_over_the_size_limit_is_refused_and_nothing_of_it_is_kept() {
    for e in engines() {
        let app = TestApp::spawn_with(e, |c| c.max_file_bytes = SMALL_LIMIT).await;
        too_large_is_refused_with_nothing_left(
            &app,
            None,
            SMALL_LIMIT,
            pdf_of_size(4 * SMALL_LIMIT),
        )
        .await;
    }
}

#[tokio::test]
async fn on_s3_a_copy_over_the_limit_is_refused_and_its_parts_are_dropped() {
    for e in engines() {
        let Some(bucket) = Bucket::fresh("S3 size limit").await else {
            return;
        };
        // Over one part: the refusal comes after a multipart upload has begun.
        let limit = server::files::PART_BYTES + 512 * 1024;
        let app = TestApp::spawn_with(e, |c| {
            bucket.apply(c);
            c.max_file_bytes = limit;
        })
        .await;
        too_large_is_refused_with_nothing_left(&app, Some(&bucket), limit, pdf_of_size(2 * limit))
            .await;
    }
}

#[tokio::test]
async fn on_s3_a_copy_larger_than_a_part_is_stored_in_parts_and_gets_its_cover() {
    let Some(bucket) = Bucket::fresh("S3 multipart").await else {
        return;
    };
    for e in engines() {
        let app = TestApp::spawn_with(e, |c| {
            bucket.apply(c);
            c.max_file_bytes = 3 * server::files::PART_BYTES;
        })
        .await;
        let id = article_sent_to(&app, "XNU").await;
        let patron = app.login("bcu-phd").await;
        let body = pdf_of_size(server::files::PART_BYTES + 300 * 1024);
        let file = ship_and_deliver_file(&app, "xnu-lend", &app, &id, &body).await;
        assert_eq!(file["size_bytes"], body.len());
        let stored = app
            .state
            .store
            .file(file["file_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        use sha2::Digest as _;
        let sha: String = sha2::Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(stored.sha256, sha);
        // Two parts on the server, and no upload left open.
        let etag = bucket.etag(&stored.storage_key).await;
        assert!(etag.trim_matches('"').ends_with("-2"), "{etag}");
        assert_eq!(bucket.uploads_in_progress().await, 0);
        // Its structure was read from the store: the reader's copy has the cover in front.
        assert!(
            stored.cover_plan.as_deref().unwrap().contains("\"stamp\""),
            "{:?}",
            stored.cover_plan
        );
        let (st, ct, got) = open(
            &app,
            &format!("/api/v1/requests/{id}/document"),
            Some(&patron),
        )
        .await;
        assert_eq!((st, ct.as_str()), (200, "application/pdf"));
        assert_eq!(&got[..body.len()], body.as_slice());
        assert_eq!(pdf::stamp::plan(&got).unwrap().page_count(), 2);
    }
}

/// A form post as a browser sends one with a file field: multipart/form-data, the text fields
/// first, then the file (`None`: no file chosen, an empty nameless part, as browsers send it).
async fn post_multipart(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> (u16, String, String) {
    let boundary = "----librelay-test-boundary-7d2f";
    let mut body: Vec<u8> = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let (filename, bytes) = file.unwrap_or(("", b""));
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let resp = crate::web::browser()
        .post(format!("{}{path}", app.base))
        .header("sec-fetch-site", "same-origin")
        .header("cookie", cookie)
        .header("accept-language", "zh-CN")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_lender_ships_the_copy_from_the_request_page_and_the_reader_opens_it() {
    for engine in engines() {
        let app = TestApp::spawn_with(engine, |c| c.max_file_bytes = SMALL_LIMIT).await;
        let id = article_sent_to(&app, "XNU").await;
        let xnu = app.login("xnu-lend").await;
        let bcu = app.login("bcu-borrow").await;
        let patron = app.login("bcu-phd").await;
        let lend_id = app.lend_for(&xnu, &id).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let cookie = crate::web::web_login(&app, "xnu-lend").await;

        // The request's page offers the file field in a form that can send it.
        let page = crate::web::get(&app, &format!("/staff/lending/{lend_id}"), Some(&cookie)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let form_at =
            format!(r#"action="/staff/lending/{lend_id}/ship-file" enctype="multipart/form-data""#);
        assert!(page.body.contains(&form_at), "{}", page.body);
        assert!(page.body.contains(r#"type="file""#), "{}", page.body);

        let path = format!("/staff/lending/{lend_id}/ship-file");
        let back = format!("/staff/lending/{lend_id}");
        // Neither a file nor an address: refused, saying what is missing; nothing stored.
        let (st, _, body) =
            post_multipart(&app, &path, &cookie, &[("back", back.as_str())], None).await;
        assert_eq!(st, 400, "{body}");
        assert!(body.contains("请选择复制件文件"), "{body}");
        // Not a copy's type, and over the limit: refused by content and by size, nothing kept.
        let fields = [("back", back.as_str()), ("note", "")];
        let (st, _, body) = post_multipart(
            &app,
            &path,
            &cookie,
            &fields,
            Some(("paper.pdf", b"<html>not a pdf</html>")),
        )
        .await;
        assert_eq!(st, 415, "{body}");
        let mut big = PDF.to_vec();
        big.resize(SMALL_LIMIT + 1, b' ');
        let (st, _, body) =
            post_multipart(&app, &path, &cookie, &fields, Some(("big.pdf", &big))).await;
        assert_eq!(st, 413, "{body}");
        assert!(body.contains(&SMALL_LIMIT.to_string()), "{body}");
        assert!(
            app.state
                .store
                .files_for_lend(&lend_id)
                .await
                .unwrap()
                .is_empty()
        );

        // The copy itself: stored, shipped, and back to the page it came from.
        let (st, location, body) =
            post_multipart(&app, &path, &cookie, &fields, Some(("Wang 2025.pdf", PDF))).await;
        assert_eq!(st, 303, "{body}");
        assert!(location.starts_with(&back), "{location}");
        let files = app.state.store.files_for_lend(&lend_id).await.unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].filename, "Wang 2025.pdf");
        assert_eq!(files[0].size_bytes, PDF.len() as i64);
        app.eventually(&format!("/api/v1/requests/{id}"), &bcu, |v| {
            v["state"] == "shipped"
        })
        .await;
        app.borrow_action(&bcu, &id, json!({"action": "receive"}))
            .await;
        app.borrow_action(&bcu, &id, json!({"action": "deliver_to_patron"}))
            .await;
        let (st, ct, body) = open(
            &app,
            &format!("/api/v1/requests/{id}/document"),
            Some(&patron),
        )
        .await;
        assert_eq!((st, ct.as_str()), (200, "application/pdf"));
        assert!(body.starts_with(PDF), "the reader gets the uploaded copy");

        // Shipped once: a second file is refused before anything of it is kept.
        let (st, _, body) =
            post_multipart(&app, &path, &cookie, &fields, Some(("again.pdf", PDF))).await;
        assert_eq!(st, 409, "{body}");
        assert_eq!(
            app.state
                .store
                .files_for_lend(&lend_id)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
