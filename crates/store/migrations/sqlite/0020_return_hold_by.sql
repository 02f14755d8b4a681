-- ISO 18626:2021 lets either side hold the return of a loan (issue 4): the lender asks the
-- borrower not to send the item back yet (status HoldReturn, until ReleaseHoldReturn), and the
-- borrower tells the lender it keeps the item a while (action HoldReturn, until it ships the
-- return). Both can be open on one loan at once, so a hold is now keyed by request and by who
-- holds; staff pages say who holds it, since when, who set it and why. Holds made before this
-- migration were all the lender's.
CREATE TABLE return_hold_by (
    request_id  TEXT NOT NULL,            -- a borrow_request or lend_request id, as side says
    held_by     TEXT NOT NULL CHECK (held_by IN ('lender', 'borrower')),
    library_id  TEXT NOT NULL REFERENCES library (library_id),
    side        TEXT NOT NULL CHECK (side IN ('borrow', 'lend')),
    held_at     TEXT NOT NULL,
    actor       TEXT,                     -- the staff member, or the partner's agency, that set it
    note        TEXT,                     -- the reason given with it
    PRIMARY KEY (request_id, held_by)
);
INSERT INTO return_hold_by (request_id, held_by, library_id, side, held_at)
    SELECT request_id, 'lender', library_id, side, held_at FROM return_hold;
DROP TABLE return_hold;
ALTER TABLE return_hold_by RENAME TO return_hold;

-- A hub that could not deliver a relayed message tells the sender with the relayed request's
-- last known status: found among the hub's relayed messages of that request. Only relay rows
-- are indexed, so the libraries' own messages cost nothing more to write.
CREATE INDEX outbox_relay_thread ON outbox (request_id) WHERE side = 'relay';
