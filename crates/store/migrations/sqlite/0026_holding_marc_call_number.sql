-- The call number a library's MARC record last gave each of its items. A re-imported record
-- that no longer gives one clears the item's call number only when the call number is still
-- the one the record gave: a value a holdings spreadsheet merged in is kept, and a record that
-- drops its call number does not keep the old one. Items imported before this column existed
-- have none recorded, so for them a missing call number keeps the old one as before.
ALTER TABLE holding ADD COLUMN marc_call_number TEXT;
