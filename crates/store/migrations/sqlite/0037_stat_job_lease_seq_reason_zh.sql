-- Several `serve` processes may share one PostgreSQL database, and each ran the statistics
-- job: the same pages were read and written by all of them. One process at a time holds the
-- job's lease (until it expires: a process that died cannot hold it for ever); the others
-- skip the round. SQLite has one process per file, which always holds it.
CREATE TABLE job_lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,    -- the store handle (one per process) that holds it
    lease_until TEXT NOT NULL  -- after this, another may take it
);

-- The job read every request with an event less than ten minutes older than its last pass,
-- because a write transaction takes its time stamp before it commits: an event written with
-- an earlier time could become visible after the pass had read. It now keeps a change mark
-- that follows commit order exactly. On SQLite writes are serial, so `event_id` is already in
-- commit order: the mark is the first event id the next pass reads. On PostgreSQL ids are
-- taken before commit, in any order: there each event records its transaction's id
-- (`xact_id`), and the mark is the oldest transaction still running when a pass began. The
-- column stays NULL on SQLite (same tables and columns on both engines).
ALTER TABLE request_event ADD COLUMN xact_id INTEGER;
ALTER TABLE stat_mark ADD COLUMN seq INTEGER;          -- the next pass reads from here on
ALTER TABLE stat_pass ADD COLUMN since_seq INTEGER;    -- what `since` was; NULL: every request
ALTER TABLE stat_pass ADD COLUMN mark_seq INTEGER;     -- becomes stat_mark.seq when done

-- The mark and a full pass under way start where the ten-minute rule put them; a routine pass
-- under way is begun again from the mark.
DELETE FROM stat_pass WHERE since IS NOT NULL;
UPDATE stat_mark SET seq = COALESCE(
    (SELECT MIN(event_id) FROM request_event
      WHERE at >= strftime('%Y-%m-%dT%H:%M:%S', stat_mark.at, '-10 minutes') || '.000000Z'),
    (SELECT COALESCE(MAX(event_id), 0) + 1 FROM request_event));
UPDATE stat_pass SET mark_seq = COALESCE(
    (SELECT MIN(event_id) FROM request_event
      WHERE at >= strftime('%Y-%m-%dT%H:%M:%S', stat_pass.started_at, '-10 minutes') || '.000000Z'),
    (SELECT COALESCE(MAX(event_id), 0) + 1 FROM request_event));

-- A deposit movement's reason was English only (the system's own: a charge, a charge given
-- back). It has a Chinese text too; NULL for what staff typed, shown as typed.
ALTER TABLE deposit_movement ADD COLUMN reason_zh TEXT;
UPDATE deposit_movement SET reason_zh = '退还请求 ' || borrow_request_id || ' 的费用：读者未收到所借资料'
 WHERE kind = 'charge_refund' AND borrow_request_id IS NOT NULL;
UPDATE deposit_movement SET reason_zh = (
    SELECT '请求 ' || deposit_movement.borrow_request_id || ' 的费用：' || c.basis_zh
      FROM reader_charge c WHERE c.borrow_request_id = deposit_movement.borrow_request_id)
 WHERE kind = 'charge' AND borrow_request_id IS NOT NULL;
