-- The lending requests' counted values, one row per write, for the SQLite writer to turn into
-- queue count deltas at each commit (see the SQLite migration 0042). PostgreSQL keeps no
-- counts (0019); the table exists so that the two engines' schemas stay alike.
CREATE TABLE lend_count_change (
    library_id      TEXT NOT NULL,
    state           TEXT NOT NULL,
    partner         TEXT NOT NULL,
    format          TEXT NOT NULL,
    assignee        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    due             TEXT NOT NULL,
    needed_by       TEXT NOT NULL,
    renew_pending   TEXT NOT NULL,
    service_level   TEXT NOT NULL,
    supplied_format TEXT NOT NULL,
    printed         TEXT NOT NULL,
    n               BIGINT NOT NULL
);
