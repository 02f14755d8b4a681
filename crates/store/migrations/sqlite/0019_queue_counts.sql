-- The staff queues at scale (issue 6): kept facet counts, the lending queue's new facets
-- (service level, supplied format, labels, pick slip printed), and an index for its search.

-- The lending queue's new facets. service_level is what the borrower asked for (ISO 18626
-- serviceLevel read as express or normal); supplied_format is how the item went out (physical,
-- digital, non_returnable), unknown until it ships; slip_printed_at is when a pick slip for the
-- request was last produced.
ALTER TABLE lend_request ADD COLUMN service_level TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE lend_request ADD COLUMN supplied_format TEXT;
ALTER TABLE lend_request ADD COLUMN slip_printed_at TEXT;

-- Labels staff put on a lending request ("rare", "ask Li"): free words, a few per request.
CREATE TABLE lend_label (
    request_id TEXT NOT NULL REFERENCES lend_request (request_id),
    library_id TEXT NOT NULL,
    label      TEXT NOT NULL,
    added_by   TEXT,
    added_at   TEXT NOT NULL,
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
    n          INTEGER NOT NULL,
    PRIMARY KEY (library_id, side, state, facet, value)
) WITHOUT ROWID;

INSERT INTO queue_count (library_id, side, state, facet, value, n)
SELECT library_id, 'lend', state, 'partner', lend_request.borrower_agency, COUNT(*) FROM lend_request GROUP BY library_id, state, lend_request.borrower_agency
UNION ALL SELECT library_id, 'lend', state, 'format', lend_request.format, COUNT(*) FROM lend_request GROUP BY library_id, state, lend_request.format
UNION ALL SELECT library_id, 'lend', state, 'assignee', COALESCE(lend_request.assignee_id, ''), COUNT(*) FROM lend_request GROUP BY library_id, state, COALESCE(lend_request.assignee_id, '')
UNION ALL SELECT library_id, 'lend', state, 'created', substr(lend_request.created_at, 1, 10), COUNT(*) FROM lend_request GROUP BY library_id, state, substr(lend_request.created_at, 1, 10)
UNION ALL SELECT library_id, 'lend', state, 'modified', substr(lend_request.updated_at, 1, 10), COUNT(*) FROM lend_request GROUP BY library_id, state, substr(lend_request.updated_at, 1, 10)
UNION ALL SELECT library_id, 'lend', state, 'due', COALESCE(lend_request.due_date, ''), COUNT(*) FROM lend_request GROUP BY library_id, state, COALESCE(lend_request.due_date, '')
UNION ALL SELECT library_id, 'lend', state, 'needed_by', COALESCE(lend_request.needed_by, ''), COUNT(*) FROM lend_request GROUP BY library_id, state, COALESCE(lend_request.needed_by, '')
UNION ALL SELECT library_id, 'lend', state, 'renew_pending', CASE WHEN lend_request.renew_pending THEN '1' ELSE '0' END, COUNT(*) FROM lend_request GROUP BY library_id, state, CASE WHEN lend_request.renew_pending THEN '1' ELSE '0' END
UNION ALL SELECT library_id, 'lend', state, 'service_level', lend_request.service_level, COUNT(*) FROM lend_request GROUP BY library_id, state, lend_request.service_level
UNION ALL SELECT library_id, 'lend', state, 'supplied_format', COALESCE(lend_request.supplied_format, ''), COUNT(*) FROM lend_request GROUP BY library_id, state, COALESCE(lend_request.supplied_format, '')
UNION ALL SELECT library_id, 'lend', state, 'printed', CASE WHEN lend_request.slip_printed_at IS NULL THEN '0' ELSE '1' END, COUNT(*) FROM lend_request GROUP BY library_id, state, CASE WHEN lend_request.slip_printed_at IS NULL THEN '0' ELSE '1' END;

CREATE TRIGGER lend_request_count_insert AFTER INSERT ON lend_request BEGIN
    INSERT INTO queue_count (library_id, side, state, facet, value, n) VALUES
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
        (NEW.library_id, 'lend', NEW.state, 'printed', CASE WHEN NEW.slip_printed_at IS NULL THEN '0' ELSE '1' END, 1)
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER lend_request_count_delete AFTER DELETE ON lend_request BEGIN
    INSERT INTO queue_count (library_id, side, state, facet, value, n) VALUES
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
        (OLD.library_id, 'lend', OLD.state, 'printed', CASE WHEN OLD.slip_printed_at IS NULL THEN '0' ELSE '1' END, -1)
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = n + excluded.n;
END;

