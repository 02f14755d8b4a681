-- The first summary after an upgrade (or after a restore, when the summaries are far behind
-- the events) read every request inside one statistics request: 51 s at 205,000 requests.
-- It is now a background job that summarises a page of requests at a time, each page one
-- short read and one short write, so that no reader holds back the WAL for minutes. A pass
-- that is under way is kept here: where it has got to (the last request summarised, in id
-- order), how many it has done and how many it set out to do (for the "N of M" notice), and
-- when it started (the mark once it is done). It survives a restart and resumes.

CREATE TABLE stat_pass (
    name       TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,      -- becomes stat_mark.at when the pass is done
    since      TEXT,               -- requests with events from then on; NULL: every request
    after_id   TEXT NOT NULL DEFAULT '',
    done       INTEGER NOT NULL DEFAULT 0,
    total      INTEGER NOT NULL
);

-- A reader charged when the lender shipped, whose request then ended without the reader
-- getting the item (lost in transit, cancelled, unfilled), is refunded in the transaction of
-- that step: the charge keeps its row (one per request) and records when it was refunded; a
-- deposit gets the money back as a movement of its own kind, and a refunded subsidy charge
-- no longer counts against the year's subsidy.
ALTER TABLE reader_charge ADD COLUMN refunded_at TEXT;

-- SQLite cannot change a CHECK in place: the movements are copied into a table that allows
-- `charge_refund` (nothing refers to this table).
CREATE TABLE deposit_movement_new (
    deposit_movement_id INTEGER PRIMARY KEY,
    library_id          TEXT NOT NULL REFERENCES library (library_id),
    patron_id           TEXT NOT NULL REFERENCES app_user (user_id),
    currency            TEXT NOT NULL,
    amount_minor        INTEGER NOT NULL,
    balance_minor       INTEGER NOT NULL,      -- the balance after this movement
    kind                TEXT NOT NULL CHECK (kind IN ('top_up', 'refund', 'charge', 'charge_refund')),
    borrow_request_id   TEXT REFERENCES borrow_request (request_id),
    reason              TEXT NOT NULL,
    actor_id            TEXT,
    created_at          TEXT NOT NULL
);
INSERT INTO deposit_movement_new SELECT deposit_movement_id, library_id, patron_id, currency,
    amount_minor, balance_minor, kind, borrow_request_id, reason, actor_id, created_at
    FROM deposit_movement;
DROP TABLE deposit_movement;
ALTER TABLE deposit_movement_new RENAME TO deposit_movement;
CREATE INDEX deposit_movement_patron ON deposit_movement (patron_id, deposit_movement_id);
