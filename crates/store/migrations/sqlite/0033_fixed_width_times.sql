-- One fixed-width form for every stored time (SQLite only).
--
-- SQLite keeps times as text and compares them as text. They were written as RFC 3339 with a
-- fraction of a second only when it was not zero, and with whatever offset the time carried:
-- `…T00:00:00Z` sorted after `…T00:00:00.25Z`, so every comparison of a time column with a
-- bound, every ORDER BY and every MIN / MAX of one could misorder times within a second (and
-- times with other offsets by hours). Times are now written as UTC with six digits of
-- fraction, always: `2026-11-30T08:00:00.250000Z` (the store's `lite_time`), whose text order is
-- time order. This rewrites the times already stored into that form.
--
-- The columns are every one that is TIMESTAMPTZ on PostgreSQL (the two schemas have the same
-- columns). Dates (due_date, needed_by) are `YYYY-MM-DD` and stay as they are.
--
-- Each distinct stored text is converted once, into time_fix: the date and time to the second
-- are converted to UTC by SQLite (strftime applies a `Z` or `+HH:MM` / `-HH:MM` offset; none
-- means UTC, as the store reads it), and the fraction's digits are kept as they are, cut or
-- padded to six (strftime keeps only milliseconds, and rounds them). Cutting matches
-- PostgreSQL, which keeps microseconds and to which sqlx sends a time cut to them. A value
-- already in the new form, NULL, or text that is no time the store could have written is left
-- as it is.
CREATE TEMP TABLE time_fix (
    old TEXT PRIMARY KEY,
    new TEXT NOT NULL
) WITHOUT ROWID;

WITH stored (v) AS (
    SELECT created_at FROM api_token UNION
    SELECT expires_at FROM api_token UNION
    SELECT revoked_at FROM api_token UNION
    SELECT created_at FROM app_user UNION
    SELECT created_at FROM borrow_request UNION
    SELECT lender_deadline FROM borrow_request UNION
    SELECT updated_at FROM borrow_request UNION
    SELECT created_at FROM catalog_record UNION
    SELECT created_at FROM catalog_source UNION
    SELECT updated_at FROM catalog_source UNION
    SELECT updated_at FROM copyright_settings UNION
    SELECT cleared_at FROM copyright_use UNION
    SELECT created_at FROM copyright_use UNION
    SELECT created_at FROM delivery_link UNION
    SELECT expires_at FROM delivery_link UNION
    SELECT revoked_at FROM delivery_link UNION
    SELECT updated_at FROM delivery_settings UNION
    SELECT updated_at FROM deposit_account UNION
    SELECT created_at FROM deposit_movement UNION
    SELECT updated_at FROM fee_schedule UNION
    SELECT occurred_at FROM fee_transaction UNION
    SELECT filed_at FROM inbound_mail UNION
    SELECT received_at FROM inbound_mail UNION
    SELECT received_at FROM inbox UNION
    SELECT last_end FROM job_run UNION
    SELECT last_start FROM job_run UNION
    SELECT lease_until FROM job_run UNION
    SELECT next_run FROM job_run UNION
    SELECT added_at FROM lend_label UNION
    SELECT created_at FROM lend_request UNION
    SELECT slip_printed_at FROM lend_request UNION
    SELECT updated_at FROM lend_request UNION
    SELECT created_at FROM letter_digest UNION
    SELECT sent_at FROM letter_digest UNION
    SELECT updated_at FROM letter_preference UNION
    SELECT queued_at FROM letter_reminder UNION
    SELECT updated_at FROM letter_settings UNION
    SELECT updated_at FROM letter_template UNION
    SELECT created_at FROM library UNION
    SELECT imported_at FROM licence_package UNION
    SELECT created_at FROM outbox UNION
    SELECT delivered_at FROM outbox UNION
    SELECT next_attempt_at FROM outbox UNION
    SELECT created_at FROM password_reset UNION
    SELECT expires_at FROM password_reset UNION
    SELECT used_at FROM password_reset UNION
    SELECT updated_at FROM peer UNION
    SELECT created_at FROM reader_charge UNION
    SELECT created_at FROM reader_charge_review UNION
    SELECT updated_at FROM reader_fee_policy UNION
    SELECT created_at FROM request_availability UNION
    SELECT created_at FROM request_duplicate UNION
    SELECT at FROM request_event UNION
    SELECT created_at FROM request_fact UNION
    SELECT created_at FROM request_match_key UNION
    SELECT held_at FROM return_hold UNION
    SELECT updated_at FROM routing_settings UNION
    SELECT closed_at FROM settlement UNION
    SELECT at FROM stat_mark UNION
    SELECT created_at FROM stored_file UNION
    SELECT fetched_at FROM stored_file UNION
    SELECT purged_at FROM stored_file
), split (v, whole, rest) AS (
    -- whole: `YYYY-MM-DDTHH:MM:SS`; rest: the fraction (with its point) and the offset.
    SELECT v, substr(v, 1, 10) || 'T' || substr(v, 12, 8), substr(v, 20)
      FROM stored
     WHERE v GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][Tt ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'
), zoned (v, whole, fraction, zone) AS (
    SELECT v, whole,
           CASE WHEN rest GLOB '*[Zz]' THEN substr(rest, 1, length(rest) - 1)
                WHEN rest GLOB '*[+-][0-9][0-9]:[0-9][0-9]' THEN substr(rest, 1, length(rest) - 6)
                ELSE rest END,
           CASE WHEN rest GLOB '*[Zz]' THEN 'Z'
                WHEN rest GLOB '*[+-][0-9][0-9]:[0-9][0-9]' THEN substr(rest, -6)
                ELSE '' END
      FROM split
), fixed (v, new) AS (
    SELECT v,
           strftime('%Y-%m-%dT%H:%M:%S', whole || zone)
               || '.' || substr(substr(fraction, 2) || '000000', 1, 6) || 'Z'
      FROM zoned
     WHERE fraction = '' OR (fraction GLOB '.[0-9]*' AND substr(fraction, 2) NOT GLOB '*[^0-9]*')
)
INSERT INTO time_fix (old, new)
SELECT v, new FROM fixed WHERE new IS NOT NULL AND new IS NOT v;

UPDATE api_token SET created_at = f.new FROM time_fix f WHERE f.old = api_token.created_at;
UPDATE api_token SET expires_at = f.new FROM time_fix f WHERE f.old = api_token.expires_at;
UPDATE api_token SET revoked_at = f.new FROM time_fix f WHERE f.old = api_token.revoked_at;
UPDATE app_user SET created_at = f.new FROM time_fix f WHERE f.old = app_user.created_at;
UPDATE borrow_request SET created_at = f.new FROM time_fix f WHERE f.old = borrow_request.created_at;
UPDATE borrow_request SET lender_deadline = f.new FROM time_fix f WHERE f.old = borrow_request.lender_deadline;
UPDATE borrow_request SET updated_at = f.new FROM time_fix f WHERE f.old = borrow_request.updated_at;
UPDATE catalog_record SET created_at = f.new FROM time_fix f WHERE f.old = catalog_record.created_at;
UPDATE catalog_source SET created_at = f.new FROM time_fix f WHERE f.old = catalog_source.created_at;
UPDATE catalog_source SET updated_at = f.new FROM time_fix f WHERE f.old = catalog_source.updated_at;
UPDATE copyright_settings SET updated_at = f.new FROM time_fix f WHERE f.old = copyright_settings.updated_at;
UPDATE copyright_use SET cleared_at = f.new FROM time_fix f WHERE f.old = copyright_use.cleared_at;
UPDATE copyright_use SET created_at = f.new FROM time_fix f WHERE f.old = copyright_use.created_at;
UPDATE delivery_link SET created_at = f.new FROM time_fix f WHERE f.old = delivery_link.created_at;
UPDATE delivery_link SET expires_at = f.new FROM time_fix f WHERE f.old = delivery_link.expires_at;
UPDATE delivery_link SET revoked_at = f.new FROM time_fix f WHERE f.old = delivery_link.revoked_at;
UPDATE delivery_settings SET updated_at = f.new FROM time_fix f WHERE f.old = delivery_settings.updated_at;
UPDATE deposit_account SET updated_at = f.new FROM time_fix f WHERE f.old = deposit_account.updated_at;
UPDATE deposit_movement SET created_at = f.new FROM time_fix f WHERE f.old = deposit_movement.created_at;
UPDATE fee_schedule SET updated_at = f.new FROM time_fix f WHERE f.old = fee_schedule.updated_at;
UPDATE fee_transaction SET occurred_at = f.new FROM time_fix f WHERE f.old = fee_transaction.occurred_at;
UPDATE inbound_mail SET filed_at = f.new FROM time_fix f WHERE f.old = inbound_mail.filed_at;
UPDATE inbound_mail SET received_at = f.new FROM time_fix f WHERE f.old = inbound_mail.received_at;
UPDATE inbox SET received_at = f.new FROM time_fix f WHERE f.old = inbox.received_at;
UPDATE job_run SET last_end = f.new FROM time_fix f WHERE f.old = job_run.last_end;
UPDATE job_run SET last_start = f.new FROM time_fix f WHERE f.old = job_run.last_start;
UPDATE job_run SET lease_until = f.new FROM time_fix f WHERE f.old = job_run.lease_until;
UPDATE job_run SET next_run = f.new FROM time_fix f WHERE f.old = job_run.next_run;
UPDATE lend_label SET added_at = f.new FROM time_fix f WHERE f.old = lend_label.added_at;
UPDATE lend_request SET created_at = f.new FROM time_fix f WHERE f.old = lend_request.created_at;
UPDATE lend_request SET slip_printed_at = f.new FROM time_fix f WHERE f.old = lend_request.slip_printed_at;
UPDATE lend_request SET updated_at = f.new FROM time_fix f WHERE f.old = lend_request.updated_at;
UPDATE letter_digest SET created_at = f.new FROM time_fix f WHERE f.old = letter_digest.created_at;
UPDATE letter_digest SET sent_at = f.new FROM time_fix f WHERE f.old = letter_digest.sent_at;
UPDATE letter_preference SET updated_at = f.new FROM time_fix f WHERE f.old = letter_preference.updated_at;
UPDATE letter_reminder SET queued_at = f.new FROM time_fix f WHERE f.old = letter_reminder.queued_at;
UPDATE letter_settings SET updated_at = f.new FROM time_fix f WHERE f.old = letter_settings.updated_at;
UPDATE letter_template SET updated_at = f.new FROM time_fix f WHERE f.old = letter_template.updated_at;
UPDATE library SET created_at = f.new FROM time_fix f WHERE f.old = library.created_at;
UPDATE licence_package SET imported_at = f.new FROM time_fix f WHERE f.old = licence_package.imported_at;
UPDATE outbox SET created_at = f.new FROM time_fix f WHERE f.old = outbox.created_at;
UPDATE outbox SET delivered_at = f.new FROM time_fix f WHERE f.old = outbox.delivered_at;
UPDATE outbox SET next_attempt_at = f.new FROM time_fix f WHERE f.old = outbox.next_attempt_at;
UPDATE password_reset SET created_at = f.new FROM time_fix f WHERE f.old = password_reset.created_at;
UPDATE password_reset SET expires_at = f.new FROM time_fix f WHERE f.old = password_reset.expires_at;
UPDATE password_reset SET used_at = f.new FROM time_fix f WHERE f.old = password_reset.used_at;
UPDATE peer SET updated_at = f.new FROM time_fix f WHERE f.old = peer.updated_at;
UPDATE reader_charge SET created_at = f.new FROM time_fix f WHERE f.old = reader_charge.created_at;
UPDATE reader_charge_review SET created_at = f.new FROM time_fix f WHERE f.old = reader_charge_review.created_at;
UPDATE reader_fee_policy SET updated_at = f.new FROM time_fix f WHERE f.old = reader_fee_policy.updated_at;
UPDATE request_availability SET created_at = f.new FROM time_fix f WHERE f.old = request_availability.created_at;
UPDATE request_duplicate SET created_at = f.new FROM time_fix f WHERE f.old = request_duplicate.created_at;
UPDATE request_event SET at = f.new FROM time_fix f WHERE f.old = request_event.at;
UPDATE request_fact SET created_at = f.new FROM time_fix f WHERE f.old = request_fact.created_at;
UPDATE request_match_key SET created_at = f.new FROM time_fix f WHERE f.old = request_match_key.created_at;
UPDATE return_hold SET held_at = f.new FROM time_fix f WHERE f.old = return_hold.held_at;
UPDATE routing_settings SET updated_at = f.new FROM time_fix f WHERE f.old = routing_settings.updated_at;
UPDATE settlement SET closed_at = f.new FROM time_fix f WHERE f.old = settlement.closed_at;
UPDATE stat_mark SET at = f.new FROM time_fix f WHERE f.old = stat_mark.at;
UPDATE stored_file SET created_at = f.new FROM time_fix f WHERE f.old = stored_file.created_at;
UPDATE stored_file SET fetched_at = f.new FROM time_fix f WHERE f.old = stored_file.fetched_at;
UPDATE stored_file SET purged_at = f.new FROM time_fix f WHERE f.old = stored_file.purged_at;

DROP TABLE time_fix;

-- A time that carried another offset can fall on another UTC date: the queue counts'
-- triggers (0025) noted the requests whose created or modified day moved. Add those deltas to
-- the counts now, as the SQLite writer does at each commit, so the counts agree with the
-- requests as soon as the store opens.
INSERT INTO queue_count (library_id, side, state, facet, value, n)
SELECT library_id, side, state, facet, value, SUM(n) FROM queue_count_delta WHERE true
 GROUP BY library_id, side, state, facet, value HAVING SUM(n) <> 0
    ON CONFLICT (library_id, side, state, facet, value) DO UPDATE SET n = n + excluded.n;
DELETE FROM queue_count_delta;

-- A summary's month is its request's month in UTC (0031): one taken from a time that carried
-- another offset is taken again from the time as now written.
UPDATE request_fact
   SET month = CAST(substr(created_at, 1, 4) AS INTEGER) * 100 + CAST(substr(created_at, 6, 2) AS INTEGER)
 WHERE month <> CAST(substr(created_at, 1, 4) AS INTEGER) * 100 + CAST(substr(created_at, 6, 2) AS INTEGER);
