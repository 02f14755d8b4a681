//! `POST /iso18626` as a partner's system uses it: a real WorldShare-style request addressed to
//! one of our libraries, delivered twice, and the refusals a peer gets for what it cannot send.

use serde_json::Value;

use crate::helpers::{Engine, TestApp};

fn sample(name: &str) -> String {
    let path = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../iso18626/tests/fixtures/samples")
    .join(name);
    std::fs::read_to_string(path).unwrap()
}

async fn post_xml(app: &TestApp, body: String) -> (u16, String) {
    let resp = app
        .client
        .post(format!("{}/iso18626", app.base))
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn status_of(confirmation: &str) -> (iso18626::MessageStatus, Option<iso18626::ErrorType>) {
    let (msg, _) = iso18626::parse(confirmation.as_bytes()).unwrap();
    let h = msg.header();
    (
        h.message_status.unwrap(),
        h.error_data.as_ref().map(|e| e.error_type),
    )
}

#[tokio::test]
async fn a_partners_request_arrives_once_however_often_it_is_sent() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    // The sample as OCLC's toolkit sends it, addressed to XNU.
    let xml = sample("NewRequest.xml").replace("OCLC-ABCDE", "CN-XNU");
    let (st, first) = post_xml(&app, xml.clone()).await;
    assert_eq!(st, 200);
    assert_eq!(
        status_of(&first),
        (iso18626::MessageStatus::Ok, None),
        "{first}"
    );
    assert!(
        first.contains("requestConfirmation"),
        "answered in kind: {first}"
    );
    let (_, again) = post_xml(&app, xml).await;
    assert_eq!(again, first, "the same message gets the same confirmation");
    let xnu = app.login("xnu-lend").await;
    let (_, queue) = app.get("/api/v1/lending?q=168166854", Some(&xnu)).await;
    assert_eq!(queue["total"], 1, "{queue}");
    let item: &Value = &queue["items"][0];
    assert_eq!(item["borrower_agency"], "ISIL:OCLC-BCDEF");
    assert_eq!(item["title"], "Harry Potter and the Half-Blood Prince");
    assert_eq!(item["citation"]["isbn"], "9780439784542");
    assert_eq!(item["state"], "request_received");
}

#[tokio::test]
async fn what_a_peer_cannot_send_gets_an_error_confirmation_not_a_crash() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    // Addressed to a library that is not on this node.
    let (st, body) = post_xml(&app, sample("NewRequest.xml")).await;
    assert_eq!(st, 200);
    assert_eq!(
        status_of(&body),
        (
            iso18626::MessageStatus::Error,
            Some(iso18626::ErrorType::UnrecognisedDataValue)
        )
    );
    assert!(body.contains("OCLC-ABCDE"), "says which agency: {body}");
    // Not XML at all, and a document cut in half.
    for bad in [
        "not xml".to_owned(),
        sample("NewRequest.xml")[..400].to_owned(),
    ] {
        let (st, body) = post_xml(&app, bad).await;
        assert_eq!(st, 200);
        assert_eq!(
            status_of(&body).1,
            Some(iso18626::ErrorType::BadlyFormedMessage),
            "{body}"
        );
    }
    // A supplying agency message about a request we never sent.
    let sam = sample("SupplyingAgencyMessageLoaned.xml");
    let (msg, _) = iso18626::parse(sam.as_bytes()).unwrap();
    let ours = msg.header().requesting_agency_id.value.clone();
    let (_, body) = post_xml(&app, sam.replace(&ours, "CN-BCU")).await;
    assert_eq!(
        status_of(&body).1,
        Some(iso18626::ErrorType::UnrecognisedDataValue),
        "{body}"
    );
    // Only XML is taken.
    let resp = app
        .client
        .post(format!("{}/iso18626", app.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
}
