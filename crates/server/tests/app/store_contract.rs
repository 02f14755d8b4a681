//! The store contract: the same behaviour on SQLite and PostgreSQL, checked on both.

use std::collections::BTreeSet;

use store::{NewEvent, NewOutbox, Store, StoreConfig, StoreError};
use time::OffsetDateTime;

use crate::helpers::{Engine, engines, fresh_postgres};

async fn open(engine: Engine) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = match engine {
        Engine::Sqlite => StoreConfig::sqlite_in(dir.path()),
        Engine::Postgres => StoreConfig {
            url: fresh_postgres().await,
            sqlite_synchronous_full: true,
            max_connections: 8,
        },
    };
    (Store::open(&config).await.unwrap(), dir)
}

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).unwrap()
}

async fn seed_library(store: &Store, code: &'static str) {
    let t = now();
    store
        .write(move |tx| {
            Box::pin(async move {
                tx.insert_library(&store::LibraryRow {
                    library_id: code.to_owned(),
                    agency_type: "ISIL".to_owned(),
                    agency_value: format!("XX-{code}"),
                    name_en: code.to_owned(),
                    name_zh: code.to_owned(),
                    kind: "university".to_owned(),
                    region: "R".to_owned(),
                    address: String::new(),
                    hub_id: None,
                    closed_days: store::Json(Default::default()),
                    created_at: t,
                    latitude_e6: None,
                    longitude_e6: None,
                    utc_offset_minutes: 480,
                })
                .await
            })
        })
        .await
        .unwrap();
}

fn event<'a>(request_id: &'a str, note: &'a str) -> NewEvent<'a> {
    NewEvent {
        library_id: "AAA",
        side: "borrow",
        request_id,
        actor_id: None,
        actor: "system",
        action: "test",
        from_state: None,
        to_state: "x",
        note: Some(note),
        message_id: None,
        data: Some(serde_json::json!({"n": note})),
    }
}

#[tokio::test]
async fn a_failed_write_leaves_nothing_behind_and_a_good_one_stays() {
    for e in engines() {
        let (store, _dir) = open(e).await;
        seed_library(&store, "AAA").await;
        let t = now();
        // Many writes at once (they share commits on SQLite); every third one fails halfway.
        let mut handles = Vec::new();
        for i in 0..60 {
            let s = store.clone();
            handles.push(tokio::spawn(async move {
                s.write(move |tx| {
                    Box::pin(async move {
                        let rid = format!("r{i}");
                        tx.insert_event(&event(&rid, "first"), t).await?;
                        if i % 3 == 0 {
                            return Err(StoreError::Conflict("test".into()));
                        }
                        tx.insert_event(&event(&rid, "second"), t).await?;
                        Ok(())
                    })
                })
                .await
            }));
        }
        let mut failed = 0;
        for h in handles {
            if h.await.unwrap().is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 20, "{e:?}");
        for i in 0..60 {
            let events = store.events("AAA", &format!("r{i}")).await.unwrap();
            let want = if i % 3 == 0 { 0 } else { 2 };
            assert_eq!(events.len(), want, "{e:?}: request r{i}");
        }
        let events = store.events("AAA", "r1").await.unwrap();
        assert_eq!(events[0].at, t, "{e:?}: timestamps read back equal");
        assert_eq!(events[0].data.as_ref().unwrap().0["n"], "first");
    }
}

