-- SQLite's full-text index of lending titles now keys each title by its library (see its
-- 0032). PostgreSQL's trigram index is on lend_request itself, whose rows carry the library;
-- it needs no change. This file keeps the versions of both engines the same.
SELECT 1;
