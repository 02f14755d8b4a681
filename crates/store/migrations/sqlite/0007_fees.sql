-- Fees between libraries and their monthly settlement. Amounts are integer minor units plus a
-- currency code; nothing here is ever a float.

-- A lender's fee schedule (JSON domain::fees::FeeSchedule): rates per service, partner groups,
-- reciprocal groups, currency. A library without a row charges nothing.
CREATE TABLE fee_schedule (
    library_id TEXT PRIMARY KEY REFERENCES library (library_id),
    schedule   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One charge, written in the transaction of the shipment that caused it. `month` is the
-- settlement month it counts in: the month it happened, or, when that month was already
-- closed, the first open month after it (kind = 'correction'), so a closed month never changes.
CREATE TABLE fee_transaction (
    fee_transaction_id INTEGER PRIMARY KEY,
    lender_id          TEXT NOT NULL REFERENCES library (library_id),
    borrower_id        TEXT NOT NULL REFERENCES library (library_id),
    lend_request_id    TEXT NOT NULL,
    borrow_request_id  TEXT NOT NULL,
    service            TEXT NOT NULL,          -- loan | copy
    amount_minor       INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    basis              TEXT NOT NULL,          -- how the amount was reached, for statements
    occurred_at        TEXT NOT NULL,
    month              TEXT NOT NULL,          -- YYYY-MM
    kind               TEXT NOT NULL CHECK (kind IN ('charge', 'correction'))
);
-- Netting reads a month's rows by pair and currency, and counts its corrections: the index
-- alone answers both.
CREATE INDEX fee_transaction_month ON fee_transaction (month, lender_id, borrower_id, currency, amount_minor, kind);
CREATE INDEX fee_transaction_lend ON fee_transaction (lend_request_id);
CREATE INDEX fee_transaction_borrow ON fee_transaction (borrow_request_id);

-- A closed month: closing again gives back what is stored here.
CREATE TABLE settlement (
    month       TEXT PRIMARY KEY,
    mode        TEXT NOT NULL CHECK (mode IN ('bilateral', 'hub')),
    closed_at   TEXT NOT NULL,
    closed_by   TEXT NOT NULL,
    charges     INTEGER NOT NULL,
    corrections INTEGER NOT NULL
);

-- Each library's position in a closed month: against each partner (bilateral) or against the
-- clearing centre (hub, counterparty_id NULL). net_minor > 0: the library is paid.
CREATE TABLE settlement_line (
    settlement_line_id INTEGER PRIMARY KEY,
    month              TEXT NOT NULL REFERENCES settlement (month),
    library_id         TEXT NOT NULL REFERENCES library (library_id),
    counterparty_id    TEXT REFERENCES library (library_id),
    currency           TEXT NOT NULL,
    receivable_minor   INTEGER NOT NULL,
    payable_minor      INTEGER NOT NULL,
    net_minor          INTEGER NOT NULL,
    charges            INTEGER NOT NULL
);
CREATE INDEX settlement_line_month ON settlement_line (month, library_id);
