-- Holdings by record are found through the unique (record_id, library_id, barcode) index,
-- which begins with record_id; this one only cost a write per holding (an import writes a
-- quarter of a million of them for the LoC test file).
DROP INDEX holding_record;
