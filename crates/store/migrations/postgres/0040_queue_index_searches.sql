-- SQLite's queue index now carries the lowered expressions its search compares, and its
-- separate search index is gone (see its 0040). PostgreSQL searches through its own indexes
-- (0029: trigrams for titles, text_pattern_ops for starts); this file keeps the versions of
-- both engines the same.
SELECT 1;
