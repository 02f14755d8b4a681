-- Statistics reports at a million requests took over a second each, most of it spent reading
-- and hashing strings: every report read each request's key as text (a reader's id, a
-- journal's title …) and grouped by it. The summaries now hold each key as the number of its
-- text in `stat_value`, the outcome as a small number and the unfilled reason as a
-- `stat_value` too: a report reads a few integers per request and names its groups once at
-- the end. The month is YYYYMM as a number (the year is month / 100).
--
-- The summaries are derived data: the old ones are dropped, and the next report summarises
-- every request again from its events (the mark is cleared).

CREATE TABLE stat_value (
    value_id INTEGER PRIMARY KEY,
    value    TEXT NOT NULL UNIQUE
);

DROP TABLE request_fact;

CREATE TABLE request_fact (
    library_id        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    request_id        TEXT NOT NULL,
    month             INTEGER NOT NULL,     -- YYYYMM of created_at (UTC)
    library_value     INTEGER NOT NULL,     -- stat_value of library_id
    reader_value      INTEGER NOT NULL,     -- stat_value of the reader's user id
    patron_type_value INTEGER NOT NULL,     -- stat_value; '-' when the reader has none
    department_value  INTEGER NOT NULL,
    source_value      INTEGER NOT NULL,     -- how the request came in: form, openurl, lookup, api …
    journal_value     INTEGER NOT NULL,     -- the journal or book an article is in; '-' for loans
    partner_value     INTEGER NOT NULL,     -- the lender that has it, else the last one asked
    format_value      INTEGER NOT NULL,
    outcome           INTEGER NOT NULL CHECK (outcome BETWEEN 0 AND 3), -- filled, unfilled, cancelled, open
    unfilled_reason_value INTEGER,          -- stat_value
    stage1            INTEGER,              -- minutes: request -> sent
    stage2            INTEGER,              -- sent -> shipped
    stage3            INTEGER,              -- shipped -> received
    stage4            INTEGER,              -- received -> reader
    stage5            INTEGER,              -- returned -> checked in
    -- Rows in (library_id, created_at) order: a report is one range read per library (0027).
    PRIMARY KEY (library_id, created_at, request_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX request_fact_request ON request_fact (request_id);
CREATE INDEX request_fact_created ON request_fact (created_at);

DELETE FROM stat_mark WHERE name = 'request_fact';
