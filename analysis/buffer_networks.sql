-- Buffer networks of each event: where the target's business could plausibly have gone after
-- the cut-off (the "B" of the displacement measures, takedowns.analysis.displacement). One row per
-- (event_id, asn, reason); an ASN can be in for several reasons:
--   successor       the event's `network` rows with role successor in the cited reference
--                   table (data/reference/events.csv, registered as reference_events);
--   rehomed_origin  an origin that announced the target's pre-window space (the same prefix
--                   or a more specific one) in [t0, t0 + max_post_days) and announced none of
--                   that space in the pre window [t0 - pre_days, t0); from prefix_origin
--                   (daily CAIDA episodes) and routing_elements (RouteViews/RIS), the
--                   observations analysis/routing_rehoming.sql reads. A covering (less
--                   specific) announcement is left out: a provider's aggregate that absorbs
--                   the withdrawn space is no new home for its users;
--   newly_listed    an origin whose space first appears in the concentration list
--                   (getvariable('concentration_list'), counted snapshots only) in
--                   [t0, t0 + max_post_days), never in a snapshot before t0;
--   new_upstream    the upstream AS (routing_elements.upstream_asn, the AS before the origin)
--                   of a route of the target's pre-window space in [t0, t0 + max_post_days)
--                   that was the upstream of no route of that space in the pre window. The
--                   routes are read here (as analysis/routing_upstreams.sql does), not from
--                   its results table, which follows the watched ASNs' own routes only.
-- The event's own (watched) ASNs are never buffers. first_seen: the earliest evidence after
-- t0 (NULL for successors). t0 is the measured cut-off (results/tables/event_cutoffs.csv;
-- the nominal one where none was measured, t0_source says which).
WITH ev AS (
    -- each event's t0 and the lengths of its windows
    SELECT e.event_id, t.t0, t.t0_source, e.pre_days, e.max_post_days
    FROM events AS e
    JOIN event_t0('results/tables/event_cutoffs.csv') AS t USING (event_id)
),
targets AS (
    -- the event's own ASNs
    SELECT DISTINCT event_id, asn FROM watched_asns
),
successor AS (
    -- successors named by the cited reference table
    SELECT DISTINCT r.event_id, r.asn::UINTEGER AS asn, 'successor' AS reason,
           NULL::TIMESTAMPTZ AS first_seen
    FROM reference_events AS r
    JOIN ev USING (event_id)
    WHERE r.fact = 'network' AND r.role = 'successor' AND r.asn IS NOT NULL
),
target_space AS (
    -- the target's pre-window prefixes (daily tables and BGP routes)
    SELECT DISTINCT ev.event_id, po.start_ip, po.end_ip
    FROM prefix_origin_asn AS po
    JOIN targets AS t ON t.asn = po.origin_asn
    JOIN ev ON ev.event_id = t.event_id
    WHERE po.first_day < ev.t0::DATE
      AND po.last_day >= (ev.t0 - to_days(ev.pre_days))::DATE
    UNION
    SELECT DISTINCT ev.event_id, r.start_ip, r.end_ip
    FROM routing_elements AS r
    JOIN targets AS t ON list_contains(r.origins, t.asn)
    JOIN ev ON ev.event_id = t.event_id
    WHERE r.kind IN ('rib', 'announce')
      AND r.time >= ev.t0 - to_days(ev.pre_days) AND r.time < ev.t0
),
space_routes AS (
    -- every announcement of target space (same prefix or more specific), by origin, upstream
    -- and side of t0, within the windows
    SELECT ts.event_id, po.origin_asn AS origin, NULL::UINTEGER AS upstream,
           CASE WHEN po.first_day < ev.t0::DATE THEN 'pre' ELSE 'post' END AS side,
           po.first_day::TIMESTAMPTZ AS seen
    FROM target_space AS ts
    JOIN ev USING (event_id)
    JOIN prefix_origin_asn AS po
      ON po.start_ip >= ts.start_ip AND po.end_ip <= ts.end_ip
    WHERE po.last_day >= (ev.t0 - to_days(ev.pre_days))::DATE
      AND po.first_day < (ev.t0 + to_days(ev.max_post_days))::DATE
    UNION ALL
    SELECT ts.event_id, unnest(r.origins), r.upstream_asn,
           CASE WHEN r.time < ev.t0 THEN 'pre' ELSE 'post' END, r.time
    FROM target_space AS ts
    JOIN ev USING (event_id)
    JOIN routing_elements AS r
      ON r.start_ip >= ts.start_ip AND r.end_ip <= ts.end_ip
    WHERE r.kind IN ('rib', 'announce')
      AND r.time >= ev.t0 - to_days(ev.pre_days)
      AND r.time < ev.t0 + to_days(ev.max_post_days)
),
rehomed_origin AS (
    -- origins of target space after t0 that held none of it before
    SELECT p.event_id, p.origin AS asn, 'rehomed_origin' AS reason, min(p.seen) AS first_seen
    FROM space_routes AS p
    WHERE p.side = 'post'
      AND NOT EXISTS (SELECT 1 FROM space_routes AS q
                      WHERE q.event_id = p.event_id AND q.side = 'pre' AND q.origin = p.origin)
    GROUP BY p.event_id, p.origin
),
new_upstream AS (
    -- upstreams of target space after t0 that carried none of it before
    SELECT p.event_id, p.upstream AS asn, 'new_upstream' AS reason, min(p.seen) AS first_seen
    FROM space_routes AS p
    WHERE p.side = 'post' AND p.upstream IS NOT NULL AND p.upstream <> p.origin
      AND NOT EXISTS (SELECT 1 FROM space_routes AS q
                      WHERE q.event_id = p.event_id AND q.side = 'pre'
                        AND q.upstream = p.upstream)
    GROUP BY p.event_id, p.upstream
),
listed AS (
    -- each origin's listed space in the concentration list, per snapshot
    SELECT DISTINCT snapshot_time, origin_asn
    FROM blocklist_attribution_counted
    WHERE list = getvariable('concentration_list') AND origin_asn IS NOT NULL
),
newly_listed AS (
    -- origins first listed after t0 (within the longest post window), never before it
    SELECT ev.event_id, l.origin_asn AS asn, 'newly_listed' AS reason,
           min(l.snapshot_time) AS first_seen
    FROM listed AS l
    JOIN ev ON l.snapshot_time >= ev.t0
           AND l.snapshot_time < ev.t0 + to_days(ev.max_post_days)
    WHERE NOT EXISTS (SELECT 1 FROM listed AS b
                      WHERE b.origin_asn = l.origin_asn AND b.snapshot_time < ev.t0)
    GROUP BY ev.event_id, l.origin_asn
),
reasons AS (
    SELECT * FROM successor
    UNION ALL SELECT * FROM rehomed_origin
    UNION ALL SELECT * FROM newly_listed
    UNION ALL SELECT * FROM new_upstream
)
SELECT
    x.event_id,
    x.asn::UINTEGER AS asn,
    x.reason,
    x.first_seen,
    ev.t0,
    ev.t0_source
FROM reasons AS x
JOIN ev USING (event_id)
ANTI JOIN targets AS t ON t.event_id = x.event_id AND t.asn = x.asn
ORDER BY x.event_id, x.asn, x.reason;
