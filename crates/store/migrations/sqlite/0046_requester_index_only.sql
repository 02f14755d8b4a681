-- PostgreSQL's 0046 lets its requester indexes answer a requester search alone. SQLite's were
-- not measured slow and are left as they are; the statement keeps both engines' migrations in
-- step.
SELECT 1;
