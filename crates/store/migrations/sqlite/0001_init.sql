-- librelay schema, SQLite. The PostgreSQL tree has the same tables and columns; a test checks.
-- Timestamps are UTC (sqlx writes them as text that sorts in time order), money is integer
-- minor units plus a currency code, enumerations are TEXT checked by the domain layer.

-- A library is a tenant: every request, user and event row names one.
CREATE TABLE library (
    library_id   TEXT PRIMARY KEY,            -- the library code, e.g. PKU
    agency_type  TEXT NOT NULL,               -- ISO 18626 agency id type, e.g. ISIL
    agency_value TEXT NOT NULL,
    name_en      TEXT NOT NULL,
    name_zh      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    region       TEXT NOT NULL,
    address      TEXT NOT NULL DEFAULT '',
    hub_id       TEXT REFERENCES library (library_id),
    closed_days  TEXT NOT NULL DEFAULT '{}',   -- JSON: {weekdays: [...], dates: [...]}
    created_at   TEXT NOT NULL,
    UNIQUE (agency_type, agency_value)
);

-- What a lender (library_id) grants a borrowing partner. partner_id NULL is the default for
-- every partner without its own row.
CREATE TABLE partner_policy (
    partner_policy_id INTEGER PRIMARY KEY,
    library_id        TEXT NOT NULL REFERENCES library (library_id),
    partner_id        TEXT REFERENCES library (library_id),
    policy            TEXT NOT NULL,          -- JSON domain::library::PartnerPolicy
    UNIQUE (library_id, partner_id)
);

CREATE TABLE app_user (
    user_id       TEXT PRIMARY KEY,
    library_id    TEXT NOT NULL REFERENCES library (library_id),
    username      TEXT NOT NULL UNIQUE,      -- one account across the hub
    display_name  TEXT NOT NULL,
    email         TEXT,
    password_hash TEXT NOT NULL,
    kind          TEXT NOT NULL,             -- patron | staff
    patron_type   TEXT,
    department    TEXT,
    roles         TEXT NOT NULL DEFAULT '',  -- comma-separated staff roles
    status        TEXT NOT NULL,             -- pending | active | suspended
    locale        TEXT NOT NULL DEFAULT 'zh-CN',
    created_at    TEXT NOT NULL
);
CREATE INDEX app_user_library ON app_user (library_id, kind);

