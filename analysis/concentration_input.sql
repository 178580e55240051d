-- Who held the "badness" in each window: one row per (event, measure, owner kind, post window,
-- window, unit, owner) with its weight, the input of the concentration indices and their
-- bootstrap (takedowns.analysis.concentration). Units are resampled within windows: days for spam
-- sources, snapshots for blocklisted space.
--   spam_sources:        weight = relay messages of the day (a relay in a MOAS prefix splits
--                        1/n to each origin); owners are origin ASNs ('AS<n>', 'unrouted')
--                        or countries ('unknown' outside every delegated range).
--   blocklisted_space:   weight = listed addresses of the snapshot attributed to the origin
--                        (list: getvariable('concentration_list'), e.g. spamhaus_drop).
--   *_excl_targets:      the same without the event's own watched ASNs, so that losing the
--                        target alone does not read as dispersion.
-- Windows: pre = [t0 - pre_days, t0); post = [t0, t0 + k) for each k; for daily units the
-- cut-off day itself, which mixes both sides, is left out. t0: the measured cut-off
-- (results/tables/event_cutoffs.csv; nominal where none was measured).
WITH w AS (
    SELECT e.event_id, t.t0, e.pre_days, unnest(e.post_days) AS k
    FROM events AS e
    JOIN event_t0('results/tables/event_cutoffs.csv') AS t USING (event_id)
),
spam_days AS (
    SELECT day, breakdown, origin_asn, country, weighted_messages, messages
    FROM read_csv('results/tables/spam_daily.csv')
    WHERE breakdown IN ('origin_asn', 'country')
),
spam AS (
    SELECT
        w.event_id, 'spam_sources' AS measure, s.breakdown, w.k AS post_days,
        CASE WHEN s.day < CAST(w.t0 AS DATE) THEN 'pre' ELSE 'post' END AS "window",
        CAST(s.day AS VARCHAR) AS unit, s.origin_asn, s.country,
        CASE WHEN s.breakdown = 'origin_asn' THEN s.weighted_messages ELSE s.messages END
            ::DOUBLE AS weight
    FROM spam_days AS s
    JOIN w ON s.day >= CAST(w.t0 AS DATE) - w.pre_days
          AND s.day < CAST(w.t0 AS DATE) + w.k
          AND s.day <> CAST(w.t0 AS DATE)
),
listed AS (
    SELECT
        w.event_id, 'blocklisted_space' AS measure, 'origin_asn' AS breakdown, w.k AS post_days,
        CASE WHEN b.snapshot_time < w.t0 THEN 'pre' ELSE 'post' END AS "window",
        b.snapshot_id AS unit, b.origin_asn, NULL::VARCHAR AS country,
        b.addresses::DOUBLE AS weight
    FROM read_csv('results/tables/blocklist_space.csv') AS b
    JOIN w ON b.snapshot_time >= w.t0 - to_days(w.pre_days)
          AND b.snapshot_time < w.t0 + to_days(w.k)
    WHERE b.list = getvariable('concentration_list')
),
everything AS (
    SELECT * FROM spam UNION ALL SELECT * FROM listed
),
by_owner AS (
    SELECT
        x.event_id, x.measure,
        CASE WHEN x.breakdown = 'origin_asn' THEN 'asn' ELSE 'country' END AS owner_kind,
        x.post_days, x."window", x.unit,
        CASE
            WHEN x.breakdown = 'country' THEN coalesce(x.country, 'unknown')
            ELSE coalesce('AS' || x.origin_asn, 'unrouted')
        END AS owner,
        x.breakdown = 'origin_asn' AND x.origin_asn IN (
            SELECT asn FROM watched_asns AS t WHERE t.event_id = x.event_id
        ) AS is_target,
        x.weight
    FROM everything AS x
    WHERE x.weight > 0
)
SELECT event_id, measure, owner_kind, post_days, "window", unit, owner, sum(weight) AS weight
FROM by_owner
GROUP BY ALL
UNION ALL
SELECT event_id, measure || '_excl_targets', owner_kind, post_days, "window", unit, owner,
       sum(weight)
FROM by_owner
WHERE owner_kind = 'asn' AND NOT is_target
GROUP BY ALL
ORDER BY event_id, measure, owner_kind, post_days, "window", unit, owner;
