-- The lending queue's search over the working queue, at a million requests (issue 6). A search
-- of the active queue compared the search index (lend_request_search), then read each match's
-- row for its facets and page: 55-110 ms at the 95th percentile with 20,000 active requests,
-- about 3 µs per row read against under 1 µs per index entry. Now the queue index carries the
-- lowered expressions the search compares, so one index answers the search, the facets and
-- the page without reading a row, and the search index goes: one index fewer to keep on every
-- write. The facet columns keep their places, so the seeks of a narrowed queue stay as they
-- were.
DROP INDEX lend_request_search;
DROP INDEX lend_request_queue;
CREATE INDEX lend_request_queue ON lend_request
    (library_id, state, borrower_agency, format, assignee_id, created_at, updated_at, due_date,
     needed_by, renew_pending, service_level, supplied_format, slip_printed_at,
     lower(title), lower(barcode), lower(request_id), lower(borrower_request_id),
     lower(borrower_agency), lower(borrower_id), request_id);
