-- The lending queue's search at scale (issue 6). Searching the active queue read the title of
-- every active row (58-60 ms at p95 with 20,000 active of 1,000,000), and a search of the whole
-- history read every row. Now each kind of search has its own index:
--
-- Title words anywhere in the title: an FTS5 index of trigrams. Trigrams need no word breaks,
-- so Chinese titles (no spaces) are searched like any other. The index only finds candidates;
-- the query still compares lower(title) LIKE '%…%' on them, so the results are what they were.
-- Two characters (char(1)) are appended to each indexed title so that every one- or
-- two-character search is the start of some trigram: those are found from the index's terms
-- (lend_title_term) by range.
--
-- The index is contentless (the titles are in lend_request) and keyed by its own integer
-- (lend_title_doc), not by lend_request's rowid, which VACUUM may renumber.
CREATE TABLE lend_title_doc (
    doc        INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE lend_title_fts USING fts5 (
    title, content = '', contentless_delete = 1, tokenize = 'trigram'
);
CREATE VIRTUAL TABLE lend_title_term USING fts5vocab (lend_title_fts, instance);

INSERT INTO lend_title_doc (request_id) SELECT request_id FROM lend_request ORDER BY rowid;
INSERT INTO lend_title_fts (rowid, title)
    SELECT d.doc, r.title || char(1, 1) FROM lend_title_doc d JOIN lend_request r ON r.request_id = d.request_id;

-- Kept in the transaction of every insert, title change or delete. A state change does not
-- touch them (the title is all they read).
CREATE TRIGGER lend_request_title_insert AFTER INSERT ON lend_request BEGIN
    INSERT INTO lend_title_doc (request_id) VALUES (NEW.request_id);
    INSERT INTO lend_title_fts (rowid, title) VALUES (last_insert_rowid(), NEW.title || char(1, 1));
END;

CREATE TRIGGER lend_request_title_update AFTER UPDATE OF title ON lend_request
WHEN OLD.title IS NOT NEW.title BEGIN
    DELETE FROM lend_title_fts WHERE rowid = (SELECT doc FROM lend_title_doc WHERE request_id = OLD.request_id);
    INSERT INTO lend_title_fts (rowid, title)
        SELECT doc, NEW.title || char(1, 1) FROM lend_title_doc WHERE request_id = NEW.request_id;
END;

CREATE TRIGGER lend_request_title_delete AFTER DELETE ON lend_request BEGIN
    DELETE FROM lend_title_fts WHERE rowid = (SELECT doc FROM lend_title_doc WHERE request_id = OLD.request_id);
    DELETE FROM lend_title_doc WHERE request_id = OLD.request_id;
END;

-- A barcode or request id by its start, the requesting library by its code or agency id:
-- each compared expression has its own index, so a search of the whole history finds its rows
-- without reading the others. A requester has many requests, most of them closed: its indexes
-- end with the state, so that a search of the working queue reads only the open ones.
CREATE INDEX lend_request_barcode_lc ON lend_request (library_id, lower(barcode));
CREATE INDEX lend_request_id_lc ON lend_request (library_id, lower(request_id));
CREATE INDEX lend_request_borrower_request_lc ON lend_request (library_id, lower(borrower_request_id));
CREATE INDEX lend_request_agency_lc ON lend_request (library_id, lower(borrower_agency), state);
CREATE INDEX lend_request_borrower_lc ON lend_request (library_id, lower(borrower_id), state);

-- A request's communications log in threads: a note, a note to the partner or the partner's
-- own message may answer an earlier message, or close its thread (event thread_closed).
-- reply_to is the thread's first message: threads are one level deep, as a log of letters is.
ALTER TABLE request_event ADD COLUMN reply_to INTEGER;
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
