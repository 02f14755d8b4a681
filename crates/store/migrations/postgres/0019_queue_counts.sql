-- The staff queues at scale (issue 6): kept facet counts, the lending queue's new facets
-- (service level, supplied format, labels, pick slip printed), and an index for its search.

-- The lending queue's new facets. service_level is what the borrower asked for (ISO 18626
-- serviceLevel read as express or normal); supplied_format is how the item went out (physical,
-- digital, non_returnable), unknown until it ships; slip_printed_at is when a pick slip for the
-- request was last produced.
ALTER TABLE lend_request ADD COLUMN service_level TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE lend_request ADD COLUMN supplied_format TEXT;
ALTER TABLE lend_request ADD COLUMN slip_printed_at TIMESTAMPTZ;

-- Labels staff put on a lending request ("rare", "ask Li"): free words, a few per request.
CREATE TABLE lend_label (
    request_id TEXT NOT NULL REFERENCES lend_request (request_id),
    library_id TEXT NOT NULL,
    label      TEXT NOT NULL,
    added_by   TEXT,
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (request_id, label)
);
CREATE INDEX lend_label_library ON lend_label (library_id, label);

-- The queue index again with the new facets' columns, so that a narrowed queue still groups
-- its facets out of the index alone, never reading rows.
DROP INDEX lend_request_queue;
CREATE INDEX lend_request_queue ON lend_request
    (library_id, state, borrower_agency, format, assignee_id, created_at, updated_at, due_date, needed_by, renew_pending, service_level, supplied_format, slip_printed_at, request_id);

-- Kept counts: how many requests of a library are in each state with each facet value, kept by
-- triggers in the transaction of every insert, update or delete, so that a queue's facet counts
-- read a few hundred rows however much history a library holds (grouping the requests
-- themselves took 60-100 ms at a million). Triggers rather than calls in the store's write
-- functions: a write added later cannot forget them.
--
-- value is '' when the request has none (no assignee, no due date), so that the key is never
-- NULL. Dates are UTC days ('YYYY-MM-DD'): the queue's buckets ("today", "this week"...) are
-- ranges of days, summed when read. Rows whose count falls to 0 stay; readers skip them.
-- Labels are not kept here: a label is counted through lend_label, which holds only labelled
-- requests.
CREATE TABLE queue_count (
    library_id TEXT NOT NULL,
    side       TEXT NOT NULL CHECK (side IN ('lend', 'borrow')),
    state      TEXT NOT NULL,
    facet      TEXT NOT NULL,
    value      TEXT NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (library_id, side, state, facet, value)
);

-- The keys one lend_request row counts under.
CREATE FUNCTION lend_request_count_keys(r lend_request)
RETURNS TABLE (library_id TEXT, state TEXT, facet TEXT, value TEXT)
LANGUAGE sql STABLE AS $$
    SELECT r.library_id, r.state, 'partner'::text, r.borrower_agency
    UNION ALL SELECT r.library_id, r.state, 'format'::text, r.format
    UNION ALL SELECT r.library_id, r.state, 'assignee'::text, COALESCE(r.assignee_id, '')
    UNION ALL SELECT r.library_id, r.state, 'created'::text, to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
    UNION ALL SELECT r.library_id, r.state, 'modified'::text, to_char(r.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
    UNION ALL SELECT r.library_id, r.state, 'due'::text, COALESCE(to_char(r.due_date, 'YYYY-MM-DD'), '')
    UNION ALL SELECT r.library_id, r.state, 'needed_by'::text, COALESCE(to_char(r.needed_by, 'YYYY-MM-DD'), '')
    UNION ALL SELECT r.library_id, r.state, 'renew_pending'::text, CASE WHEN r.renew_pending THEN '1' ELSE '0' END
    UNION ALL SELECT r.library_id, r.state, 'service_level'::text, r.service_level
    UNION ALL SELECT r.library_id, r.state, 'supplied_format'::text, COALESCE(r.supplied_format, '')
    UNION ALL SELECT r.library_id, r.state, 'printed'::text, CASE WHEN r.slip_printed_at IS NULL THEN '0' ELSE '1' END
$$;

INSERT INTO queue_count (library_id, side, state, facet, value, n)
SELECT (k).library_id, 'lend', (k).state, (k).facet, (k).value, COUNT(*)
  FROM (SELECT lend_request_count_keys(r) AS k FROM lend_request r) s
 GROUP BY 1, 3, 4, 5;

CREATE FUNCTION lend_request_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One statement, its keys netted and in key order: an unchanged key is not written, and two
    -- transactions lock the counts they share in the same order.
    INSERT INTO queue_count (library_id, side, state, facet, value, n)
    SELECT k.library_id, 'lend', k.state, k.facet, k.value, SUM(k.d)
      FROM (SELECT o.*, -1 AS d FROM lend_request_count_keys(OLD) o WHERE TG_OP <> 'INSERT'
            UNION ALL
            SELECT w.*, 1 AS d FROM lend_request_count_keys(NEW) w WHERE TG_OP <> 'DELETE') k
     GROUP BY k.library_id, k.state, k.facet, k.value
    HAVING SUM(k.d) <> 0
     ORDER BY k.library_id, k.state, k.facet, k.value
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = queue_count.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
CREATE TRIGGER lend_request_count AFTER INSERT OR UPDATE OR DELETE ON lend_request
    FOR EACH ROW EXECUTE FUNCTION lend_request_count();

-- The keys one borrow_request row counts under.
CREATE FUNCTION borrow_request_count_keys(r borrow_request)
RETURNS TABLE (library_id TEXT, state TEXT, facet TEXT, value TEXT)
LANGUAGE sql STABLE AS $$
    SELECT r.library_id, r.state, 'format'::text, r.format
    UNION ALL SELECT r.library_id, r.state, 'assignee'::text, COALESCE(r.assignee_id, '')
$$;

INSERT INTO queue_count (library_id, side, state, facet, value, n)
SELECT (k).library_id, 'borrow', (k).state, (k).facet, (k).value, COUNT(*)
  FROM (SELECT borrow_request_count_keys(r) AS k FROM borrow_request r) s
 GROUP BY 1, 3, 4, 5;

CREATE FUNCTION borrow_request_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One statement, its keys netted and in key order: an unchanged key is not written, and two
    -- transactions lock the counts they share in the same order.
    INSERT INTO queue_count (library_id, side, state, facet, value, n)
    SELECT k.library_id, 'borrow', k.state, k.facet, k.value, SUM(k.d)
      FROM (SELECT o.*, -1 AS d FROM borrow_request_count_keys(OLD) o WHERE TG_OP <> 'INSERT'
            UNION ALL
            SELECT w.*, 1 AS d FROM borrow_request_count_keys(NEW) w WHERE TG_OP <> 'DELETE') k
     GROUP BY k.library_id, k.state, k.facet, k.value
    HAVING SUM(k.d) <> 0
     ORDER BY k.library_id, k.state, k.facet, k.value
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = queue_count.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
CREATE TRIGGER borrow_request_count AFTER INSERT OR UPDATE OR DELETE ON borrow_request
    FOR EACH ROW EXECUTE FUNCTION borrow_request_count();

-- The queue's search compares lowered titles, barcodes and ids within the states asked for. No
-- index for it here: a B-tree entry is limited to a third of a page, which a long title could
-- pass, and PostgreSQL reads the few thousand rows of a working queue quickly enough.
