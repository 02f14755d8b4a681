-- Delivered copies. A file is stored once (object storage: the data dir or S3) and named by its
-- owner library; the lender's upload is what the borrowing library and its reader receive.
CREATE TABLE stored_file (
    file_id           TEXT PRIMARY KEY,
    library_id        TEXT NOT NULL REFERENCES library (library_id),  -- who stored it
    lend_request_id   TEXT,                    -- the lending request it was uploaded for
    filename          TEXT NOT NULL,
    content_type      TEXT NOT NULL,           -- detected from the content, not the name
    size_bytes        BIGINT NOT NULL,
    sha256            TEXT NOT NULL,
    storage_key       TEXT NOT NULL,
    fetch_token_hash  TEXT,                    -- SHA-256 of the borrowing library's fetch key
    created_at        TIMESTAMPTZ NOT NULL,
    purged_at         TIMESTAMPTZ                      -- set when the bytes were deleted
);
CREATE INDEX stored_file_lend ON stored_file (lend_request_id);

-- What the borrowing library received for a request: the partner's address and, once the
-- copy is here, the stored file.
ALTER TABLE borrow_request ADD COLUMN document_url TEXT;
ALTER TABLE borrow_request ADD COLUMN document_file_id TEXT REFERENCES stored_file (file_id);

-- A reader's link to a delivered copy: only that reader, a limited number of views (NULL: no
-- limit) until a date. Every view is also an event of the request.
CREATE TABLE delivery_link (
    link_id           TEXT PRIMARY KEY,
    token_hash        TEXT NOT NULL UNIQUE,    -- SHA-256 of the token in the reader's link
    library_id        TEXT NOT NULL REFERENCES library (library_id),
    borrow_request_id TEXT NOT NULL REFERENCES borrow_request (request_id),
    patron_id         TEXT NOT NULL REFERENCES app_user (user_id),
    file_id           TEXT NOT NULL REFERENCES stored_file (file_id),
    max_views         BIGINT,
    views             BIGINT NOT NULL DEFAULT 0,
    expires_at        TIMESTAMPTZ NOT NULL,
    revoked_at        TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX delivery_link_request ON delivery_link (borrow_request_id);
CREATE INDEX delivery_link_expiry ON delivery_link (expires_at) WHERE revoked_at IS NULL;
