-- The lending queue's title search by library (issue 6). The full-text index of titles (0029)
-- holds every library's requests, and its candidates were only narrowed to the searching
-- library once each was read from lend_request: on a hub, a word common in other libraries'
-- titles made the search count (and, below its limit, read) all of their requests. Each
-- indexed title's key row now says its library, so candidates of other libraries are dropped
-- where the key is read, before any request is.
ALTER TABLE lend_title_doc ADD COLUMN library_id TEXT;
UPDATE lend_title_doc
   SET library_id = (SELECT r.library_id FROM lend_request r WHERE r.request_id = lend_title_doc.request_id);

DROP TRIGGER lend_request_title_insert;
CREATE TRIGGER lend_request_title_insert AFTER INSERT ON lend_request BEGIN
    INSERT INTO lend_title_doc (request_id, library_id) VALUES (NEW.request_id, NEW.library_id);
    INSERT INTO lend_title_fts (rowid, title) VALUES (last_insert_rowid(), NEW.title || char(1, 1));
END;

-- A request moved to another library takes its title's key with it.
CREATE TRIGGER lend_request_title_library AFTER UPDATE OF library_id ON lend_request
WHEN OLD.library_id IS NOT NEW.library_id BEGIN
    UPDATE lend_title_doc SET library_id = NEW.library_id WHERE request_id = NEW.request_id;
END;
