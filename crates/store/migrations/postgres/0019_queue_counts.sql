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

-- The counts are kept on SQLite only (by triggers there). On PostgreSQL several writers
-- commit at once, and counter rows shared by every request of a library would make them
-- wait on each other, or deadlock when two transactions touch a borrowing and a lending
-- request in opposite orders; PostgreSQL groups the queue's facets out of the requests
-- themselves. The table exists on both engines so that their schemas stay alike.
