-- SQLite's times are rewritten into one fixed-width text form (see its 0033). PostgreSQL
-- stores times as TIMESTAMPTZ, which compare as times whatever was sent; it needs no change.
-- This file keeps the versions of both engines the same.
SELECT 1;
