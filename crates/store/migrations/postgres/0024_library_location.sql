-- Where each library is, for routing to prefer nearer lenders: latitude and longitude in
-- millionths of a degree (integers compare exactly and read the same on both engines). Both or
-- neither; a library without them is placed by its region alone.
ALTER TABLE library ADD COLUMN latitude_e6 BIGINT;
ALTER TABLE library ADD COLUMN longitude_e6 BIGINT;
