-- PostgreSQL's 0047 gives the open requests' titles their own indexes. SQLite's title search
-- (FTS5, 0029) was not measured slow and is left as it is; the statement keeps both engines'
-- migrations in step.
SELECT 1;
