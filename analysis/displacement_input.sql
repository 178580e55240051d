-- The input of the displacement measures (takedowns.analysis.displacement.displacement_by): one row per
-- (event_id, measure, post_days, window, day, owner, role) with its weight.
--   spam_sources:       weight = trap messages of the day whose relay the owner originated (a
--                       relay in a MOAS prefix gives 1/n to each of its n origins); relays in
--                       no announced prefix are the owner 'unrouted'.
--   blocklisted_space:  weight = addresses of the concentration list
--                       (getvariable('concentration_list')) attributed to the owner by the
--                       list version in force that day: each counted ('ok') snapshot is in
--                       force from its day until the day of the next one (the last one until
--                       the window ends; of several snapshots on one day, the latest), so a
--                       version counts once per day it was in force.
-- owner: the origin ASN as text ('40989'), or 'unrouted'. role: 'target' for the event's own
-- (watched) ASNs, 'buffer' for its buffer networks (results/tables/buffer_networks.csv: a
-- successor, a re-homing origin or a newly listed network; a new upstream of re-homed space is
-- listed there but not a buffer here: transit networks carry far more than the target ever
-- sent, and would drown the measure), 'control' for every other owner ('unrouted' included).
-- Windows: pre = [t0 - pre_days, t0), post = [t0, t0 + k) for each k of post_days, in days;
-- t0 is the event's t0 of results/tables/event_cutoffs.csv (measured from BGP, else nominal;
-- the nominal cut-off of the `events` view for an event that table lacks). The day of t0,
-- which mixes both sides, is left out (as in analysis/concentration_input.sql).
WITH cutoffs AS (
    -- the t0 of each event as results/tables/event_cutoffs.csv has it
    SELECT event_id, TRY_CAST(t0 AS TIMESTAMPTZ) AS t0
    FROM read_csv('results/tables/event_cutoffs.csv', all_varchar = true)
),
w AS (
    -- one row per event and post window: t0's day and the window lengths
    SELECT e.event_id, coalesce(c.t0, e.nominal_cutoff)::DATE AS t0_day, e.pre_days,
           unnest(e.post_days) AS k
    FROM events AS e
    LEFT JOIN cutoffs AS c USING (event_id)
),
days AS (
    -- every day of every window, labelled pre or post (t0's own day left out)
    SELECT w.event_id, w.k, d::DATE AS day,
           CASE WHEN d < w.t0_day THEN 'pre' ELSE 'post' END AS "window"
    FROM w,
         unnest(range(w.t0_day - w.pre_days, w.t0_day + w.k, INTERVAL 1 DAY)) AS r(d)
    WHERE d::DATE <> w.t0_day
),
spam_relays AS (
    -- one row per message with a usable relay and origin (1/n of a MOAS relay to each)
    SELECT
        day,
        unnest(CASE WHEN coalesce(len(origins), 0) = 0 THEN [NULL::UINTEGER]
                    ELSE origins END) AS origin_asn,
        1.0 / greatest(coalesce(len(origins), 0), 1) AS weight
    FROM spam_messages_attributed
    WHERE relay_status = 'ok'
),
spam AS (
    -- messages per day and origin, on the days of each window
    SELECT d.event_id, 'spam_sources' AS measure, d.k, d."window", d.day, s.origin_asn,
           sum(s.weight) AS weight
    FROM spam_relays AS s
    JOIN days AS d USING (day)
    GROUP BY ALL
),
versions AS (
    -- the counted versions of the concentration list and the days each was in force
    SELECT list, snapshot_id, from_day,
           lead(from_day) OVER (ORDER BY from_day) AS until_day
    FROM (
        SELECT list, snapshot_id, snapshot_time::DATE AS from_day,
               row_number() OVER (PARTITION BY snapshot_time::DATE
                                  ORDER BY snapshot_time DESC, snapshot_id DESC) AS nth
        FROM blocklist_snapshots
        WHERE status = 'ok' AND list = getvariable('concentration_list')
    )
    WHERE nth = 1
),
version_space AS (
    -- each version's listed addresses per origin (NULL: unrouted)
    SELECT a.list, a.snapshot_id, a.origin_asn, sum(a.addresses)::DOUBLE AS addresses
    FROM blocklist_attribution_counted AS a
    JOIN versions AS v USING (list, snapshot_id)
    GROUP BY ALL
),
listed AS (
    -- every window day with the version in force that day
    SELECT d.event_id, 'blocklisted_space' AS measure, d.k, d."window", d.day, s.origin_asn,
           s.addresses AS weight
    FROM days AS d
    JOIN versions AS v
      ON d.day >= v.from_day AND (v.until_day IS NULL OR d.day < v.until_day)
    JOIN version_space AS s USING (list, snapshot_id)
),
buffers AS (
    -- buffer networks of each event, as owner text
    SELECT DISTINCT event_id, CAST(asn AS VARCHAR) AS owner
    FROM read_csv('results/tables/buffer_networks.csv', all_varchar = true)
    WHERE reason <> 'new_upstream'
),
targets AS (
    -- the event's own ASNs, as owner text
    SELECT DISTINCT event_id, CAST(asn AS VARCHAR) AS owner FROM watched_asns
),
everything AS (
    SELECT event_id, measure, k, "window", day,
           coalesce(CAST(origin_asn AS VARCHAR), 'unrouted') AS owner, weight
    FROM (SELECT * FROM spam UNION ALL SELECT * FROM listed)
    WHERE weight > 0
)
SELECT
    x.event_id,
    x.measure,
    x.k::INTEGER AS post_days,
    x."window",
    x.day,
    x.owner,
    CASE
        WHEN t.owner IS NOT NULL THEN 'target'
        WHEN b.owner IS NOT NULL THEN 'buffer'
        ELSE 'control'
    END AS role,
    sum(x.weight)::DOUBLE AS weight
FROM everything AS x
LEFT JOIN targets AS t ON t.event_id = x.event_id AND t.owner = x.owner
LEFT JOIN buffers AS b ON b.event_id = x.event_id AND b.owner = x.owner
GROUP BY ALL
ORDER BY x.event_id, x.measure, post_days, x."window" DESC, x.day, x.owner;
