-- Licensed e-resources and "available already?" (issue 7).

-- A KBART package a library imported: its titles are replaced whole when the same package is
-- imported again, so a publisher's updated list never leaves stale or doubled titles behind.
CREATE TABLE licence_package (
    library_id  TEXT NOT NULL REFERENCES library (library_id),
    package     TEXT NOT NULL,            -- the name given at import (by default the file name)
    titles      BIGINT NOT NULL,
    imported_by TEXT,
    imported_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (library_id, package)
);

-- One licensed title with its coverage (JSON domain::kbart::LicensedTitle). The identifiers
-- and the normalised title are columns because a new copy request looks titles up by them.
CREATE TABLE licensed_title (
    library_id TEXT NOT NULL,
    package    TEXT NOT NULL,
    line       BIGINT NOT NULL,           -- line of the KBART file
    title      TEXT NOT NULL,
    title_key  TEXT NOT NULL,             -- domain::kbart::title_key
    print_id   TEXT,                      -- print ISSN, or ISBN-13 for monographs
    online_id  TEXT,                      -- eISSN, or ISBN-13
    url        TEXT NOT NULL,
    coverage   JSONB NOT NULL,
    PRIMARY KEY (library_id, package, line),
    FOREIGN KEY (library_id, package) REFERENCES licence_package (library_id, package)
);
CREATE INDEX licensed_title_print ON licensed_title (library_id, print_id);
CREATE INDEX licensed_title_online ON licensed_title (library_id, online_id);
CREATE INDEX licensed_title_key ON licensed_title (library_id, title_key);

-- Where a new copy request was found available already, checked when it was created: the
-- library's licence (source `licensed`) or open access (`open_access`). `unchecked` records
-- that the open-access service could not be asked, so staff know it was not checked.
CREATE TABLE request_availability (
    request_id TEXT NOT NULL REFERENCES borrow_request (request_id),
    source     TEXT NOT NULL CHECK (source IN ('licensed', 'open_access')),
    library_id TEXT NOT NULL REFERENCES library (library_id),
    status     TEXT NOT NULL CHECK (status IN ('available', 'unchecked')),
    url        TEXT,
    detail     JSONB NOT NULL,             -- reasons in both languages and what was matched
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (request_id, source)
);

-- The lender's stored copy of a digital shipment (issue 7): a borrowing library on another
-- node fetches it once and keeps its own copy from then on, so the lender deletes its copy a
-- day after that first fetch instead of keeping it for ever.
ALTER TABLE stored_file ADD COLUMN fetched_at TIMESTAMPTZ;
