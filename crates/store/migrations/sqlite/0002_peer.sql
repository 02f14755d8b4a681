-- A partner library that another system (or another librelay node) serves: how it is reached
-- over ISO 18626 (JSON domain::peer::PeerProfile). Messages to a library with a row here go out
-- over HTTP; messages claiming to come from it are checked against its inbound credentials.
CREATE TABLE peer (
    library_id TEXT PRIMARY KEY REFERENCES library (library_id),
    profile    TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Messages of one request go out in order: a message waits while an earlier one to the same
-- recipient is in flight or waiting for its retry.
CREATE INDEX outbox_pending_request ON outbox (request_id, recipient) WHERE status = 'pending';
