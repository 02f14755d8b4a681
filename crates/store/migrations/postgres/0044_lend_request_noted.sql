-- One definition of a lending request's counted values (0043 wrote them out four times: in
-- the insert, delete and update triggers and in the first count). The triggers and their
-- WHEN clause stay as 0043 made them; only their functions are replaced.

-- A lending request as lend_count_change notes it, with `n` (+1 its new values, -1 its old),
-- as the SQLite triggers of 0042 write them. One SELECT without FROM: the planner inlines it.
CREATE FUNCTION lend_request_noted(r lend_request, n BIGINT) RETURNS lend_count_change
LANGUAGE sql STABLE AS $$
    SELECT ROW(r.library_id, r.state, r.borrower_agency, r.format, COALESCE(r.assignee_id, ''),
        r.created_at, r.updated_at, COALESCE(to_char(r.due_date, 'YYYY-MM-DD'), ''),
        COALESCE(to_char(r.needed_by, 'YYYY-MM-DD'), ''),
        CASE WHEN r.renew_pending THEN '1' ELSE '0' END, r.service_level,
        COALESCE(r.supplied_format, ''), CASE WHEN r.slip_printed_at IS NULL THEN '0' ELSE '1' END,
        n)::lend_count_change
$$;

CREATE OR REPLACE FUNCTION lend_request_noted_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lend_count_change SELECT (lend_request_noted(r, 1)).* FROM noted r;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION lend_request_noted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lend_count_change SELECT (lend_request_noted(r, -1)).* FROM noted r;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION lend_request_noted_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lend_count_change
    VALUES ((lend_request_noted(OLD, -1)).*), ((lend_request_noted(NEW, 1)).*);
    RETURN NULL;
END;
$$;
