-- A queue search for a requester (its agency id or its library code) reads the ids of that
-- requester's requests in the states asked for. The indexes of 0029 hold the lowered value,
-- not the column, so PostgreSQL could not answer from them alone: it read every entry of the
-- states from the queue index instead and tested the value on each. With the column and the
-- request id included, the search is an index-only scan of that requester's entries.
-- At a million requests (2 % active, 3,346 of them one requester's), `EXPLAIN ANALYZE` of the
-- active agency-id arm: 1.4 ms, against 16.3 ms through the queue index.
DROP INDEX lend_request_agency_lc;
CREATE INDEX lend_request_agency_lc ON lend_request (library_id, lower(borrower_agency), state)
    INCLUDE (borrower_agency, request_id);
DROP INDEX lend_request_borrower_lc;
CREATE INDEX lend_request_borrower_lc ON lend_request (library_id, lower(borrower_id), state)
    INCLUDE (borrower_id, request_id);
