-- The lending queue's search at scale (issue 6). Searching the active queue, or the whole
-- history, compared the title of every row. Now each kind of search has its own index.
--
-- Title words anywhere in the title: a trigram GIN index (pg_trgm, shipped with PostgreSQL and
-- a trusted extension from version 13, so the database's owner may create it). LIKE '%…%' of
-- three characters or more is answered from it; the planner reads the rows instead when most
-- of them match. Where the extension cannot be created (an older server, a role without
-- CREATE on the database), the index is left out with a notice: searches give the same rows,
-- only slower, and the server still starts.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX lend_request_title_trgm ON lend_request USING gin (lower(title) gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): lending title searches run without their index', SQLERRM;
END
$$;

-- A barcode or request id by its start (LIKE 'abc%', text_pattern_ops whatever the database's
-- collation), the requesting library by its code or agency id. A requester has many requests,
-- most of them closed: its indexes end with the state, so that a search of the working queue
-- reads only the open ones.
CREATE INDEX lend_request_barcode_lc ON lend_request (library_id, lower(barcode) text_pattern_ops);
CREATE INDEX lend_request_id_lc ON lend_request (library_id, lower(request_id) text_pattern_ops);
CREATE INDEX lend_request_borrower_request_lc ON lend_request (library_id, lower(borrower_request_id) text_pattern_ops);
CREATE INDEX lend_request_agency_lc ON lend_request (library_id, lower(borrower_agency), state);
CREATE INDEX lend_request_borrower_lc ON lend_request (library_id, lower(borrower_id), state);

-- A request's communications log in threads: a note, a note to the partner or the partner's
-- own message may answer an earlier message, or close its thread (event thread_closed).
-- reply_to is the thread's first message: threads are one level deep, as a log of letters is.
ALTER TABLE request_event ADD COLUMN reply_to BIGINT;
CREATE INDEX request_event_reply ON request_event (reply_to) WHERE reply_to IS NOT NULL;
-- The borrowers' messages, for the lending queue's "partner notes" facet: a few rows among
-- the millions of events, so only they are indexed (no cost to any other event's insert).
CREATE INDEX request_event_partner_message ON request_event (library_id, request_id)
    WHERE action = 'borrower_notification';

-- Messages from before threads existed: a note to the partner written after a partner's
-- message answered it (the last such message before the note), so a request whose partner
-- was already answered does not show as waiting after the upgrade.
UPDATE request_event
   SET reply_to = (
        SELECT max(m.event_id) FROM request_event m
         WHERE m.library_id = request_event.library_id
           AND m.request_id = request_event.request_id
           AND m.action IN ('borrower_notification', 'lender_notification')
           AND m.event_id < request_event.event_id)
 WHERE action = 'note_to_partner' AND reply_to IS NULL;