#[tokio::test]
async fn a_duplicate_key_is_a_conflict_not_a_crash() {
    for e in engines() {
        let (store, _dir) = open(e).await;
        seed_library(&store, "AAA").await;
        let store2 = store.clone();
        let err = store2
            .write(|tx| {
                Box::pin(async move {
                    tx.insert_library(&store::LibraryRow {
                        library_id: "AAA".into(),
                        agency_type: "ISIL".into(),
                        agency_value: "other".into(),
                        name_en: String::new(),
                        name_zh: String::new(),
                        kind: "public".into(),
                        region: String::new(),
                        address: String::new(),
                        hub_id: None,
                        closed_days: store::Json(Default::default()),
                        created_at: now(),
                        latitude_e6: None,
                        longitude_e6: None,
                        utc_offset_minutes: 480,
                    })
                    .await
                })
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{e:?}: {err:?}");
    }
}

#[tokio::test]
async fn claimed_messages_are_leased_and_delivered_once() {
    for e in engines() {
        let (store, _dir) = open(e).await;
        seed_library(&store, "AAA").await;
        let t = now();
        store
            .write(move |tx| {
                Box::pin(async move {
                    for i in 0..5 {
                        let rid = format!("r{i}");
                        tx.insert_outbox(
                            &NewOutbox {
                                library_id: "AAA",
                                request_id: &rid,
                                side: "borrow",
                                kind: "request",
                                recipient: "ISIL:XX-B",
                                payload: "<x/>",
                            },
                            t,
                        )
                        .await?;
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .unwrap();
        let lease = t + time::Duration::seconds(60);
        let first = store
            .write(move |tx| Box::pin(async move { tx.claim_outbox(t, lease, 3).await }))
            .await
            .unwrap();
        let second = store
            .write(move |tx| Box::pin(async move { tx.claim_outbox(t, lease, 10).await }))
            .await
            .unwrap();
        assert_eq!(first.len(), 3, "{e:?}");
        assert_eq!(second.len(), 2, "{e:?}: leased rows are not claimed twice");
        let ids: BTreeSet<i64> = first.iter().chain(&second).map(|r| r.outbox_id).collect();
        assert_eq!(ids.len(), 5);
        let id = first[0].outbox_id;
        store
            .write(move |tx| Box::pin(async move { tx.outbox_delivered(id, "<ok/>", t).await }))
            .await
            .unwrap();
        assert_eq!(store.count_pending_outbox().await.unwrap(), 4);
        // After the lease, undelivered messages come back.
        let later = t + time::Duration::seconds(120);
        let again = store
            .write(move |tx| Box::pin(async move { tx.claim_outbox(later, later, 10).await }))
            .await
            .unwrap();
        assert_eq!(again.len(), 4, "{e:?}");
    }
}

#[tokio::test]
async fn the_inbox_remembers_a_confirmation() {
    for e in engines() {
        let (store, _dir) = open(e).await;
        seed_library(&store, "AAA").await;
        let t = now();
        let seen = store
            .write(move |tx| {
                Box::pin(async move {
                    assert!(tx.inbox_seen("AAA", "k1").await?.is_none());
                    tx.inbox_record("AAA", "k1", "<conf/>", t).await?;
                    tx.inbox_seen("AAA", "k1").await
                })
            })
            .await
            .unwrap();
        assert_eq!(seen.as_deref(), Some("<conf/>"), "{e:?}");
    }
}

/// Both migration trees create the same tables with the same columns.
#[tokio::test]
async fn both_engines_have_the_same_tables_and_columns() {
    let (sqlite, _d) = open(Engine::Sqlite).await;
    let lite = sqlite.schema_columns().await.unwrap();
    assert!(
        lite.iter()
            .any(|(t, c)| t == "borrow_request" && c == "rota")
    );
    if engines().contains(&Engine::Postgres) {
        let (pg, _d2) = open(Engine::Postgres).await;
        let pgc = pg.schema_columns().await.unwrap();
        let a: BTreeSet<_> = lite.into_iter().collect();
        let b: BTreeSet<_> = pgc.into_iter().collect();
        assert_eq!(
            a.difference(&b).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "only in SQLite"
        );
        assert_eq!(
            b.difference(&a).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "only in PostgreSQL"
        );
    }
    let versions = |tree: &str| -> BTreeSet<String> {
        let dir = std::path::Path::new(
            &std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
        )
        .join("../store/migrations")
        .join(tree);
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .split('_')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        versions("sqlite"),
        versions("postgres"),
        "migration versions differ"
    );
}
