-- The union record's isbn, issn and oclc_number are display fields: every lookup by identifier
-- (clustering, re-import, holders, locate) goes through catalog_key, and no query reads these
-- three indexes. Each cost an index entry per union record on every import (250,000 records:
-- three quarters of a million B-tree inserts for nothing).
DROP INDEX catalog_record_isbn;
DROP INDEX catalog_record_issn;
DROP INDEX catalog_record_oclc;
