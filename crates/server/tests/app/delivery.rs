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
async fn copy_delivered_on_one_node(app: TestApp, bucket: Option<&Bucket>) {
    assert_eq!(app.state.config.max_file_bytes, SMALL_LIMIT);
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
        let app = TestApp::spawn_with(e, |c| c.max_file_bytes = SMALL_LIMIT).await;
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
