-- The union catalog. catalog_record becomes the union record: one row per work, clustered across
-- member libraries on shared identifiers. Each library's own MARC record is a catalog_source row
-- under it, so a re-import finds and updates that library's record in place, and the union
-- record lists the holdings of every member.

-- One library's bibliographic record as imported. Matched on re-import within its library by
-- the strongest identifier it has: 001, else the first 035, else the first ISBN.
CREATE TABLE catalog_source (
    source_id      TEXT PRIMARY KEY,
    record_id      TEXT NOT NULL REFERENCES catalog_record (record_id),
    library_id     TEXT NOT NULL REFERENCES library (library_id),
    control_number TEXT,                     -- 001 as given
    system_number  TEXT,                     -- first 035 $a as given
    isbn           TEXT,                     -- first valid ISBN, as 13 digits
    bib            TEXT NOT NULL,            -- JSON of the mapped fields: rebuilds the index
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX catalog_source_control ON catalog_source (library_id, control_number);
CREATE INDEX catalog_source_system ON catalog_source (library_id, system_number);
CREATE INDEX catalog_source_isbn ON catalog_source (library_id, isbn);
CREATE INDEX catalog_source_record ON catalog_source (record_id);

-- What records cluster on: 'isbn:<13 digits>', 'issn:<NNNN-NNNC>', 'oclc:<number>', and
-- 'work:<normalised title>|<author>|<year>' for records with none of those. A key names one
-- union record; a new record joins the union record of its first key that is already known.
CREATE TABLE catalog_key (
    match_key  TEXT PRIMARY KEY,
    record_id  TEXT NOT NULL REFERENCES catalog_record (record_id)
);
CREATE INDEX catalog_key_record ON catalog_key (record_id);

-- Holdings now come from a source record (852 or one per record); the demo's have none.
ALTER TABLE holding ADD COLUMN source_id TEXT REFERENCES catalog_source (source_id);
ALTER TABLE holding ADD COLUMN location TEXT;
CREATE INDEX holding_source ON holding (source_id);
CREATE INDEX holding_record ON holding (record_id);

-- Requests without identifiers are matched on the title.
CREATE INDEX catalog_record_title_lower ON catalog_record (lower(title));
