-- The staff queues' counts are kept on PostgreSQL too (issue 6).
--
-- Until now PostgreSQL grouped a queue's facets out of the requests on every page: at a
-- million lending requests the whole history took 0.8-2 s a page (`librelay bench queue`).
-- SQLite keeps them in queue_count (0019, 0025, 0042), but there one writer adds each
-- commit's changes. Here several transactions commit at once, and if each added to the shared
-- counter rows they would wait on each other (or deadlock, touching a borrowing and a lending
-- request in opposite orders).
--
-- So a write only appends: the triggers below add one row to lend_count_change for a lending
-- request's old counted values (n = -1) and one for its new ones (n = +1), and two rows per
-- side to queue_count_delta for a borrowing request's two facets, in the write's transaction.
-- Nothing is updated in place, so writers never wait on each other here. A job folds these
-- rows into queue_count every second or so (`Store::fold_queue_counts`): one statement
-- deletes the rows it sees and adds them, grouped by key. Readers read queue_count_now:
-- queue_count plus the rows not yet folded, both in the reader's snapshot, so a count is
-- exact whether or not the job has run, and a fold never shows half done.
--
-- The created and modified facets count the library's days (0038). lend_count_change keeps
-- the raw times, and the library's day is taken when the rows are read or folded, with the
-- library's offset at that moment; when an offset changes, the store counts the library's
-- two day facets again (Tx::set_library_offset).