-- API tokens are stored as SHA-256 hashes; the token itself is shown once.
CREATE TABLE api_token (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES app_user (user_id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX api_token_user ON api_token (user_id);

-- Catalog records (a union catalog later) and who holds them.
CREATE TABLE catalog_record (
    record_id         TEXT PRIMARY KEY,
    title             TEXT NOT NULL,
    author            TEXT,
    publisher         TEXT,
    year              TEXT,
    isbn              TEXT,                  -- normalised ISBN-13 of the first ISBN
    issn              TEXT,
    oclc_number       TEXT,
    lccn              TEXT,
    language          TEXT,
    title_vernacular  TEXT,
    author_vernacular TEXT,
    created_at        TEXT NOT NULL
);
CREATE INDEX catalog_record_isbn ON catalog_record (isbn);
CREATE INDEX catalog_record_issn ON catalog_record (issn);
CREATE INDEX catalog_record_oclc ON catalog_record (oclc_number);

CREATE TABLE holding (
    holding_id  INTEGER PRIMARY KEY,
    record_id   TEXT NOT NULL REFERENCES catalog_record (record_id),
    library_id  TEXT NOT NULL REFERENCES library (library_id),
    call_number TEXT,
    barcode     TEXT,
    UNIQUE (record_id, library_id, barcode)
);
CREATE INDEX holding_library ON holding (library_id);

-- A reader's request, seen from the borrowing library.
CREATE TABLE borrow_request (
    request_id      TEXT PRIMARY KEY,        -- also the ISO 18626 requestingAgencyRequestId
    library_id      TEXT NOT NULL REFERENCES library (library_id),
    patron_id       TEXT NOT NULL REFERENCES app_user (user_id),
    format          TEXT NOT NULL,
    state           TEXT NOT NULL,
    title           TEXT NOT NULL,           -- copied out of citation for lists and search
    citation        TEXT NOT NULL,           -- JSON domain::citation::Citation
    rota            TEXT NOT NULL,           -- JSON domain::rota::Rota
    lender_id       TEXT REFERENCES library (library_id),
    lender_request_id TEXT,                  -- the lender's supplyingAgencyRequestId
    send_seq        INTEGER NOT NULL DEFAULT 0,   -- sends so far; the wire id of send n is request_id.n
    lender_deadline TEXT,
    due_date        TEXT,
    cancel_pending  INTEGER NOT NULL DEFAULT 0,
    renew_pending   INTEGER NOT NULL DEFAULT 0,
    overdue         INTEGER NOT NULL DEFAULT 0,
    recalled        INTEGER NOT NULL DEFAULT 0,
    created_by      TEXT NOT NULL REFERENCES app_user (user_id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX borrow_request_library ON borrow_request (library_id, state, updated_at);
CREATE INDEX borrow_request_patron ON borrow_request (patron_id, created_at);
-- The deadline sweep reads only requests that have a deadline.
CREATE INDEX borrow_request_deadline ON borrow_request (lender_deadline) WHERE lender_deadline IS NOT NULL;

-- A partner's request, seen from the lending library.
CREATE TABLE lend_request (
    request_id        TEXT PRIMARY KEY,      -- also our supplyingAgencyRequestId
    library_id        TEXT NOT NULL REFERENCES library (library_id),
    borrower_agency   TEXT NOT NULL,         -- TYPE:VALUE of the requesting agency
    borrower_id       TEXT REFERENCES library (library_id),  -- when the borrower is known here
    borrower_request_id TEXT NOT NULL,       -- their requestingAgencyRequestId
    format            TEXT NOT NULL,
    state             TEXT NOT NULL,
    title             TEXT NOT NULL,
    citation          TEXT NOT NULL,
    iso_version       TEXT NOT NULL,         -- the schema version the borrower speaks
    call_number       TEXT,
    barcode           TEXT,
    due_date          TEXT,
    renew_pending     INTEGER NOT NULL DEFAULT 0,
    assignee_id       TEXT REFERENCES app_user (user_id),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    version           INTEGER NOT NULL DEFAULT 0,
    -- the same Request delivered twice is one lending request
    UNIQUE (library_id, borrower_agency, borrower_request_id)
);
CREATE INDEX lend_request_library ON lend_request (library_id, state, updated_at);
CREATE INDEX lend_request_borrower ON lend_request (library_id, borrower_request_id);

-- Every state change and every message, for history, statistics and audit.
CREATE TABLE request_event (
    event_id     INTEGER PRIMARY KEY,
    library_id   TEXT NOT NULL REFERENCES library (library_id),
    side         TEXT NOT NULL,              -- borrow | lend
    request_id   TEXT NOT NULL,
    at           TEXT NOT NULL,
    actor_id     TEXT,                       -- the user, when a person acted
    actor        TEXT NOT NULL,              -- patron | borrowing_staff | ... | peer | system
    action       TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT NOT NULL,
    note         TEXT,
    message_id   INTEGER,                    -- the outbox row this event sent, if any
    data         TEXT                        -- JSON details (reason codes, due dates...)
);
CREATE INDEX request_event_request ON request_event (request_id, event_id);
CREATE INDEX request_event_library ON request_event (library_id, at);

-- Messages to send, written in the transaction of the change that caused them.
CREATE TABLE outbox (
    outbox_id       INTEGER PRIMARY KEY,
    library_id      TEXT NOT NULL REFERENCES library (library_id),  -- the sender
    request_id      TEXT NOT NULL,
    side            TEXT NOT NULL,
    kind            TEXT NOT NULL,           -- request | supplying_agency_message | requesting_agency_message
    recipient       TEXT NOT NULL,           -- TYPE:VALUE agency id
    payload         TEXT NOT NULL,           -- the ISO 18626 XML
    status          TEXT NOT NULL,           -- pending | delivered | failed | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    confirmation    TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

-- Messages received, by a digest of their identifying fields: the same message delivered twice
-- gets the same confirmation and changes nothing.
CREATE TABLE inbox (
    library_id   TEXT NOT NULL REFERENCES library (library_id),
    message_key  TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    confirmation TEXT NOT NULL,
    PRIMARY KEY (library_id, message_key)
);
