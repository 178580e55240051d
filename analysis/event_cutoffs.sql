-- The cut-off t0 each event's effects are measured from: the cut-off measured from the BGP
-- updates (results/tables/routing_cutoff.csv: the last announcement before most peers lost
-- the event's prefixes), or the nominal (press) time where the routing data measured none.
WITH measured AS (
    SELECT event_id, TRY_CAST(measured_cutoff AS TIMESTAMPTZ) AS measured_cutoff,
           TRY_CAST(share_peers_lost AS DOUBLE) AS share_peers_lost
    FROM read_csv('results/tables/routing_cutoff.csv', all_varchar = true)
)
SELECT
    e.event_id,
    coalesce(r.measured_cutoff, e.nominal_cutoff) AS t0,
    CASE WHEN r.measured_cutoff IS NULL THEN 'nominal' ELSE 'measured' END AS t0_source,
    e.nominal_cutoff,
    r.measured_cutoff,
    r.share_peers_lost
FROM events AS e
LEFT JOIN measured AS r USING (event_id)
ORDER BY e.nominal_cutoff;
