-- The lending queue's "created" and "modified" buckets in the library's own day (issue 3).
--
-- The kept counts (0019, 0025) held a request's created and modified day as its UTC date, so
-- "today" began at 08:00 in a library at +08:00, and a request that came in at 07:30 there
-- counted as yesterday's. They now hold the library's date: the UTC time moved by the
-- library's offset (library.utc_offset_minutes, 0030), looked up by the triggers on each
-- write (a primary-key read). The queue counts its buckets from the library's midnight, so
-- the kept counts, the filter and the grouped counts agree. When a library's offset changes,
-- the store recounts that library's two facets in the same transaction
-- (Tx::set_library_offset). A time SQLite's date() cannot move (past 9999) keeps its UTC date.

DROP TRIGGER lend_request_count_insert;
DROP TRIGGER lend_request_count_delete;
DROP TRIGGER lend_request_count_update;

CREATE TRIGGER lend_request_count_insert AFTER INSERT ON lend_request BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n) VALUES
        (NEW.library_id, 'lend', NEW.state, 'partner', NEW.borrower_agency, 1),
        (NEW.library_id, 'lend', NEW.state, 'format', NEW.format, 1),
        (NEW.library_id, 'lend', NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'created', COALESCE(date(NEW.created_at, (SELECT utc_offset_minutes FROM library WHERE library_id = NEW.library_id) || ' minutes'), substr(NEW.created_at, 1, 10)), 1),
        (NEW.library_id, 'lend', NEW.state, 'modified', COALESCE(date(NEW.updated_at, (SELECT utc_offset_minutes FROM library WHERE library_id = NEW.library_id) || ' minutes'), substr(NEW.updated_at, 1, 10)), 1),
        (NEW.library_id, 'lend', NEW.state, 'due', COALESCE(NEW.due_date, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'needed_by', COALESCE(NEW.needed_by, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'renew_pending', CASE WHEN NEW.renew_pending THEN '1' ELSE '0' END, 1),
        (NEW.library_id, 'lend', NEW.state, 'service_level', NEW.service_level, 1),
        (NEW.library_id, 'lend', NEW.state, 'supplied_format', COALESCE(NEW.supplied_format, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'printed', CASE WHEN NEW.slip_printed_at IS NULL THEN '0' ELSE '1' END, 1);
END;

CREATE TRIGGER lend_request_count_delete AFTER DELETE ON lend_request BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n) VALUES
        (OLD.library_id, 'lend', OLD.state, 'partner', OLD.borrower_agency, -1),
        (OLD.library_id, 'lend', OLD.state, 'format', OLD.format, -1),
        (OLD.library_id, 'lend', OLD.state, 'assignee', COALESCE(OLD.assignee_id, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'created', COALESCE(date(OLD.created_at, (SELECT utc_offset_minutes FROM library WHERE library_id = OLD.library_id) || ' minutes'), substr(OLD.created_at, 1, 10)), -1),
        (OLD.library_id, 'lend', OLD.state, 'modified', COALESCE(date(OLD.updated_at, (SELECT utc_offset_minutes FROM library WHERE library_id = OLD.library_id) || ' minutes'), substr(OLD.updated_at, 1, 10)), -1),
        (OLD.library_id, 'lend', OLD.state, 'due', COALESCE(OLD.due_date, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'needed_by', COALESCE(OLD.needed_by, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'renew_pending', CASE WHEN OLD.renew_pending THEN '1' ELSE '0' END, -1),
        (OLD.library_id, 'lend', OLD.state, 'service_level', OLD.service_level, -1),
        (OLD.library_id, 'lend', OLD.state, 'supplied_format', COALESCE(OLD.supplied_format, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'printed', CASE WHEN OLD.slip_printed_at IS NULL THEN '0' ELSE '1' END, -1);
END;

CREATE TRIGGER lend_request_count_update AFTER UPDATE ON lend_request
WHEN OLD.library_id IS NOT NEW.library_id
    OR OLD.state IS NOT NEW.state
    OR OLD.borrower_agency IS NOT NEW.borrower_agency
    OR OLD.format IS NOT NEW.format
    OR COALESCE(OLD.assignee_id, '') IS NOT COALESCE(NEW.assignee_id, '')
    OR COALESCE(date(OLD.created_at, (SELECT utc_offset_minutes FROM library WHERE library_id = OLD.library_id) || ' minutes'), substr(OLD.created_at, 1, 10)) IS NOT COALESCE(date(NEW.created_at, (SELECT utc_offset_minutes FROM library WHERE library_id = NEW.library_id) || ' minutes'), substr(NEW.created_at, 1, 10))
    OR COALESCE(date(OLD.updated_at, (SELECT utc_offset_minutes FROM library WHERE library_id = OLD.library_id) || ' minutes'), substr(OLD.updated_at, 1, 10)) IS NOT COALESCE(date(NEW.updated_at, (SELECT utc_offset_minutes FROM library WHERE library_id = NEW.library_id) || ' minutes'), substr(NEW.updated_at, 1, 10))
    OR COALESCE(OLD.due_date, '') IS NOT COALESCE(NEW.due_date, '')
    OR COALESCE(OLD.needed_by, '') IS NOT COALESCE(NEW.needed_by, '')
    OR CASE WHEN OLD.renew_pending THEN '1' ELSE '0' END IS NOT CASE WHEN NEW.renew_pending THEN '1' ELSE '0' END
    OR OLD.service_level IS NOT NEW.service_level
    OR COALESCE(OLD.supplied_format, '') IS NOT COALESCE(NEW.supplied_format, '')
    OR CASE WHEN OLD.slip_printed_at IS NULL THEN '0' ELSE '1' END IS NOT CASE WHEN NEW.slip_printed_at IS NULL THEN '0' ELSE '1' END
BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n) VALUES
        (OLD.library_id, 'lend', OLD.state, 'partner', OLD.borrower_agency, -1),
        (OLD.library_id, 'lend', OLD.state, 'format', OLD.format, -1),
        (OLD.library_id, 'lend', OLD.state, 'assignee', COALESCE(OLD.assignee_id, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'created', COALESCE(date(OLD.created_at, (SELECT utc_offset_minutes FROM library WHERE library_id = OLD.library_id) || ' minutes'), substr(OLD.created_at, 1, 10)), -1),
        (OLD.library_id, 'lend', OLD.state, 'modified', COALESCE(date(OLD.updated_at, (SELECT utc_offset_minutes FROM library WHERE library_id = OLD.library_id) || ' minutes'), substr(OLD.updated_at, 1, 10)), -1),
        (OLD.library_id, 'lend', OLD.state, 'due', COALESCE(OLD.due_date, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'needed_by', COALESCE(OLD.needed_by, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'renew_pending', CASE WHEN OLD.renew_pending THEN '1' ELSE '0' END, -1),
        (OLD.library_id, 'lend', OLD.state, 'service_level', OLD.service_level, -1),
        (OLD.library_id, 'lend', OLD.state, 'supplied_format', COALESCE(OLD.supplied_format, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'printed', CASE WHEN OLD.slip_printed_at IS NULL THEN '0' ELSE '1' END, -1),
        (NEW.library_id, 'lend', NEW.state, 'partner', NEW.borrower_agency, 1),
        (NEW.library_id, 'lend', NEW.state, 'format', NEW.format, 1),
        (NEW.library_id, 'lend', NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'created', COALESCE(date(NEW.created_at, (SELECT utc_offset_minutes FROM library WHERE library_id = NEW.library_id) || ' minutes'), substr(NEW.created_at, 1, 10)), 1),
        (NEW.library_id, 'lend', NEW.state, 'modified', COALESCE(date(NEW.updated_at, (SELECT utc_offset_minutes FROM library WHERE library_id = NEW.library_id) || ' minutes'), substr(NEW.updated_at, 1, 10)), 1),
        (NEW.library_id, 'lend', NEW.state, 'due', COALESCE(NEW.due_date, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'needed_by', COALESCE(NEW.needed_by, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'renew_pending', CASE WHEN NEW.renew_pending THEN '1' ELSE '0' END, 1),
        (NEW.library_id, 'lend', NEW.state, 'service_level', NEW.service_level, 1),
        (NEW.library_id, 'lend', NEW.state, 'supplied_format', COALESCE(NEW.supplied_format, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'printed', CASE WHEN NEW.slip_printed_at IS NULL THEN '0' ELSE '1' END, 1);
END;

-- The counts kept so far are UTC days: recount both facets from the requests. Deltas not yet
-- added (a write of another connection) are of requests the recount reads anyway.
DELETE FROM queue_count_delta WHERE side = 'lend' AND facet IN ('created', 'modified');
DELETE FROM queue_count WHERE side = 'lend' AND facet IN ('created', 'modified');
INSERT INTO queue_count (library_id, side, state, facet, value, n)
SELECT r.library_id, 'lend', r.state, 'created', COALESCE(date(r.created_at, l.utc_offset_minutes || ' minutes'), substr(r.created_at, 1, 10)) AS d, COUNT(*)
  FROM lend_request r LEFT JOIN library l ON l.library_id = r.library_id
 GROUP BY r.library_id, r.state, d
UNION ALL
SELECT r.library_id, 'lend', r.state, 'modified', COALESCE(date(r.updated_at, l.utc_offset_minutes || ' minutes'), substr(r.updated_at, 1, 10)) AS d, COUNT(*)
  FROM lend_request r LEFT JOIN library l ON l.library_id = r.library_id
 GROUP BY r.library_id, r.state, d;

-- A statistics summary's month is its library's month (issue 3): a request made at 07:30 on
-- 1 March at +08:00 (23:30 UTC on 28 February) counts in March. Taken again from each
-- summary's time and its library's offset; the store does the same for one library when its
-- offset changes.
UPDATE request_fact
   SET month = COALESCE(
       (SELECT CAST(strftime('%Y%m', request_fact.created_at, l.utc_offset_minutes || ' minutes') AS INTEGER)
          FROM library l WHERE l.library_id = request_fact.library_id),
       month);
