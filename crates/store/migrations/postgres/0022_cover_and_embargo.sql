-- The copyright cover page of delivered PDFs (issue 7). A PDF's structure is read once, when
-- it is stored, and what a cover needs is kept here (JSON: how to append the cover page, or why
-- the file is delivered unchanged, e.g. it is encrypted), so that each view only appends a
-- small update to the original bytes instead of parsing the whole file again. NULL: not read
-- yet (copies stored before this column, and files that are not PDFs).
ALTER TABLE stored_file ADD COLUMN cover_plan TEXT;

-- A licensed title that covers a requested article but for its embargo is kept as a flag of
-- its own ('embargoed', with the day the embargo lifts), shown to staff and the reader instead
-- of being only logged.
ALTER TABLE request_availability DROP CONSTRAINT IF EXISTS request_availability_status_check;
ALTER TABLE request_availability ADD CONSTRAINT request_availability_status_check
    CHECK (status IN ('available', 'unchecked', 'embargoed'));
