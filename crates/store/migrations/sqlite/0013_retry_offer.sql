-- ISO 18626 RetryPossible (issue 4): a lender that would supply under other terms (a higher
-- cost, after a date, another format, a loan condition) says so with its terms. The borrowing
-- request keeps them (JSON domain::retry::RetryOffer) until staff accept them with a new
-- request to that lender or decline them for the next lender; NULL when nothing is offered.
ALTER TABLE borrow_request ADD COLUMN retry_offer TEXT;
