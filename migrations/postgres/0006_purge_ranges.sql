-- Removes a sweep step's ranges of rows, one log at a time: each statement is a range of one
-- log's primary key, planned as such whatever the tables' statistics say. One statement
-- joining all the ranges at once was planned as a scan of the whole table when they were
-- missing (a database never analysed), and a step took a second instead of milliseconds.
CREATE FUNCTION seqhook_purge_ranges(identity_ids bigint[], purge_from bigint[], purge_to bigint[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    removed bigint := 0;
    events  bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(identity_ids, 1), 0) LOOP
        DELETE FROM deliveries WHERE identity_id = identity_ids[i] AND seq < purge_to[i];
        DELETE FROM events
        WHERE identity_id = identity_ids[i] AND seq >= purge_from[i] AND seq < purge_to[i];
        GET DIAGNOSTICS events = ROW_COUNT;
        removed := removed + events;
    END LOOP;
    RETURN removed;
END
$$;
