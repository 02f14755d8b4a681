-- The kept queue counts' deltas (issue 3). On SQLite the triggers of 0019 now append what
-- changed here, and the writer adds it to queue_count once per commit. PostgreSQL keeps no
-- counts (see 0019); the table exists so that the two engines' schemas stay alike.
CREATE TABLE queue_count_delta (
    library_id TEXT NOT NULL,
    side       TEXT NOT NULL,
    state      TEXT NOT NULL,
    facet      TEXT NOT NULL,
    value      TEXT NOT NULL,
    n          BIGINT NOT NULL
);
