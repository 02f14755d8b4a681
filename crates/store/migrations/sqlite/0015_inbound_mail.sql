-- Mail received by the inbound SMTP endpoint: replies from email partners and bounces of the
-- letters and partner mail we sent. Each is filed on the borrowing request its address,
-- subject or quoted headers name; mail that names none (request_id NULL) waits in the
-- unmatched list of the library it names, or of the node (library_id NULL) for hub admins.
-- The raw message is kept whole: nothing that was accepted is lost.
CREATE TABLE inbound_mail (
    inbound_mail_id INTEGER PRIMARY KEY,
    library_id      TEXT REFERENCES library (library_id),
    request_id      TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('reply', 'bounce')),
    envelope_from   TEXT NOT NULL,
    envelope_to     TEXT NOT NULL,               -- the RCPT TO addresses, comma separated
    from_header     TEXT NOT NULL,
    subject         TEXT NOT NULL,
    message_id      TEXT,
    body            TEXT NOT NULL,               -- the readable text, decoded
    raw             BLOB NOT NULL,
    received_at     TEXT NOT NULL,
    filed_by        TEXT,                        -- the staff member who filed it by hand
    filed_at        TEXT
);
CREATE INDEX inbound_mail_request ON inbound_mail (request_id, inbound_mail_id);
CREATE INDEX inbound_mail_unmatched ON inbound_mail (library_id, inbound_mail_id) WHERE request_id IS NULL;
-- A mail server that did not hear our "250" delivers the same mail again: one row per
-- Message-ID, sender and recipients.
CREATE UNIQUE INDEX inbound_mail_once ON inbound_mail (message_id, envelope_from, envelope_to)
    WHERE message_id IS NOT NULL;
