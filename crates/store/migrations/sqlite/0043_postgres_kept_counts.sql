-- PostgreSQL now keeps the staff queues' counts too (see the PostgreSQL migration 0043). SQLite
-- has kept them since 0019; nothing changes here. The statement keeps the migration from being
-- empty, so that both engines count the same migrations.
SELECT 1;
