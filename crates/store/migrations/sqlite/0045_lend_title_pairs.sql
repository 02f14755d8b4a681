-- PostgreSQL's 0045 indexes pairs of title characters for its two-character searches; SQLite
-- has found them through its trigram terms since 0029. The statement keeps both engines'
-- migrations in step.
SELECT 1;
