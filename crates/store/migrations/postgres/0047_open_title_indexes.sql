-- A title search of the working queue on PostgreSQL (issue 6). The title indexes of 0029
-- (trigrams) and 0045 (pairs of Chinese characters) hold every request of the history: at a
-- million requests a search of the few open ones walked the long entry lists of common
-- trigrams or pairs, 58-106 ms in `bench queue`, to keep a handful of rows.
--
-- Now the open requests' titles have their own, small indexes. The predicate is the lending
-- machine's open states, written exactly as the queue's queries name them (`queue.rs`,
-- OPEN_STATES_INDEXED, which a test compares with the machine and with this file): the
-- planner uses a partial index only for a query whose text implies its predicate. The
-- history's searches keep the indexes of 0029 and 0045.
DO $$
BEGIN
    CREATE INDEX lend_request_open_title_trgm ON lend_request USING gin (lower(title) gin_trgm_ops)
        WHERE state IN ('request_received', 'expect_to_supply', 'will_supply', 'pick_slip_printed', 'conditional_pending', 'shipped', 'overdue', 'recalled', 'return_shipped');
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): open title searches run without their index', SQLERRM;
END
$$;

CREATE INDEX lend_request_open_title_pairs ON lend_request USING gin (lend_title_pairs(lower(title)))
    WHERE state IN ('request_received', 'expect_to_supply', 'will_supply', 'pick_slip_printed', 'conditional_pending', 'shipped', 'overdue', 'recalled', 'return_shipped');
