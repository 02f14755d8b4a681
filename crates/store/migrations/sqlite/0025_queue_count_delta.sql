-- The kept queue counts (0019) without their cost on every write (issue 3).
--
-- 0019's triggers upserted every counter a request counts under (11 facets of a lending request,
-- 2 of a borrowing one, for the old state and the new) in the statement that changed it: 22
-- b-tree look-ups and writes for each lending request update, which took a lending request
-- update from about 17 us to about 86 us on the SQLite writer.
--
-- Now the triggers only append what changed to queue_count_delta, a table without any index,
-- and the SQLite writer adds the deltas to queue_count, grouped, once per commit (before its
-- COMMIT, in the same transaction, so readers never see one without the other). The requests
-- of one commit mostly share their keys (the same library, partner, format, day and state), so
-- a commit of many steps writes a few dozen counters instead of hundreds. queue_count itself,
-- what it holds and how it is read are unchanged.
--
-- An update that changes none of the counted values appends nothing (WHEN). Every write to the
-- requests on SQLite goes through the writer, whose commits empty the table; a write made by
-- another connection is counted at the writer's next commit.
CREATE TABLE queue_count_delta (
    library_id TEXT NOT NULL,
    side       TEXT NOT NULL,
    state      TEXT NOT NULL,
    facet      TEXT NOT NULL,
    value      TEXT NOT NULL,
    n          INTEGER NOT NULL
);

DROP TRIGGER lend_request_count_insert;
DROP TRIGGER lend_request_count_delete;
DROP TRIGGER lend_request_count_update;
DROP TRIGGER borrow_request_count_insert;
DROP TRIGGER borrow_request_count_delete;
DROP TRIGGER borrow_request_count_update;

CREATE TRIGGER lend_request_count_insert AFTER INSERT ON lend_request BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n) VALUES
        (NEW.library_id, 'lend', NEW.state, 'partner', NEW.borrower_agency, 1),
        (NEW.library_id, 'lend', NEW.state, 'format', NEW.format, 1),
        (NEW.library_id, 'lend', NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'created', substr(NEW.created_at, 1, 10), 1),
        (NEW.library_id, 'lend', NEW.state, 'modified', substr(NEW.updated_at, 1, 10), 1),
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
        (OLD.library_id, 'lend', OLD.state, 'created', substr(OLD.created_at, 1, 10), -1),
        (OLD.library_id, 'lend', OLD.state, 'modified', substr(OLD.updated_at, 1, 10), -1),
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
    OR substr(OLD.created_at, 1, 10) IS NOT substr(NEW.created_at, 1, 10)
    OR substr(OLD.updated_at, 1, 10) IS NOT substr(NEW.updated_at, 1, 10)
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
        (OLD.library_id, 'lend', OLD.state, 'created', substr(OLD.created_at, 1, 10), -1),
        (OLD.library_id, 'lend', OLD.state, 'modified', substr(OLD.updated_at, 1, 10), -1),
        (OLD.library_id, 'lend', OLD.state, 'due', COALESCE(OLD.due_date, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'needed_by', COALESCE(OLD.needed_by, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'renew_pending', CASE WHEN OLD.renew_pending THEN '1' ELSE '0' END, -1),
        (OLD.library_id, 'lend', OLD.state, 'service_level', OLD.service_level, -1),
        (OLD.library_id, 'lend', OLD.state, 'supplied_format', COALESCE(OLD.supplied_format, ''), -1),
        (OLD.library_id, 'lend', OLD.state, 'printed', CASE WHEN OLD.slip_printed_at IS NULL THEN '0' ELSE '1' END, -1),
        (NEW.library_id, 'lend', NEW.state, 'partner', NEW.borrower_agency, 1),
        (NEW.library_id, 'lend', NEW.state, 'format', NEW.format, 1),
        (NEW.library_id, 'lend', NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'created', substr(NEW.created_at, 1, 10), 1),
        (NEW.library_id, 'lend', NEW.state, 'modified', substr(NEW.updated_at, 1, 10), 1),
        (NEW.library_id, 'lend', NEW.state, 'due', COALESCE(NEW.due_date, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'needed_by', COALESCE(NEW.needed_by, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'renew_pending', CASE WHEN NEW.renew_pending THEN '1' ELSE '0' END, 1),
        (NEW.library_id, 'lend', NEW.state, 'service_level', NEW.service_level, 1),
        (NEW.library_id, 'lend', NEW.state, 'supplied_format', COALESCE(NEW.supplied_format, ''), 1),
        (NEW.library_id, 'lend', NEW.state, 'printed', CASE WHEN NEW.slip_printed_at IS NULL THEN '0' ELSE '1' END, 1);
END;

CREATE TRIGGER borrow_request_count_insert AFTER INSERT ON borrow_request BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n) VALUES
        (NEW.library_id, 'borrow', NEW.state, 'format', NEW.format, 1),
        (NEW.library_id, 'borrow', NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1);
END;

CREATE TRIGGER borrow_request_count_delete AFTER DELETE ON borrow_request BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n) VALUES
        (OLD.library_id, 'borrow', OLD.state, 'format', OLD.format, -1),
        (OLD.library_id, 'borrow', OLD.state, 'assignee', COALESCE(OLD.assignee_id, ''), -1);
END;

CREATE TRIGGER borrow_request_count_update AFTER UPDATE ON borrow_request
WHEN OLD.library_id IS NOT NEW.library_id
    OR OLD.state IS NOT NEW.state
    OR OLD.format IS NOT NEW.format
    OR COALESCE(OLD.assignee_id, '') IS NOT COALESCE(NEW.assignee_id, '')
BEGIN
    INSERT INTO queue_count_delta (library_id, side, state, facet, value, n) VALUES
        (OLD.library_id, 'borrow', OLD.state, 'format', OLD.format, -1),
        (OLD.library_id, 'borrow', OLD.state, 'assignee', COALESCE(OLD.assignee_id, ''), -1),
        (NEW.library_id, 'borrow', NEW.state, 'format', NEW.format, 1),
        (NEW.library_id, 'borrow', NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1);
END;
