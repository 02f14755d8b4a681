-- A lending queue search of two characters (a Chinese word: 经济, 历史) on PostgreSQL. The
-- trigram index (0029) needs three, so such a search compared the title of every request the
-- states selected, each on its own heap page: about 100 ms for the 20,000 active requests of
-- `bench queue`'s library of a million, whose table is larger than shared_buffers here.
--
-- Now each title's pairs of adjacent characters, those with at least one character beyond
-- ASCII, are kept in a GIN index: a two-character search of such characters is an exact
-- lookup of one pair, and the planner intersects it with the states' index before reading
-- any row (10-15 ms for the same search, against about 100 ms, on a million rows generated in
-- psql in the bench's pattern: 2 % active, two of 40 Chinese words a title). English titles
-- give no pairs (two ASCII letters are not a word worth indexing), so they cost nothing here.

-- The pairs of `t` (lowered by the caller, as the index and the search both do). A title
-- of ASCII alone returns at once.
CREATE FUNCTION lend_title_pairs(t TEXT) RETURNS TEXT[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    c TEXT[] := string_to_array(t, NULL);
    pairs TEXT[] := '{}';
    p TEXT;
BEGIN
    IF octet_length(t) = char_length(t) THEN
        RETURN pairs;
    END IF;
    FOR i IN 1 .. cardinality(c) - 1 LOOP
        p := c[i] || c[i + 1];
        IF octet_length(p) > 2 THEN
            pairs := pairs || p;
        END IF;
    END LOOP;
    RETURN pairs;
END
$$;

CREATE INDEX lend_request_title_pairs ON lend_request USING gin (lend_title_pairs(lower(title)));
