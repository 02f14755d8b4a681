-- The lending desk: requests assigned to a staff member, the lending queue's facets and task
-- filters, and their indexes.

-- Borrowing requests can be assigned too (lending requests had the column from the start).
ALTER TABLE borrow_request ADD COLUMN assignee_id TEXT REFERENCES app_user (user_id);

-- The borrower's need-by date, copied out of the citation so that the queue can filter and
-- count by it without reading every citation.
ALTER TABLE lend_request ADD COLUMN needed_by TEXT;
UPDATE lend_request SET needed_by = json_extract(citation, '$.need_by')
 WHERE json_extract(citation, '$.need_by') IS NOT NULL;

-- The working queue (still open requests) is a small part of a library's history: its facet
-- counts and its page of ids read only this index, never the table, so they stay fast however
-- much history accumulates. Every column a facet groups by is in it, and the id last.
CREATE INDEX lend_request_queue ON lend_request
    (library_id, state, borrower_agency, format, assignee_id, created_at, updated_at, due_date, needed_by, renew_pending, request_id);
-- Assignee's own list, and the search by barcode.
CREATE INDEX lend_request_assignee ON lend_request (library_id, assignee_id);
CREATE INDEX lend_request_barcode ON lend_request (library_id, barcode) WHERE barcode IS NOT NULL;
CREATE INDEX borrow_request_assignee ON borrow_request (library_id, assignee_id);
-- The "message in error" alert: parked messages are few, and found without scanning the outbox.
CREATE INDEX outbox_dead ON outbox (library_id, request_id) WHERE status = 'dead';
