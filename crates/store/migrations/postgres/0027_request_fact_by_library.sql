-- SQLite keeps the statistics summaries in (library_id, created_at) order from this version
-- on (see its 0027). PostgreSQL reads a library's period through request_fact_library with a
-- bitmap scan, which already visits the table in page order, and groups a report's rows
-- itself; it needs no change. This file keeps the versions of both engines the same.
SELECT 1;
