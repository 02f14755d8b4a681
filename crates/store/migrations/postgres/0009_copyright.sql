-- Copyright compliance and duplicate requests (issue 7).

-- Each library's copyright terms (JSON domain::copyright::CopyrightSettings): the reader's
-- declaration in both languages, the rule-of-five limit and window, the ISO 18626 compliance
-- code, the duplicate search window. A library without a row uses the defaults.
CREATE TABLE copyright_settings (
    library_id TEXT PRIMARY KEY REFERENCES library (library_id),
    settings   JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- One row per article copy request: the journal it is counted under, the calendar year of the
-- request, and whether it needed and got clearance. The rule of five counts these rows, so the
-- count does not depend on citations being re-read or re-normalised later.
CREATE TABLE copyright_use (
    request_id       TEXT PRIMARY KEY REFERENCES borrow_request (request_id),
    library_id       TEXT NOT NULL REFERENCES library (library_id),
    journal_key      TEXT NOT NULL,           -- issn:XXXX-XXXX or title:<normalised title>
    journal_title    TEXT NOT NULL,
    issn             TEXT,
    pub_year         BIGINT,
    use_year         BIGINT NOT NULL,        -- calendar year the copy was asked for
    counted          BOOLEAN NOT NULL,        -- recent enough to count against the limit
    earlier          BIGINT NOT NULL,        -- counted copies of the journal before this one
    clearance        TEXT NOT NULL,           -- not_needed | required | royalty_paid | permission | override
    cleared_by       TEXT REFERENCES app_user (user_id),
    cleared_at       TIMESTAMPTZ,
    clearance_note   TEXT,
    royalty_minor    BIGINT,                 -- a royalty paid, in minor units
    royalty_currency TEXT,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX copyright_use_journal ON copyright_use (library_id, use_year, journal_key);

-- Keys of each borrowing request's citation (identifiers and title blocking keys, see
-- domain::duplicate): a new request finds the earlier ones it may repeat through this index
-- instead of comparing itself with every request of the library.
CREATE TABLE request_match_key (
    library_id TEXT NOT NULL REFERENCES library (library_id),
    match_key  TEXT NOT NULL,
    request_id TEXT NOT NULL REFERENCES borrow_request (request_id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (library_id, match_key, request_id)
);

-- A request found to repeat an earlier one of the same library.
CREATE TABLE request_duplicate (
    request_id         TEXT PRIMARY KEY REFERENCES borrow_request (request_id),
    library_id         TEXT NOT NULL REFERENCES library (library_id),
    earlier_request_id TEXT NOT NULL REFERENCES borrow_request (request_id),
    matched_by         TEXT NOT NULL,         -- doi | pmid | isbn | citation
    score_percent      BIGINT NOT NULL,      -- title similarity for citation matches, else 100
    created_at         TIMESTAMPTZ NOT NULL
);
