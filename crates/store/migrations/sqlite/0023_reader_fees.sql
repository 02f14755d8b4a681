-- What a library charges its own readers, and who pays each charge (issue 8). Amounts are
-- integer minor units plus a currency code.

-- The library's reader charges per service and its subsidies by reader type (JSON
-- domain::reader_fees::ReaderFeePolicy). A library without a row charges its readers nothing.
CREATE TABLE reader_fee_policy (
    library_id TEXT PRIMARY KEY REFERENCES library (library_id),
    policy     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

-- A reader's deposit balance per currency. Kept as a row, not summed from the movements at
-- each charge, so that a charge takes the money with one conditional UPDATE that cannot take
-- the balance below zero even when two charges race (the row lock orders them on PostgreSQL).
CREATE TABLE deposit_account (
    patron_id     TEXT NOT NULL REFERENCES app_user (user_id),
    currency      TEXT NOT NULL,
    library_id    TEXT NOT NULL REFERENCES library (library_id),
    balance_minor INTEGER NOT NULL CHECK (balance_minor >= 0),
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (patron_id, currency)
);
CREATE INDEX deposit_account_library ON deposit_account (library_id);

-- Every change of a deposit, with who and why: top-ups and refunds by staff (actor_id), and
-- charges taken for a request (borrow_request_id). The balance is the sum of these.
CREATE TABLE deposit_movement (
    deposit_movement_id INTEGER PRIMARY KEY,
    library_id          TEXT NOT NULL REFERENCES library (library_id),
    patron_id           TEXT NOT NULL REFERENCES app_user (user_id),
    currency            TEXT NOT NULL,
    amount_minor        INTEGER NOT NULL,
    balance_minor       INTEGER NOT NULL,      -- the balance after this movement
    kind                TEXT NOT NULL CHECK (kind IN ('top_up', 'refund', 'charge')),
    borrow_request_id   TEXT REFERENCES borrow_request (request_id),
    reason              TEXT NOT NULL,
    actor_id            TEXT,
    created_at          TEXT NOT NULL
);
CREATE INDEX deposit_movement_patron ON deposit_movement (patron_id, deposit_movement_id);

-- What a reader was charged for a request, recorded when the lender shipped it, and who paid:
-- the library's subsidy, the reader's deposit or an invoice to the reader. One per request.
-- Subsidies count per calendar year (`year`) and service.
CREATE TABLE reader_charge (
    borrow_request_id TEXT PRIMARY KEY REFERENCES borrow_request (request_id),
    library_id        TEXT NOT NULL REFERENCES library (library_id),
    patron_id         TEXT NOT NULL REFERENCES app_user (user_id),
    service           TEXT NOT NULL,            -- loan | copy
    amount_minor      INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    payer             TEXT NOT NULL CHECK (payer IN ('subsidy', 'deposit', 'invoice')),
    basis             TEXT NOT NULL,
    basis_zh          TEXT NOT NULL,
    year              INTEGER NOT NULL,
    created_at        TEXT NOT NULL
);
CREATE INDEX reader_charge_patron ON reader_charge (patron_id, year, service, payer);

-- A request whose expected charge the reader's deposit does not cover (and no subsidy is
-- left): shown to staff for review, the request is not refused. Cleared when the charge is
-- recorded.
CREATE TABLE reader_charge_review (
    borrow_request_id TEXT PRIMARY KEY REFERENCES borrow_request (request_id),
    library_id        TEXT NOT NULL REFERENCES library (library_id),
    expected_minor    INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    balance_minor     INTEGER NOT NULL,
    created_at        TEXT NOT NULL
);

-- Closing a month nets its charges inside the database in one pass over the month index and
-- then counts the month's corrections (charges of closed months booked late, and corrections
-- recorded by hand): few rows, found here instead of by reading the month a second time.
CREATE INDEX fee_transaction_correction ON fee_transaction (month) WHERE kind = 'correction';