-- An update moves the request from its old keys to its new ones; keys that did not change
-- net to zero and are not written.
CREATE TRIGGER lend_request_count_update AFTER UPDATE ON lend_request BEGIN
    INSERT INTO queue_count (library_id, side, state, facet, value, n)
    SELECT library_id, 'lend', state, facet, value, SUM(d) FROM (
        SELECT OLD.library_id AS library_id, OLD.state AS state, 'partner' AS facet, OLD.borrower_agency AS value, -1 AS d
        UNION ALL SELECT OLD.library_id, OLD.state, 'format', OLD.format, -1
        UNION ALL SELECT OLD.library_id, OLD.state, 'assignee', COALESCE(OLD.assignee_id, ''), -1
        UNION ALL SELECT OLD.library_id, OLD.state, 'created', substr(OLD.created_at, 1, 10), -1
        UNION ALL SELECT OLD.library_id, OLD.state, 'modified', substr(OLD.updated_at, 1, 10), -1
        UNION ALL SELECT OLD.library_id, OLD.state, 'due', COALESCE(OLD.due_date, ''), -1
        UNION ALL SELECT OLD.library_id, OLD.state, 'needed_by', COALESCE(OLD.needed_by, ''), -1
        UNION ALL SELECT OLD.library_id, OLD.state, 'renew_pending', CASE WHEN OLD.renew_pending THEN '1' ELSE '0' END, -1
        UNION ALL SELECT OLD.library_id, OLD.state, 'service_level', OLD.service_level, -1
        UNION ALL SELECT OLD.library_id, OLD.state, 'supplied_format', COALESCE(OLD.supplied_format, ''), -1
        UNION ALL SELECT OLD.library_id, OLD.state, 'printed', CASE WHEN OLD.slip_printed_at IS NULL THEN '0' ELSE '1' END, -1
        UNION ALL SELECT NEW.library_id, NEW.state, 'partner', NEW.borrower_agency, 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'format', NEW.format, 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'created', substr(NEW.created_at, 1, 10), 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'modified', substr(NEW.updated_at, 1, 10), 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'due', COALESCE(NEW.due_date, ''), 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'needed_by', COALESCE(NEW.needed_by, ''), 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'renew_pending', CASE WHEN NEW.renew_pending THEN '1' ELSE '0' END, 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'service_level', NEW.service_level, 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'supplied_format', COALESCE(NEW.supplied_format, ''), 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'printed', CASE WHEN NEW.slip_printed_at IS NULL THEN '0' ELSE '1' END, 1
    ) GROUP BY library_id, state, facet, value HAVING SUM(d) <> 0
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = n + excluded.n;
END;

INSERT INTO queue_count (library_id, side, state, facet, value, n)
SELECT library_id, 'borrow', state, 'format', borrow_request.format, COUNT(*) FROM borrow_request GROUP BY library_id, state, borrow_request.format
UNION ALL SELECT library_id, 'borrow', state, 'assignee', COALESCE(borrow_request.assignee_id, ''), COUNT(*) FROM borrow_request GROUP BY library_id, state, COALESCE(borrow_request.assignee_id, '');

CREATE TRIGGER borrow_request_count_insert AFTER INSERT ON borrow_request BEGIN
    INSERT INTO queue_count (library_id, side, state, facet, value, n) VALUES
        (NEW.library_id, 'borrow', NEW.state, 'format', NEW.format, 1),
        (NEW.library_id, 'borrow', NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1)
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER borrow_request_count_delete AFTER DELETE ON borrow_request BEGIN
    INSERT INTO queue_count (library_id, side, state, facet, value, n) VALUES
        (OLD.library_id, 'borrow', OLD.state, 'format', OLD.format, -1),
        (OLD.library_id, 'borrow', OLD.state, 'assignee', COALESCE(OLD.assignee_id, ''), -1)
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER borrow_request_count_update AFTER UPDATE ON borrow_request BEGIN
    INSERT INTO queue_count (library_id, side, state, facet, value, n)
    SELECT library_id, 'borrow', state, facet, value, SUM(d) FROM (
        SELECT OLD.library_id AS library_id, OLD.state AS state, 'format' AS facet, OLD.format AS value, -1 AS d
        UNION ALL SELECT OLD.library_id, OLD.state, 'assignee', COALESCE(OLD.assignee_id, ''), -1
        UNION ALL SELECT NEW.library_id, NEW.state, 'format', NEW.format, 1
        UNION ALL SELECT NEW.library_id, NEW.state, 'assignee', COALESCE(NEW.assignee_id, ''), 1
    ) GROUP BY library_id, state, facet, value HAVING SUM(d) <> 0
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = n + excluded.n;
END;

-- The queue's search: title words, or the start of a barcode or request id, within the states
-- asked for. Every expression the search compares is in the index, lowered as the query lowers
-- it, so a search of the working queue reads this index and not the rows.
CREATE INDEX lend_request_search ON lend_request
    (library_id, state, lower(title), lower(barcode), lower(request_id), lower(borrower_request_id), lower(borrower_agency), lower(borrower_id), updated_at, request_id);
