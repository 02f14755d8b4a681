-- ISO 18626:2021 lets either side hold the return of a loan (issue 4): the lender asks the
-- borrower not to send the item back yet (status HoldReturn, until ReleaseHoldReturn), and the
-- borrower tells the lender it keeps the item a while (action HoldReturn, until it ships the
-- return). Both can be open on one loan at once, so a hold is now keyed by request and by who
-- holds; staff pages say who holds it, since when, who set it and why. Holds made before this
-- migration were all the lender's.
ALTER TABLE return_hold ADD COLUMN held_by TEXT NOT NULL DEFAULT 'lender'
    CHECK (held_by IN ('lender', 'borrower'));
ALTER TABLE return_hold ALTER COLUMN held_by DROP DEFAULT;
ALTER TABLE return_hold ADD COLUMN actor TEXT;   -- the staff member, or the partner's agency
ALTER TABLE return_hold ADD COLUMN note TEXT;    -- the reason given with it
ALTER TABLE return_hold DROP CONSTRAINT return_hold_pkey;
ALTER TABLE return_hold ADD PRIMARY KEY (request_id, held_by);

-- A hub that could not deliver a relayed message tells the sender with the relayed request's
-- last known status: found among the hub's relayed messages of that request. Only relay rows
-- are indexed, so the libraries' own messages cost nothing more to write.
CREATE INDEX outbox_relay_thread ON outbox (request_id) WHERE side = 'relay';
