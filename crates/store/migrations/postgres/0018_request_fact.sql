-- Statistics read one row per borrowing request, summarised from the request's events
-- (outcome, unfilled reason, minutes spent in each stage) with the keys reports group by.
-- Derived data like the search index: deleting every row and the mark rebuilds it from the
-- events on the next report. Reading the events themselves for each report would take
-- seconds at a million requests; this table keeps a report to one scan of narrow rows.
CREATE TABLE request_fact (
    request_id      TEXT PRIMARY KEY,
    library_id      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    month           TEXT NOT NULL,           -- YYYY-MM of created_at (UTC)
    patron_id       TEXT NOT NULL,
    patron_type     TEXT NOT NULL,           -- '-' when the reader has none
    department      TEXT NOT NULL,
    source          TEXT NOT NULL,           -- how the request came in: form, openurl, lookup, api, staff …
    journal         TEXT NOT NULL,           -- the journal or book an article is in; '-' for loans
    partner         TEXT NOT NULL,           -- the lender that has it, else the last one asked
    format          TEXT NOT NULL,
    outcome         TEXT NOT NULL,           -- filled | unfilled | cancelled | open
    unfilled_reason TEXT,
    stage1          BIGINT,                 -- minutes: request -> sent
    stage2          BIGINT,                 -- sent -> shipped
    stage3          BIGINT,                 -- shipped -> received
    stage4          BIGINT,                 -- received -> reader
    stage5          BIGINT                  -- returned -> checked in
);
CREATE INDEX request_fact_library ON request_fact (library_id, created_at);
CREATE INDEX request_fact_created ON request_fact (created_at);

-- How far the summaries have read the events: requests with events at or after this moment
-- (less a margin for transactions that committed late) are summarised again.
CREATE TABLE stat_mark (
    name TEXT PRIMARY KEY,
    at   TIMESTAMPTZ NOT NULL
);

-- Partner evaluation counts each lender's open requests now.
CREATE INDEX borrow_request_lender_state ON borrow_request (lender_id, state);