-- The times as times (the table was created for SQLite's writer, 0042, and was unused here).
ALTER TABLE lend_count_change ALTER COLUMN created_at TYPE TIMESTAMPTZ USING created_at::timestamptz;
ALTER TABLE lend_count_change ALTER COLUMN updated_at TYPE TIMESTAMPTZ USING updated_at::timestamptz;

-- The eleven facets of one noted lending request, as (facet, value): the one place that says
-- how a lending request is counted, for the view and the fold alike.
CREATE FUNCTION lend_count_facets(c lend_count_change) RETURNS TABLE (facet TEXT, value TEXT)
LANGUAGE sql STABLE AS $$
    SELECT v.facet, v.value
      FROM (SELECT CAST(COALESCE((SELECT utc_offset_minutes FROM library l WHERE l.library_id = c.library_id), 0) AS INTEGER) AS m) o
     CROSS JOIN LATERAL (VALUES
        ('partner', c.partner),
        ('format', c.format),
        ('assignee', c.assignee),
        ('created', to_char((c.created_at AT TIME ZONE 'UTC') + make_interval(mins => o.m), 'YYYY-MM-DD')),
        ('modified', to_char((c.updated_at AT TIME ZONE 'UTC') + make_interval(mins => o.m), 'YYYY-MM-DD')),
        ('due', c.due),
        ('needed_by', c.needed_by),
        ('renew_pending', c.renew_pending),
        ('service_level', c.service_level),
        ('supplied_format', c.supplied_format),
        ('printed', c.printed)
     ) AS v (facet, value)
$$;

-- What was noted and not yet folded, as counts.
CREATE VIEW queue_count_noted AS
    SELECT library_id, side, state, facet, value, n FROM queue_count_delta
    UNION ALL
    SELECT c.library_id, 'lend', c.state, f.facet, f.value, c.n
      FROM lend_count_change c CROSS JOIN LATERAL lend_count_facets(c) f;

-- The counts as they are now: what was folded, and what was noted since.
CREATE VIEW queue_count_now AS
    SELECT library_id, side, state, facet, value, n FROM queue_count
    UNION ALL
    SELECT library_id, side, state, facet, value, n FROM queue_count_noted;

-- A queue page reads one facet at a time, of any state: by the key (whose state comes before
-- the facet) that read every counter of the library for each facet: about 18,000 rows for the
-- library of a million requests `bench queue` seeds, most of them its days.
CREATE INDEX queue_count_facet ON queue_count (library_id, side, facet, state, value) INCLUDE (n);

-- A lending request's counted values, as the SQLite triggers of 0042 write them.
CREATE FUNCTION lend_request_noted_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lend_count_change (library_id, state, partner, format, assignee, created_at,
        updated_at, due, needed_by, renew_pending, service_level, supplied_format, printed, n)
    SELECT library_id, state, borrower_agency, format, COALESCE(assignee_id, ''), created_at,
        updated_at, COALESCE(to_char(due_date, 'YYYY-MM-DD'), ''),
        COALESCE(to_char(needed_by, 'YYYY-MM-DD'), ''), CASE WHEN renew_pending THEN '1' ELSE '0' END,
        service_level, COALESCE(supplied_format, ''),
        CASE WHEN slip_printed_at IS NULL THEN '0' ELSE '1' END, 1
      FROM noted;
    RETURN NULL;
END;
$$;

CREATE FUNCTION lend_request_noted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lend_count_change (library_id, state, partner, format, assignee, created_at,
        updated_at, due, needed_by, renew_pending, service_level, supplied_format, printed, n)
    SELECT library_id, state, borrower_agency, format, COALESCE(assignee_id, ''), created_at,
        updated_at, COALESCE(to_char(due_date, 'YYYY-MM-DD'), ''),
        COALESCE(to_char(needed_by, 'YYYY-MM-DD'), ''), CASE WHEN renew_pending THEN '1' ELSE '0' END,
        service_level, COALESCE(supplied_format, ''),
        CASE WHEN slip_printed_at IS NULL THEN '0' ELSE '1' END, -1
      FROM noted;
    RETURN NULL;
END;
$$;

CREATE FUNCTION lend_request_noted_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lend_count_change (library_id, state, partner, format, assignee, created_at,
        updated_at, due, needed_by, renew_pending, service_level, supplied_format, printed, n)
    VALUES (OLD.library_id, OLD.state, OLD.borrower_agency, OLD.format,
        COALESCE(OLD.assignee_id, ''), OLD.created_at, OLD.updated_at,
        COALESCE(to_char(OLD.due_date, 'YYYY-MM-DD'), ''),
        COALESCE(to_char(OLD.needed_by, 'YYYY-MM-DD'), ''),
        CASE WHEN OLD.renew_pending THEN '1' ELSE '0' END, OLD.service_level,
        COALESCE(OLD.supplied_format, ''),
        CASE WHEN OLD.slip_printed_at IS NULL THEN '0' ELSE '1' END, -1),
           (NEW.library_id, NEW.state, NEW.borrower_agency, NEW.format,
        COALESCE(NEW.assignee_id, ''), NEW.created_at, NEW.updated_at,
        COALESCE(to_char(NEW.due_date, 'YYYY-MM-DD'), ''),
        COALESCE(to_char(NEW.needed_by, 'YYYY-MM-DD'), ''),
        CASE WHEN NEW.renew_pending THEN '1' ELSE '0' END, NEW.service_level,
        COALESCE(NEW.supplied_format, ''),
        CASE WHEN NEW.slip_printed_at IS NULL THEN '0' ELSE '1' END, 1);
    RETURN NULL;
END;
$$;

-- Inserts and deletes once per statement (a seed or a bulk import writes thousands of rows in
-- one); an update once per row, and only when a counted value changed (the WHEN runs without
-- calling the function). A changed time may move a day: noted, and the grouping decides.
CREATE TRIGGER lend_request_count_insert AFTER INSERT ON lend_request
    REFERENCING NEW TABLE AS noted FOR EACH STATEMENT EXECUTE FUNCTION lend_request_noted_insert();
CREATE TRIGGER lend_request_count_delete AFTER DELETE ON lend_request
    REFERENCING OLD TABLE AS noted FOR EACH STATEMENT EXECUTE FUNCTION lend_request_noted_delete();
CREATE TRIGGER lend_request_count_update AFTER UPDATE ON lend_request FOR EACH ROW
WHEN (OLD.library_id IS DISTINCT FROM NEW.library_id
    OR OLD.state IS DISTINCT FROM NEW.state
    OR OLD.borrower_agency IS DISTINCT FROM NEW.borrower_agency
    OR OLD.format IS DISTINCT FROM NEW.format
    OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id
    OR OLD.created_at IS DISTINCT FROM NEW.created_at
    OR OLD.updated_at IS DISTINCT FROM NEW.updated_at
    OR OLD.due_date IS DISTINCT FROM NEW.due_date
    OR OLD.needed_by IS DISTINCT FROM NEW.needed_by
    OR OLD.renew_pending IS DISTINCT FROM NEW.renew_pending
    OR OLD.service_level IS DISTINCT FROM NEW.service_level
    OR OLD.supplied_format IS DISTINCT FROM NEW.supplied_format
    OR (OLD.slip_printed_at IS NULL) IS DISTINCT FROM (NEW.slip_printed_at IS NULL))
    EXECUTE FUNCTION lend_request_noted_update();

-- A borrowing request's two facets (format, assignee), as the SQLite triggers of 0025.
CREATE FUNCTION borrow_request_noted_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n)
    SELECT library_id, 'borrow', state, 'format', format, 1 FROM noted
    UNION ALL SELECT library_id, 'borrow', state, 'assignee', COALESCE(assignee_id, ''), 1 FROM noted;
    RETURN NULL;
