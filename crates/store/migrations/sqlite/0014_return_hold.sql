-- ISO 18626:2021 HoldReturn (issue 4): a lender may ask the borrower not to send an item back
-- until it releases the hold (it is closed, moving ...). Both sides remember the open hold: the
-- lender to offer the release, the borrower to keep the item until then. A row is an open hold
-- and releasing it deletes the row, so only loans on hold have one; the request tables, which
-- every step of every request writes, stay as they are.
CREATE TABLE return_hold (
    request_id  TEXT PRIMARY KEY,         -- a borrow_request or lend_request id, as side says
    library_id  TEXT NOT NULL REFERENCES library (library_id),
    side        TEXT NOT NULL CHECK (side IN ('borrow', 'lend')),
    held_at     TEXT NOT NULL
);
