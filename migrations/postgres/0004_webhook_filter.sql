-- Whether a webhook's event filter takes an event type: the one definition in SQL, for the
-- append and for replays (the embedded store's is `EventFilter::matches`; the suite holds
-- the two to the same cases). A single expression with no subquery, so the planner inlines
-- it into the statements that call it.
CREATE FUNCTION seqhook_takes_type(event_names text[], event_prefixes text[], event_type text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (event_names IS NULL AND event_prefixes IS NULL)
            OR event_type = ANY (event_names)
            OR event_type ^@ ANY (event_prefixes),
        false)
$$;