END;
$$;

CREATE FUNCTION borrow_request_noted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n)
    SELECT library_id, 'borrow', state, 'format', format, -1 FROM noted
    UNION ALL SELECT library_id, 'borrow', state, 'assignee', COALESCE(assignee_id, ''), -1 FROM noted;
    RETURN NULL;
END;
$$;

CREATE FUNCTION borrow_request_noted_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n) VALUES
        (OLD.library_id, 'borrow', OLD.state, 'format', OLD.format, -1),
        (OLD.library_id, 'borrow', OLD.state, 'assignee', COALESCE(OLD.assignee_id, ''), -1),
        (NEW.library_id, 'borrow', NEW.state, 'format', NEW.format, 1),
        (NEW.library_id, 'borrow', NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1);
    RETURN NULL;
END;
$$;

CREATE TRIGGER borrow_request_count_insert AFTER INSERT ON borrow_request
    REFERENCING NEW TABLE AS noted FOR EACH STATEMENT EXECUTE FUNCTION borrow_request_noted_insert();
CREATE TRIGGER borrow_request_count_delete AFTER DELETE ON borrow_request
    REFERENCING OLD TABLE AS noted FOR EACH STATEMENT EXECUTE FUNCTION borrow_request_noted_delete();
CREATE TRIGGER borrow_request_count_update AFTER UPDATE ON borrow_request FOR EACH ROW
WHEN (OLD.library_id IS DISTINCT FROM NEW.library_id
    OR OLD.state IS DISTINCT FROM NEW.state
    OR OLD.format IS DISTINCT FROM NEW.format
    OR COALESCE(OLD.assignee_id, '') IS DISTINCT FROM COALESCE(NEW.assignee_id, ''))
    EXECUTE FUNCTION borrow_request_noted_update();

-- The requests already here, counted once. CREATE TRIGGER above locked both tables against
-- writes until this migration commits, so no write falls between this count and the triggers.
INSERT INTO queue_count (library_id, side, state, facet, value, n)
SELECT r.library_id, 'lend', r.state, f.facet, f.value, COUNT(*)
  FROM lend_request r
 CROSS JOIN LATERAL lend_count_facets(ROW(r.library_id, r.state, r.borrower_agency, r.format,
        COALESCE(r.assignee_id, ''), r.created_at, r.updated_at,
        COALESCE(to_char(r.due_date, 'YYYY-MM-DD'), ''), COALESCE(to_char(r.needed_by, 'YYYY-MM-DD'), ''),
        CASE WHEN r.renew_pending THEN '1' ELSE '0' END, r.service_level,
        COALESCE(r.supplied_format, ''), CASE WHEN r.slip_printed_at IS NULL THEN '0' ELSE '1' END,
        1)::lend_count_change) f
 GROUP BY r.library_id, r.state, f.facet, f.value
UNION ALL
SELECT library_id, 'borrow', state, 'format', format, COUNT(*) FROM borrow_request GROUP BY library_id, state, format
UNION ALL
SELECT library_id, 'borrow', state, 'assignee', COALESCE(assignee_id, ''), COUNT(*) FROM borrow_request GROUP BY library_id, state, COALESCE(assignee_id, '');
