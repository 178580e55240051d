-- Re-homing: for every prefix a watched ASN originated in the pre window, was it (or a
-- covering or a more specific prefix) announced after the nominal cut-off, by which origin,
-- from when?
--
-- Pre-window prefixes: prefix_origin episodes that overlap [t0 - pre_days, t0) with a
-- watched origin, plus prefixes routing_elements shows announced by it in that window.
-- After the cut-off: RIB entries and announcements in [t0, t0 + post_days) whose range
-- overlaps the prefix: 'same' prefix, a 'covering' (less specific) one, or a
-- 'more_specific' one, one row per origin and episode (observations further apart than
-- episode_gap_hours start a new episode, so the tail of the original announcements right at
-- the cut-off and a later return of the same origin are separate rows).
-- A pre-window prefix that nothing overlapping was announced for after t0 has one row with
-- announced_after = false.
-- Parameters (DuckDB variables): pre_days (90), post_days (90), episode_gap_hours (36).
WITH params AS (
    SELECT
        getvariable('pre_days')::INTEGER AS pre_days,
        getvariable('post_days')::INTEGER AS post_days,
        getvariable('episode_gap_hours')::DOUBLE AS gap_hours
),
pre_from_tables AS (
    SELECT w.event_id, w.asn AS pre_origin, po.prefix, po.start_ip, po.end_ip, po.length
    FROM prefix_origin AS po
    JOIN watched_asns AS w ON list_contains(po.origins, w.asn)
    CROSS JOIN params AS p
    WHERE po.first_day < w.nominal_cutoff::DATE
      AND po.last_day >= (w.nominal_cutoff - to_days(p.pre_days))::DATE
),
pre_from_routing AS (
    SELECT w.event_id, w.asn AS pre_origin, r.prefix, r.start_ip, r.end_ip, r.length
    FROM routing_elements AS r
    JOIN watched_asns AS w ON list_contains(r.origins, w.asn)
    CROSS JOIN params AS p
    WHERE r.kind IN ('rib', 'announce')
      AND r.time < w.nominal_cutoff
      AND r.time >= w.nominal_cutoff - to_days(p.pre_days)
),
pre AS (
    SELECT DISTINCT * FROM (SELECT * FROM pre_from_tables UNION ALL SELECT * FROM pre_from_routing)
),
post_obs AS (
    SELECT
        pre.event_id, pre.pre_origin, pre.prefix AS pre_prefix,
        r.prefix AS post_prefix,
        CASE
            WHEN r.start_ip = pre.start_ip AND r.length = pre.length THEN 'same'
            WHEN r.length < pre.length THEN 'covering'
            ELSE 'more_specific'
        END AS relation,
        unnest(r.origins) AS post_origin,
        r.time, r.collector, r.peer_ip
    FROM pre
    JOIN event_watch AS e USING (event_id)
    CROSS JOIN params AS p
    JOIN routing_elements AS r
      ON r.start_ip <= pre.end_ip AND r.end_ip >= pre.start_ip
    WHERE r.kind IN ('rib', 'announce')
      AND r.time >= e.t0
      AND r.time < e.t0 + to_days(p.post_days)
),
-- episodes are numbered over the distinct observation times (ties cannot reorder them)
times AS (
    SELECT DISTINCT event_id, pre_prefix, pre_origin, post_prefix, post_origin, time
    FROM post_obs
),
flagged AS (
    SELECT t.*,
        CASE WHEN epoch(time) - epoch(lag(time) OVER (
                 PARTITION BY event_id, pre_prefix, pre_origin, post_prefix, post_origin
                 ORDER BY time)) <= p.gap_hours * 3600
             THEN 0 ELSE 1 END AS new_episode
    FROM times AS t CROSS JOIN params AS p
),
numbered_times AS (
    SELECT *, sum(new_episode) OVER (
        PARTITION BY event_id, pre_prefix, pre_origin, post_prefix, post_origin ORDER BY time
    ) AS episode
    FROM flagged
),
numbered AS (
    SELECT o.*, n.episode
    FROM post_obs AS o
    JOIN numbered_times AS n
      USING (event_id, pre_prefix, pre_origin, post_prefix, post_origin, time)
),
post AS (
    SELECT
        event_id, pre_prefix, pre_origin, post_prefix, any_value(relation) AS relation,
        post_origin, episode,
        min(time) AS first_seen, max(time) AS last_seen,
        count(DISTINCT collector || '|' || peer_ip) AS peers,
        count(*) AS observations
    FROM numbered
    GROUP BY event_id, pre_prefix, pre_origin, post_prefix, post_origin, episode
)
SELECT
    e.event_id,
    e.event_name,
    pre.prefix AS pre_prefix,
    pre.pre_origin,
    post.post_prefix IS NOT NULL AS announced_after,
    post.post_prefix,
    post.relation,
    post.post_origin,
    list_contains(e.asns, post.post_origin) AS origin_is_watched,
    post.first_seen,
    post.last_seen,
    round((epoch(post.first_seen) - epoch(e.t0)) / 3600.0, 3) AS hours_after_nominal_cutoff,
    post.peers,
    post.observations
FROM pre
JOIN event_watch AS e USING (event_id)
LEFT JOIN post
  ON post.event_id = pre.event_id AND post.pre_prefix = pre.prefix
 AND post.pre_origin = pre.pre_origin
ORDER BY e.event_id, pre.start_ip, pre.length, pre.pre_origin, post.first_seen, post.post_prefix;
