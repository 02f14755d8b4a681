-- The copyright cover page of delivered PDFs (issue 7). A PDF's structure is read once, when
-- it is stored, and what a cover needs is kept here (JSON: how to append the cover page, or why
-- the file is delivered unchanged, e.g. it is encrypted), so that each view only appends a
-- small update to the original bytes instead of parsing the whole file again. NULL: not read
-- yet (copies stored before this column, and files that are not PDFs).
ALTER TABLE stored_file ADD COLUMN cover_plan TEXT;

-- A licensed title that covers a requested article but for its embargo is kept as a flag of
-- its own ('embargoed', with the day the embargo lifts), shown to staff and the reader instead
-- of being only logged. SQLite cannot change a CHECK in place: the table is copied.
CREATE TABLE request_availability_new (
    request_id TEXT NOT NULL REFERENCES borrow_request (request_id),
    source     TEXT NOT NULL CHECK (source IN ('licensed', 'open_access')),
    library_id TEXT NOT NULL REFERENCES library (library_id),
    status     TEXT NOT NULL CHECK (status IN ('available', 'unchecked', 'embargoed')),
    url        TEXT,
    detail     TEXT NOT NULL,             -- reasons in both languages and what was matched
    created_at TEXT NOT NULL,
    PRIMARY KEY (request_id, source)
);
INSERT INTO request_availability_new (request_id, source, library_id, status, url, detail, created_at)
    SELECT request_id, source, library_id, status, url, detail, created_at FROM request_availability;
DROP TABLE request_availability;
ALTER TABLE request_availability_new RENAME TO request_availability;
