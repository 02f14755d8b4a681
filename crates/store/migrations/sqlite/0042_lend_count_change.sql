-- A lending request's write notes its counted values in one row, not eleven (issue 3).
--
-- Since 0025 (and 0038) the lending request triggers appended one queue_count_delta row per
-- facet for the old values and one per facet for the new: 22 rows for each state change, and
-- four reads of library for the local day of the created and modified times, in the WHEN
-- clause and again in the body. On the SQLite writer that made a lending request update cost
-- about 55 us against 21 us for a borrowing request's (`bench lifecycle`, SQL profile).
--
-- Now each write appends one row for the old values (n = -1) and one for the new (n = +1),
-- every counted value in a column of its own, and the raw created and updated times. The
-- writer turns these rows into the eleven facets' deltas once per commit, grouped, before it
-- adds them to queue_count (`FLUSH_LEND_CHANGES`): the library's offset is read there, once
-- per row, not four times per write. An update whose counted values are unchanged cancels out
-- in that grouping; the WHEN clause only skips the writes that cannot change a count.
--
-- Measured in `bench lifecycle` (SQL profile, same sitting): a lending request update 38.1 us
-- against 51.6 us; the commit, which now does the grouping, 4.7 ms against 4.0 ms, for about
-- 160 closures each.
--
-- queue_count, what it holds and how it is read are unchanged. The borrowing request
-- triggers (two facets) still append to queue_count_delta.
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
    n               INTEGER NOT NULL
);

DROP TRIGGER lend_request_count_insert;
DROP TRIGGER lend_request_count_delete;
DROP TRIGGER lend_request_count_update;

CREATE TRIGGER lend_request_count_insert AFTER INSERT ON lend_request BEGIN
    INSERT INTO lend_count_change (library_id, state, partner, format, assignee, created_at,
        updated_at, due, needed_by, renew_pending, service_level, supplied_format, printed, n)
    VALUES (NEW.library_id, NEW.state, NEW.borrower_agency, NEW.format,
        COALESCE(NEW.assignee_id, ''), NEW.created_at, NEW.updated_at, COALESCE(NEW.due_date, ''),
        COALESCE(NEW.needed_by, ''), CASE WHEN NEW.renew_pending THEN '1' ELSE '0' END,
        NEW.service_level, COALESCE(NEW.supplied_format, ''),
        CASE WHEN NEW.slip_printed_at IS NULL THEN '0' ELSE '1' END, 1);
END;

CREATE TRIGGER lend_request_count_delete AFTER DELETE ON lend_request BEGIN
    INSERT INTO lend_count_change (library_id, state, partner, format, assignee, created_at,
        updated_at, due, needed_by, renew_pending, service_level, supplied_format, printed, n)
    VALUES (OLD.library_id, OLD.state, OLD.borrower_agency, OLD.format,
        COALESCE(OLD.assignee_id, ''), OLD.created_at, OLD.updated_at, COALESCE(OLD.due_date, ''),
        COALESCE(OLD.needed_by, ''), CASE WHEN OLD.renew_pending THEN '1' ELSE '0' END,
        OLD.service_level, COALESCE(OLD.supplied_format, ''),
        CASE WHEN OLD.slip_printed_at IS NULL THEN '0' ELSE '1' END, -1);
END;

-- A changed created or updated time may move a local day: noted, and the grouping at the
-- commit decides (a time moved within its day cancels out there).
CREATE TRIGGER lend_request_count_update AFTER UPDATE ON lend_request
WHEN OLD.library_id IS NOT NEW.library_id
    OR OLD.state IS NOT NEW.state
    OR OLD.borrower_agency IS NOT NEW.borrower_agency
    OR OLD.format IS NOT NEW.format
    OR OLD.assignee_id IS NOT NEW.assignee_id
    OR OLD.created_at IS NOT NEW.created_at
    OR OLD.updated_at IS NOT NEW.updated_at
    OR OLD.due_date IS NOT NEW.due_date
    OR OLD.needed_by IS NOT NEW.needed_by
    OR OLD.renew_pending IS NOT NEW.renew_pending
    OR OLD.service_level IS NOT NEW.service_level
    OR OLD.supplied_format IS NOT NEW.supplied_format
    OR (OLD.slip_printed_at IS NULL) IS NOT (NEW.slip_printed_at IS NULL)
BEGIN
    INSERT INTO lend_count_change (library_id, state, partner, format, assignee, created_at,
        updated_at, due, needed_by, renew_pending, service_level, supplied_format, printed, n)
    VALUES (OLD.library_id, OLD.state, OLD.borrower_agency, OLD.format,
        COALESCE(OLD.assignee_id, ''), OLD.created_at, OLD.updated_at, COALESCE(OLD.due_date, ''),
        COALESCE(OLD.needed_by, ''), CASE WHEN OLD.renew_pending THEN '1' ELSE '0' END,
        OLD.service_level, COALESCE(OLD.supplied_format, ''),
        CASE WHEN OLD.slip_printed_at IS NULL THEN '0' ELSE '1' END, -1),
           (NEW.library_id, NEW.state, NEW.borrower_agency, NEW.format,
        COALESCE(NEW.assignee_id, ''), NEW.created_at, NEW.updated_at, COALESCE(NEW.due_date, ''),
        COALESCE(NEW.needed_by, ''), CASE WHEN NEW.renew_pending THEN '1' ELSE '0' END,
        NEW.service_level, COALESCE(NEW.supplied_format, ''),
        CASE WHEN NEW.slip_printed_at IS NULL THEN '0' ELSE '1' END, 1);
END;
