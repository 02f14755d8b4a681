-- Statistics blocks: the request summaries (`request_fact`) of one library and one month
-- (UTC, by creation time) packed column by column into BLOBs, so that a report over a year
-- of a large node loops over a few hundred arrays instead of stepping SQLite through a
-- million rows. Derived data, always exact: whenever a summary is written, deleted or its
-- month changes, the triggers below drop that month's block and mark it stale in the same
-- transaction; a report reads the rows of stale months as before, and the statistics job
-- builds blocks again once a month has had no change for a while. PostgreSQL groups in SQL
-- instead: there the tables stay empty (same tables on both engines).
CREATE TABLE stat_block (
    library_id  TEXT NOT NULL,
    bucket      TEXT NOT NULL,      -- YYYY-MM of created_at in UTC (its first seven characters)
    n           INTEGER NOT NULL,   -- summaries in the block
    -- Each column below: one byte giving the width (1, 2, 4 or 8), then `n` little-endian
    -- signed integers of that width, in the same order in every column; the smallest value
    -- of the width stands for NULL. The columns a report always reads come first.
    created     BLOB NOT NULL,      -- microseconds since 1970 (UTC)
    outcome     BLOB NOT NULL,
    reason      BLOB NOT NULL,      -- unfilled_reason_value
    stage1      BLOB NOT NULL,
    stage2      BLOB NOT NULL,
    stage3      BLOB NOT NULL,
    stage4      BLOB NOT NULL,
    stage5      BLOB NOT NULL,
    month       BLOB NOT NULL,      -- the library's own YYYYMM
    library     BLOB NOT NULL,      -- the *_value columns of request_fact
    patron_type BLOB NOT NULL,
    department  BLOB NOT NULL,
    reader      BLOB NOT NULL,
    source      BLOB NOT NULL,
    journal     BLOB NOT NULL,
    partner     BLOB NOT NULL,
    format      BLOB NOT NULL,
    PRIMARY KEY (library_id, bucket)
);

CREATE TABLE stat_block_stale (
    library_id TEXT NOT NULL,
    bucket     TEXT NOT NULL,
    marked_at  INTEGER NOT NULL,    -- seconds since 1970 of its last change
    PRIMARY KEY (library_id, bucket)
) WITHOUT ROWID;

INSERT INTO stat_block_stale (library_id, bucket, marked_at)
SELECT DISTINCT library_id, substr(created_at, 1, 7), 0 FROM request_fact;

-- A stale month's mark is the time of its last change, so that the job packs only months that
-- have been quiet for a while. Update, then insert where missing: the summaries are written by
-- an upsert, whose conflict clause would override a trigger's INSERT OR IGNORE.
CREATE TRIGGER request_fact_insert_block AFTER INSERT ON request_fact BEGIN
    UPDATE stat_block_stale SET marked_at = CAST(strftime('%s', 'now') AS INTEGER)
     WHERE library_id = NEW.library_id AND bucket = substr(NEW.created_at, 1, 7);
    INSERT INTO stat_block_stale (library_id, bucket, marked_at)
    SELECT NEW.library_id, substr(NEW.created_at, 1, 7), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NOT EXISTS (SELECT 1 FROM stat_block_stale
                        WHERE library_id = NEW.library_id AND bucket = substr(NEW.created_at, 1, 7));
    DELETE FROM stat_block WHERE library_id = NEW.library_id AND bucket = substr(NEW.created_at, 1, 7);
END;

CREATE TRIGGER request_fact_update_block AFTER UPDATE ON request_fact BEGIN
    UPDATE stat_block_stale SET marked_at = CAST(strftime('%s', 'now') AS INTEGER)
     WHERE library_id = OLD.library_id AND bucket = substr(OLD.created_at, 1, 7);
    INSERT INTO stat_block_stale (library_id, bucket, marked_at)
    SELECT OLD.library_id, substr(OLD.created_at, 1, 7), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NOT EXISTS (SELECT 1 FROM stat_block_stale
                        WHERE library_id = OLD.library_id AND bucket = substr(OLD.created_at, 1, 7));
    DELETE FROM stat_block WHERE library_id = OLD.library_id AND bucket = substr(OLD.created_at, 1, 7);
    UPDATE stat_block_stale SET marked_at = CAST(strftime('%s', 'now') AS INTEGER)
     WHERE library_id = NEW.library_id AND bucket = substr(NEW.created_at, 1, 7);
    INSERT INTO stat_block_stale (library_id, bucket, marked_at)
    SELECT NEW.library_id, substr(NEW.created_at, 1, 7), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NOT EXISTS (SELECT 1 FROM stat_block_stale
                        WHERE library_id = NEW.library_id AND bucket = substr(NEW.created_at, 1, 7));
    DELETE FROM stat_block WHERE library_id = NEW.library_id AND bucket = substr(NEW.created_at, 1, 7);
END;

CREATE TRIGGER request_fact_delete_block AFTER DELETE ON request_fact BEGIN
    UPDATE stat_block_stale SET marked_at = CAST(strftime('%s', 'now') AS INTEGER)
     WHERE library_id = OLD.library_id AND bucket = substr(OLD.created_at, 1, 7);
    INSERT INTO stat_block_stale (library_id, bucket, marked_at)
    SELECT OLD.library_id, substr(OLD.created_at, 1, 7), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NOT EXISTS (SELECT 1 FROM stat_block_stale
                        WHERE library_id = OLD.library_id AND bucket = substr(OLD.created_at, 1, 7));
    DELETE FROM stat_block WHERE library_id = OLD.library_id AND bucket = substr(OLD.created_at, 1, 7);
END;
