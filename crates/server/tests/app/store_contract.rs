//! The store contract: the same behaviour on SQLite and PostgreSQL, checked on both.

use std::collections::BTreeSet;

use store::{NewEvent, NewOutbox, Store, StoreConfig, StoreError};
use time::macros::{datetime, offset};
use time::{Duration, OffsetDateTime};

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

/// The ids of the requests whose messages `claim_outbox` hands out at `at`.
async fn claimed_at(store: &Store, at: OffsetDateTime) -> Vec<String> {
    let lease = at + Duration::hours(1);
    let rows = store
        .write(move |tx| Box::pin(async move { tx.claim_outbox(at, lease, 10).await }))
        .await
        .unwrap();
    let mut ids: Vec<String> = rows.into_iter().map(|r| r.request_id).collect();
    ids.sort();
    ids
}

/// Times within one second, with a fraction and without, and times given with other offsets
/// compare and order as the times they are, on both engines: in the writer's statements
/// (claiming messages that are due, using a reset link), in reads through the pool (whether
/// a reset link is valid) and in MIN (the next message due). On SQLite, whose times are
/// text, `…T00:00:00Z` once sorted after `…T00:00:00.25Z`.
#[tokio::test]
async fn times_within_a_second_and_across_offsets_compare_as_times() {
    for e in engines() {
        let (store, _dir) = open(e).await;
        seed_library(&store, "AAA").await;
        // A whole second, and times around it.
        let t = datetime!(2030-01-01 00:00:00 UTC);
        let quarter = t + Duration::milliseconds(250);
        let half = t + Duration::milliseconds(500);
        let due = [
            ("r1", quarter),
            ("r2", t),
            ("r3", half.to_offset(offset!(+08:00))),
            ("r4", (t + Duration::seconds(2)).to_offset(offset!(-05:00))),
        ];
        let long_ago = t - Duration::hours(1);
        store
            .write(move |tx| {
                Box::pin(async move {
                    for (rid, at) in due {
                        let m = NewOutbox {
                            library_id: "AAA",
                            request_id: rid,
                            side: "borrow",
                            kind: "request",
                            recipient: "ISIL:XX-B",
                            payload: "<x/>",
                        };
                        tx.insert_outbox_at(&m, long_ago, at).await?;
                    }
                    tx.insert_user(
                        &store::NewUser {
                            user_id: "u1".to_owned(),
                            library_id: "AAA".to_owned(),
                            username: "u1".to_owned(),
                            display_name: "U".to_owned(),
                            email: None,
                            password_hash: "x".to_owned(),
                            kind: "staff".to_owned(),
                            patron_type: None,
                            department: None,
                            roles: String::new(),
                            status: "active".to_owned(),
                            locale: "en".to_owned(),
                        },
                        long_ago,
                    )
                    .await?;
                    tx.insert_password_reset("expires-at-half", "u1", long_ago, half)
                        .await?;
                    tx.insert_password_reset("expires-at-t", "u1", long_ago, t)
                        .await?;
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .unwrap();

        assert_eq!(
            store.next_outbox_due().await.unwrap(),
            Some(t),
            "{e:?}: the earliest due time"
        );
        assert_eq!(claimed_at(&store, t).await, ["r2"], "{e:?}: due at t");
        assert_eq!(
            claimed_at(&store, half).await,
            ["r1", "r3"],
            "{e:?}: due by half a second"
        );
        let just_before = t + Duration::seconds(2) - Duration::microseconds(1);
        assert!(claimed_at(&store, just_before).await.is_empty(), "{e:?}");
        assert_eq!(claimed_at(&store, t + Duration::seconds(2)).await, ["r4"]);

        // Through the read pool: a link expiring half a second after t is still valid at t;
        // one expiring at t is no longer valid a quarter of a second later.
        assert!(
            store
                .password_reset_valid("expires-at-half", t)
                .await
                .unwrap(),
            "{e:?}"
        );
        assert!(
            !store
                .password_reset_valid("expires-at-t", quarter)
                .await
                .unwrap(),
            "{e:?}"
        );
        // In the writer: the same, when the link is used.
        let used = store
            .write(move |tx| {
                Box::pin(async move {
                    let late = tx.use_password_reset("expires-at-t", quarter).await?;
                    let in_time = tx.use_password_reset("expires-at-half", t).await?;
                    Ok::<_, StoreError>((late, in_time))
                })
            })
            .await
            .unwrap();
        assert_eq!(used, (None, Some("u1".to_owned())), "{e:?}");
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

/// The fixed form every time is stored in on SQLite, as a GLOB pattern.
const FIXED_TIME: &str = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z";

/// Every (table, column) of a SQLite store's own tables (not the search index's).
async fn lite_columns(c: &mut sqlx::SqliteConnection) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'
           AND m.name NOT LIKE 'lend_title_fts%' AND m.sql NOT LIKE 'CREATE VIRTUAL%'
         ORDER BY 1, 2",
    )
    .fetch_all(c)
    .await
    .unwrap()
}

/// The values in the fixed time form of every column that holds any, sorted.
async fn fixed_times(
    c: &mut sqlx::SqliteConnection,
) -> std::collections::BTreeMap<(String, String), Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    for (table, column) in lite_columns(&mut *c).await {
        let sql = format!(
            "SELECT \"{column}\" FROM \"{table}\" WHERE \"{column}\" GLOB '{FIXED_TIME}' ORDER BY 1"
        );
        let values: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *c)
            .await
            .unwrap();
        if !values.is_empty() {
            out.insert((table, column), values);
        }
    }
    out
}

/// What the SQLite writer does at each commit: add the queue counts' deltas to the counts.
async fn flush_queue_counts(c: &mut sqlx::SqliteConnection) {
    for sql in store::FLUSH_QUEUE_COUNTS {
        sqlx::raw_sql(sql).execute(&mut *c).await.unwrap();
    }
}

/// Migration 0033 rewrites the times stored before it (RFC 3339 with a fraction only when it
/// is not zero, of any length, with `Z` or any offset, or SQLite's own `YYYY-MM-DD HH:MM:SS`)
/// into the one fixed-width UTC form, as the same instants. NULLs, dates and other text stay
/// as they were, and the queue counts follow a request whose UTC day moved.
#[tokio::test]
async fn migration_0033_rewrites_older_times_into_the_fixed_form() {
    use sqlx::Connection;

    let (store, dir) = open(Engine::Sqlite).await;
    seed_library(&store, "AAA").await;
    let t = datetime!(2026-11-30 08:00:00.25 UTC);
    let rows = (0..2)
        .map(|i| store::SeedLend {
            request_id: format!("lend-{i}"),
            borrower_agency: "ISIL:XX-B".to_owned(),
            borrower_id: None,
            format: "loan".to_owned(),
            state: "request_received".to_owned(),
            citation: domain::citation::Citation {
                title: Some(format!("Book {i}")),
                ..Default::default()
            },
            barcode: None,
            due_date: Some(time::macros::date!(2026 - 12 - 05)),
            assignee_id: None,
            created_at: t - Duration::days(i),
            updated_at: t + Duration::microseconds(i),
        })
        .collect();
    store.seed_lend_requests("AAA", rows).await.unwrap();
    store
        .write(move |tx| {
            Box::pin(async move {
                let m = NewOutbox {
                    library_id: "AAA",
                    request_id: "out-1",
                    side: "borrow",
                    kind: "request",
                    recipient: "ISIL:XX-B",
                    payload: "<x/>",
                };
                let id = tx.insert_outbox(&m, t).await?;
                tx.outbox_delivered(id, "<ok/>", t + Duration::seconds(1))
                    .await?;
                tx.insert_outbox(&m, t - Duration::hours(3)).await?;
                tx.insert_event(&event("out-1", "sent"), t).await?;
                tx.inbox_record("AAA", "k1", "<conf/>", t - Duration::minutes(1))
                    .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
    drop(store);

    let url = StoreConfig::sqlite_in(dir.path()).url;
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let before = fixed_times(&mut c).await;
    assert!(before.contains_key(&("lend_request".to_owned(), "updated_at".to_owned())));
    assert!(before.contains_key(&("outbox".to_owned(), "delivered_at".to_owned())));

    // Back to the forms written before 0033, in every column holding a time: `Z` when there
    // is no fraction, else the fraction's digits only, at +08:00 (which moves some onto the
    // next day there).
    for (table, column) in before.keys() {
        let sql = format!(
            "UPDATE \"{table}\" SET \"{column}\" = CASE
                 WHEN substr(\"{column}\", 21, 6) = '000000' THEN substr(\"{column}\", 1, 19) || 'Z'
                 ELSE strftime('%Y-%m-%dT%H:%M:%S', substr(\"{column}\", 1, 19), '+8 hours')
                      || rtrim(substr(\"{column}\", 20, 7), '0') || '+08:00'
             END
             WHERE \"{column}\" GLOB '{FIXED_TIME}'"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap();
    }
    let old: (String,) =
        sqlx::query_as("SELECT updated_at FROM lend_request WHERE request_id = 'lend-0'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(old.0, "2026-11-30T16:00:00.25+08:00");
    // A request last changed at 01:30 on 1 December at +08:00: its day was the 1st, is the
    // 30th of November in UTC.
    sqlx::raw_sql(
        "UPDATE lend_request SET updated_at = '2026-12-01T01:30:00+08:00' WHERE request_id = 'lend-1'",
    )
    .execute(&mut c)
    .await
    .unwrap();
    // Each older shape, and what it becomes.
    let shapes = [
        ("2026-11-30T08:00:00Z", "2026-11-30T08:00:00.000000Z"),
        ("2026-11-30T08:00:00.25Z", "2026-11-30T08:00:00.250000Z"),
        (
            "2026-11-30T08:00:00.1234567Z",
            "2026-11-30T08:00:00.123456Z",
        ),
        (
            "2026-11-30T08:00:00.123456789Z",
            "2026-11-30T08:00:00.123456Z",
        ),
        (
            "2026-11-30T08:00:00.999999999+00:00",
            "2026-11-30T08:00:00.999999Z",
        ),
        ("2026-12-01T07:30:00.5+08:00", "2026-11-30T23:30:00.500000Z"),
        (
            "2026-11-30T19:00:00.75-05:00",
            "2026-12-01T00:00:00.750000Z",
        ),
        ("2026-11-30 08:00:00", "2026-11-30T08:00:00.000000Z"),
        ("2026-11-30 08:00:00.5", "2026-11-30T08:00:00.500000Z"),
        ("2026-11-30T08:00:00.000000Z", "2026-11-30T08:00:00.000000Z"),
    ];
    for (i, (old, _)) in shapes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO outbox (library_id, request_id, side, kind, recipient, payload, status,
                                 next_attempt_at, created_at, delivered_at)
             VALUES ('AAA', $1, 'borrow', 'request', 'ISIL:XX-B', '<x/>', 'pending', $2, $2, NULL)",
        )
        .bind(format!("shape-{i}"))
        .bind(*old)
        .execute(&mut c)
        .await
        .unwrap();
    }
    flush_queue_counts(&mut c).await;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 33")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();

    // Opening the store runs the migration again.
    let store = Store::open(&StoreConfig::sqlite_in(dir.path()))
        .await
        .unwrap();
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for (i, (old, new)) in shapes.iter().enumerate() {
        let (next, created, delivered): (String, String, Option<String>) = sqlx::query_as(
            "SELECT next_attempt_at, created_at, delivered_at FROM outbox WHERE request_id = $1",
        )
        .bind(format!("shape-{i}"))
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!((next.as_str(), created.as_str()), (*new, *new), "{old}");
        assert_eq!(delivered, None, "a NULL stays NULL");
        let read = |s: &str| {
            let s = if s.len() == 19 || s.as_bytes().get(10) == Some(&b' ') {
                format!("{}Z", s.replacen(' ', "T", 1))
            } else {
                s.to_owned()
            };
            OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).unwrap()
        };
        let instant = read(old);
        let cut = instant
            .replace_nanosecond(instant.microsecond() * 1000)
            .unwrap();
        assert_eq!(
            read(new),
            cut,
            "{old}: the same instant, to the microsecond"
        );
    }
    sqlx::query("DELETE FROM outbox WHERE request_id LIKE 'shape-%'")
        .execute(&mut c)
        .await
        .unwrap();
    // lend-1 was changed at 01:30 +08:00 above, the rest is as the store wrote it.
    let mut after = fixed_times(&mut c).await;
    let lend_1 = after
        .get_mut(&("lend_request".to_owned(), "updated_at".to_owned()))
        .unwrap();
    assert!(
        lend_1.contains(&"2026-11-30T17:30:00.000000Z".to_owned()),
        "{lend_1:?}"
    );
    lend_1.retain(|v| v != "2026-11-30T17:30:00.000000Z");
    let mut expected = before.clone();
    expected
        .get_mut(&("lend_request".to_owned(), "updated_at".to_owned()))
        .unwrap()
        .retain(|v| v != "2026-11-30T08:00:00.250001Z");
    assert_eq!(after, expected, "every time as the store wrote it");
    let dates: Vec<(Option<String>,)> = sqlx::query_as("SELECT due_date FROM lend_request")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert!(
        dates.iter().all(|d| d.0.as_deref() == Some("2026-12-05")),
        "{dates:?}"
    );

    // The kept counts agree with the requests' days in their library's time (0038; AAA is at
    // +08:00).
    let counted: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT facet, value, n FROM queue_count
         WHERE side = 'lend' AND facet IN ('created', 'modified') AND n <> 0 ORDER BY 1, 2",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let recounted: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT 'created', date(created_at, '+480 minutes'), COUNT(*) FROM lend_request GROUP BY 2
         UNION ALL
         SELECT 'modified', date(updated_at, '+480 minutes'), COUNT(*) FROM lend_request GROUP BY 2
         ORDER BY 1, 2",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(counted, recounted);
    // lend-1, changed at 01:30 on 1 December at +08:00, on the 1st; lend-0 (16:00) on the 30th.
    assert!(recounted.contains(&("modified".to_owned(), "2026-12-01".to_owned(), 1)));
    assert!(recounted.contains(&("modified".to_owned(), "2026-11-30".to_owned(), 1)));

    // And the store reads what the migration wrote.
    assert_eq!(
        store.next_outbox_due().await.unwrap(),
        Some(t - Duration::hours(3))
    );
}

/// Writers changing requests at once while the queue counts' notes are folded in (on
/// PostgreSQL several transactions commit together, and the folds run between and during
/// them) leave kept counts equal to a recount: a fold adds exactly the notes it deletes, a
/// note committed meanwhile waits for the next fold, and readers see the same counts before
/// and after a fold.
#[tokio::test]
async fn kept_counts_stay_exact_while_writers_and_folds_run_together() {
    const REQUESTS: usize = 240;
    const WRITERS: usize = 6;
    for engine in engines() {
        let (store, _dir) = open(engine).await;
        seed_library(&store, "AAA").await;
        let t = now();
        let rows = (0..REQUESTS)
            .map(|i| store::SeedLend {
                request_id: format!("lend-{i}"),
                borrower_agency: format!("ISIL:XX-B{}", i % 3),
                borrower_id: None,
                format: if i % 2 == 0 { "loan" } else { "copy" }.to_owned(),
                state: "request_received".to_owned(),
                citation: domain::citation::Citation {
                    title: Some(format!("Book {i}")),
                    ..Default::default()
                },
                barcode: None,
                due_date: None,
                assignee_id: None,
                created_at: t - Duration::days((i % 40) as i64),
                updated_at: t - Duration::hours((i % 50) as i64),
            })
            .collect();
        store.seed_lend_requests("AAA", rows).await.unwrap();
        let recount = || async { store.queue_recount("AAA").await.unwrap() };
        assert_eq!(store.queue_counts("AAA").await.unwrap(), recount().await);

        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let folder = {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let mut folds = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    store.fold_queue_counts().await.unwrap();
                    folds += 1;
                    tokio::task::yield_now().await;
                }
                folds
            })
        };
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let store = store.clone();
            writers.spawn(async move {
                // Each request moves twice: a new state and due date, then a new state, an
                // assignee-free printed slip and a time on another day.
                for round in 0..2 {
                    for i in (w..REQUESTS).step_by(WRITERS) {
                        store
                            .write(move |tx| {
                                Box::pin(async move {
                                    let id = format!("lend-{i}");
                                    let mut r = tx.lend_request_for_update(&id).await?;
                                    let when = if round == 0 {
                                        r.state = "will_supply".to_owned();
                                        r.due_date =
                                            Some(t.date() + Duration::days((i % 9) as i64));
                                        t
                                    } else {
                                        r.state = if i % 3 == 0 { "shipped" } else { "unfilled" }
                                            .to_owned();
                                        r.slip_printed_at = Some(t);
                                        t + Duration::days(1)
                                    };
                                    tx.update_lend_request(&r, when).await
                                })
                            })
                            .await
                            .unwrap();
                    }
                }
            });
        }
        while let Some(w) = writers.join_next().await {
            w.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let folds = folder.await.unwrap();
        assert!(folds > 0);

        let kept = store.queue_counts("AAA").await.unwrap();
        assert_eq!(kept, recount().await, "{engine:?}, before the last fold");
        store.fold_queue_counts().await.unwrap();
        assert_eq!(
            store.queue_counts("AAA").await.unwrap(),
            kept,
            "{engine:?}, after the last fold"
        );
        // Nothing is left to fold, and giving back the notes' pages changes no count.
        assert_eq!(store.fold_queue_counts().await.unwrap(), 0, "{engine:?}");
        store.vacuum_queue_notes().await.unwrap();
        assert_eq!(store.queue_counts("AAA").await.unwrap(), kept, "{engine:?}");
        // A new request's notes: PostgreSQL folds them (one row for the insert), SQLite's
        // writer added them at its commit.
        let one = store::SeedLend {
            request_id: "lend-new".to_owned(),
            borrower_agency: "ISIL:XX-B0".to_owned(),
            borrower_id: None,
            format: "loan".to_owned(),
            state: "request_received".to_owned(),
            citation: domain::citation::Citation::default(),
            barcode: None,
            due_date: None,
            assignee_id: None,
            created_at: t,
            updated_at: t,
        };
        store.seed_lend_requests("AAA", vec![one]).await.unwrap();
        let folded = store.fold_queue_counts().await.unwrap();
        let expected = if engine == Engine::Postgres { 1 } else { 0 };
        assert_eq!(folded, expected, "{engine:?}");
        assert_eq!(
            store.queue_counts("AAA").await.unwrap(),
            recount().await,
            "{engine:?}"
        );
        let states: Vec<(String, i64)> = store.lend_state_counts("AAA").await.unwrap();
        assert_eq!(
            states,
            vec![
                ("request_received".to_owned(), 1),
                ("shipped".to_owned(), 80),
                ("unfilled".to_owned(), 160)
            ],
            "{engine:?}"
        );
    }
}
