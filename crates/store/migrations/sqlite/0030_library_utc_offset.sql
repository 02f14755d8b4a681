-- Each library's time (issue 7): the dates a reader or partner reads (cover pages, "valid
-- until", letters), the digest hour and the day closed days and need-by dates are read
-- against were one fixed UTC+8 for every library. A library now keeps its own offset from
-- UTC, in minutes east (a fixed offset, no named zone: daylight saving is the library's to
-- follow by changing it). Existing libraries keep what they had: +08:00.
ALTER TABLE library ADD COLUMN utc_offset_minutes BIGINT NOT NULL DEFAULT 480
    CHECK (utc_offset_minutes BETWEEN -720 AND 840);
