-- PostgreSQL's 0044 gives its count triggers one definition of a lending request's counted
-- values; nothing changes here. The statement keeps both engines' migrations in step.
SELECT 1;
