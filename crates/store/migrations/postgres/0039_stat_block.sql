-- Statistics blocks (SQLite only; see the SQLite migration of the same number): a library's
-- request summaries of one month packed column by column, read by reports instead of a
-- million rows. PostgreSQL groups the summaries in SQL instead, so here the tables stay
-- empty: they exist so that both engines have the same tables and columns.
CREATE TABLE stat_block (
    library_id  TEXT NOT NULL,
    bucket      TEXT NOT NULL,      -- YYYY-MM of created_at in UTC (its first seven characters)
    n           BIGINT NOT NULL,   -- summaries in the block
    -- Each column below: one byte giving the width (1, 2, 4 or 8), then `n` little-endian
    -- signed integers of that width, in the same order in every column; the smallest value
    -- of the width stands for NULL. The columns a report always reads come first.
    created     BYTEA NOT NULL,      -- microseconds since 1970 (UTC)
    outcome     BYTEA NOT NULL,
    reason      BYTEA NOT NULL,      -- unfilled_reason_value
    stage1      BYTEA NOT NULL,
    stage2      BYTEA NOT NULL,
    stage3      BYTEA NOT NULL,
    stage4      BYTEA NOT NULL,
    stage5      BYTEA NOT NULL,
    month       BYTEA NOT NULL,      -- the library's own YYYYMM
    library     BYTEA NOT NULL,      -- the *_value columns of request_fact
    patron_type BYTEA NOT NULL,
    department  BYTEA NOT NULL,
    reader      BYTEA NOT NULL,
    source      BYTEA NOT NULL,
    journal     BYTEA NOT NULL,
    partner     BYTEA NOT NULL,
    format      BYTEA NOT NULL,
    PRIMARY KEY (library_id, bucket)
);

CREATE TABLE stat_block_stale (
    library_id TEXT NOT NULL,
    bucket     TEXT NOT NULL,
    marked_at  BIGINT NOT NULL,    -- seconds since 1970 of its last change
    PRIMARY KEY (library_id, bucket)
);

