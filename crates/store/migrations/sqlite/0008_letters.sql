-- Letters a library has rewritten for itself, by kind and language. A letter without a row
-- here uses the default shipped in the server; deleting the row returns to it.
CREATE TABLE letter_template (
    library_id TEXT NOT NULL REFERENCES library (library_id),
    kind       TEXT NOT NULL,
    locale     TEXT NOT NULL,            -- zh-CN | en
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_by TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (library_id, kind, locale)
);

-- A library's letter rules (JSON domain::library::LetterSettings: days before the due date
-- for the reminder, whether readers may turn letters off); without a row, the defaults.
CREATE TABLE letter_settings (
    library_id TEXT PRIMARY KEY REFERENCES library (library_id),
    settings   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- How a person wants each kind of letter: immediate | digest | never. No row: immediate.
CREATE TABLE letter_preference (
    user_id    TEXT NOT NULL REFERENCES app_user (user_id),
    kind       TEXT NOT NULL,
    delivery   TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- Reminders already queued, one per request, kind and due date: the sweep inserts here in the
-- transaction that queues the letter, so a reminder is never sent twice for the same due date
-- (a renewal gives a new due date, and a new reminder).
CREATE TABLE letter_reminder (
    request_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    due_date   TEXT NOT NULL,
    queued_at  TEXT NOT NULL,
    PRIMARY KEY (request_id, kind, due_date)
);

-- Letters held for a person's daily digest (the queued letter, JSON), until the digest that
-- carries them is queued.
CREATE TABLE letter_digest (
    letter_digest_id INTEGER PRIMARY KEY,
    library_id       TEXT NOT NULL REFERENCES library (library_id),
    user_id          TEXT NOT NULL REFERENCES app_user (user_id),
    payload          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    sent_at          TEXT
);
CREATE INDEX letter_digest_pending ON letter_digest (user_id) WHERE sent_at IS NULL;

-- Password reset links: only the SHA-256 of the token is kept; single use, time-limited.
CREATE TABLE password_reset (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES app_user (user_id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX password_reset_user ON password_reset (user_id);

-- The background jobs as staff see them: last start and end, how the last run went, when the
-- next is due. A run holds the row's lease so two processes do not run the same job at once.
CREATE TABLE job_run (
    job         TEXT PRIMARY KEY,
    last_start  TEXT,
    last_end    TEXT,
    last_result TEXT,
    last_error  TEXT,
    failures    INTEGER NOT NULL DEFAULT 0,
    next_run    TEXT,
    lease_until TEXT
);
