-- Holdings by record are found through the unique (record_id, library_id, barcode) index,
-- which begins with record_id; this one only cost a write per holding. (On SQLite this
-- migration also keeps catalog_key WITHOUT ROWID; PostgreSQL tables have no rowid B-tree.)
DROP INDEX holding_record;
