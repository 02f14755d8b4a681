-- Each borrowing library's routing choices (JSON domain::routing::RoutingSettings): its lender
-- groups with priority tiers, and the rules that send a new request at once without staff
-- review. A library without a row ranks by cost, region and history alone, always mediated.
CREATE TABLE routing_settings (
    library_id TEXT PRIMARY KEY REFERENCES library (library_id),
    settings   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Routing reads the borrowing history of every lender in one pass: events that named a lender,
-- by request, in a recent window.
CREATE INDEX request_event_borrow_at ON request_event (side, at);
