-- Several `serve` processes may share one PostgreSQL database, and each ran the statistics
-- job: the same pages were read and written by all of them. One process at a time holds the
-- job's lease (until it expires: a process that died cannot hold it for ever); the others
-- skip the round. SQLite has one process per file, which always holds it.
CREATE TABLE job_lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,      -- the store handle (one per process) that holds it
    lease_until TIMESTAMPTZ NOT NULL  -- after this, another may take it
);

-- The job read every request with an event less than ten minutes older than its last pass,
-- because a write transaction takes its time stamp before it commits: an event written with
-- an earlier time could become visible after the pass had read. It now keeps a change mark
-- that follows commit order exactly. Event ids are taken before commit, in any order, so each
-- event records its transaction's id (64 bits, never wraps), and the mark is the oldest
-- transaction still running when a pass began (`pg_snapshot_xmin`): every event of an older
-- transaction was visible to the pass. On SQLite writes are serial and `event_id` serves.
-- The default is set after the column is added, so existing rows are not rewritten (NULL:
-- written before this migration).
ALTER TABLE request_event ADD COLUMN xact_id BIGINT;
ALTER TABLE request_event ALTER COLUMN xact_id SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX request_event_borrow_xact ON request_event (side, xact_id);
ALTER TABLE stat_mark ADD COLUMN seq BIGINT;          -- the next pass reads from here on
ALTER TABLE stat_pass ADD COLUMN since_seq BIGINT;    -- what `since` was; NULL: every request
ALTER TABLE stat_pass ADD COLUMN mark_seq BIGINT;     -- becomes stat_mark.seq when done

-- The mark and a full pass under way start where the ten-minute rule put them: the events
-- from then on get transaction id 0 and the marks 0. A routine pass under way is begun again.
DELETE FROM stat_pass WHERE since IS NOT NULL;
UPDATE request_event SET xact_id = 0
 WHERE side = 'borrow'
   AND at >= (SELECT MIN(t) - INTERVAL '10 minutes' FROM (
        SELECT at AS t FROM stat_mark UNION ALL SELECT started_at FROM stat_pass) m);
UPDATE stat_mark SET seq = 0;
UPDATE stat_pass SET mark_seq = 0;

-- A deposit movement's reason was English only (the system's own: a charge, a charge given
-- back). It has a Chinese text too; NULL for what staff typed, shown as typed.
ALTER TABLE deposit_movement ADD COLUMN reason_zh TEXT;
UPDATE deposit_movement SET reason_zh = '退还请求 ' || borrow_request_id || ' 的费用：读者未收到所借资料'
 WHERE kind = 'charge_refund' AND borrow_request_id IS NOT NULL;
UPDATE deposit_movement m SET reason_zh = '请求 ' || m.borrow_request_id || ' 的费用：' || c.basis_zh
  FROM reader_charge c
 WHERE c.borrow_request_id = m.borrow_request_id AND m.kind = 'charge';
