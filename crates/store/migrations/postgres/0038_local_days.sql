-- Days and months in each library's own time (issue 3).
--
-- The lending queue's "created" and "modified" buckets are counted from the library's
-- midnight; PostgreSQL keeps no queue counts (0019), so nothing is stored for them here (the
-- SQLite tree's 0038 recounts its kept counts in the library's days).
--
-- A statistics summary's month is its library's month: a request made at 07:30 on 1 March at
-- +08:00 (23:30 UTC on 28 February) counts in March. Taken again from each summary's time and
-- its library's offset; the store does the same for one library when its offset changes.
UPDATE request_fact f
   SET month = CAST(to_char((f.created_at AT TIME ZONE 'UTC')
                            + make_interval(mins => CAST(l.utc_offset_minutes AS INTEGER)), 'YYYYMM') AS BIGINT)
  FROM library l
 WHERE l.library_id = f.library_id;
