-- The first summary after an upgrade (or after a restore, when the summaries are far behind
-- the events) read every request inside one statistics request: 51 s at 205,000 requests.
-- It is now a background job that summarises a page of requests at a time, each page one
-- short read and one short write, so that no reader holds back the WAL for minutes. A pass
-- that is under way is kept here: where it has got to (the last request summarised, in id
-- order), how many it has done and how many it set out to do (for the "N of M" notice), and
-- when it started (the mark once it is done). It survives a restart and resumes.

CREATE TABLE stat_pass (
    name       TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL, -- becomes stat_mark.at when the pass is done
    since      TIMESTAMPTZ,          -- requests with events from then on; NULL: every request
    after_id   TEXT NOT NULL DEFAULT '',
    done       BIGINT NOT NULL DEFAULT 0,
    total      BIGINT NOT NULL
);

-- A reader charged when the lender shipped, whose request then ended without the reader
-- getting the item (lost in transit, cancelled, unfilled), is refunded in the transaction of
-- that step: the charge keeps its row (one per request) and records when it was refunded; a
-- deposit gets the money back as a movement of its own kind, and a refunded subsidy charge
-- no longer counts against the year's subsidy.
ALTER TABLE reader_charge ADD COLUMN refunded_at TIMESTAMPTZ;

ALTER TABLE deposit_movement DROP CONSTRAINT deposit_movement_kind_check;
ALTER TABLE deposit_movement ADD CONSTRAINT deposit_movement_kind_check
    CHECK (kind IN ('top_up', 'refund', 'charge', 'charge_refund'));
