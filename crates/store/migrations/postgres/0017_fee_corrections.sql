-- Corrections an admin records by hand after a month is closed are fee transactions of kind
-- 'correction' with service 'adjustment' and the reason as their basis (the who and when are in
-- their events). They are few among millions of charges, so the fees page finds them through
-- this small partial index instead of scanning the month index.
CREATE INDEX fee_transaction_adjustment ON fee_transaction (fee_transaction_id)
    WHERE service = 'adjustment';
