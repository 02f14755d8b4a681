-- An import writes a catalog_key row for every identifier of every record and looks each one
-- up first (about two a record). As a rowid table with a text primary key, each write went
-- into two B-trees (the rows and the key's index) and each look-up read both. WITHOUT ROWID,
-- the rows are kept in the key's own B-tree: one write and one read.
CREATE TABLE catalog_key_by_key (
    match_key  TEXT PRIMARY KEY,
    record_id  TEXT NOT NULL REFERENCES catalog_record (record_id)
) WITHOUT ROWID;
INSERT INTO catalog_key_by_key (match_key, record_id) SELECT match_key, record_id FROM catalog_key;
DROP TABLE catalog_key;
ALTER TABLE catalog_key_by_key RENAME TO catalog_key;
CREATE INDEX catalog_key_record ON catalog_key (record_id);

-- Holdings by record are found through the unique (record_id, library_id, barcode) index,
-- which begins with record_id; this one only cost a write per holding.
DROP INDEX holding_record;
