-- Upstream episodes: through which upstream AS each watched ASN was seen, from when to when.
--
-- An observation is a RIB entry or an announcement (routing_elements) whose origins include a
-- watched ASN and whose upstream_asn (the AS before the origin once prepending is removed)
-- is known, inside the event's windows [t0 - pre_days, t0 + post_days). Observations of one
-- (watched ASN, upstream) pair further apart than episode_gap_hours start a new episode: no
-- observation in between is no evidence of continuity (with one RIB a day, a missed day
-- ends an episode).
-- relationship: CAIDA serial-1 of the episode's first month: 'provider' (upstream is a
-- provider of the watched ASN), 'peer', 'customer' (the reverse) or 'unknown' (no link).
-- Parameters (DuckDB variables, SET VARIABLE ...): pre_days (90), post_days (90),
-- episode_gap_hours (36).
WITH params AS (
    SELECT
        getvariable('pre_days')::INTEGER AS pre_days,
        getvariable('post_days')::INTEGER AS post_days,
        getvariable('episode_gap_hours')::DOUBLE AS gap_hours
),
obs AS (
    SELECT
        w.event_id, w.event_name, w.nominal_cutoff, w.asn, r.upstream_asn AS upstream,
        r.time, r.collector, r.peer_ip, r.kind, r.source_file
    FROM routing_elements AS r
    JOIN watched_asns AS w ON list_contains(r.origins, w.asn)
    CROSS JOIN params AS p
    WHERE r.kind IN ('rib', 'announce')
      AND r.upstream_asn IS NOT NULL
      AND r.time >= w.nominal_cutoff - to_days(p.pre_days)
      AND r.time < w.nominal_cutoff + to_days(p.post_days)
),
-- episodes are numbered over the distinct observation times (ties cannot reorder them)
times AS (
    SELECT DISTINCT event_id, asn, upstream, time FROM obs
),
flagged AS (
    SELECT t.*,
        CASE WHEN epoch(time) - epoch(lag(time) OVER (
                 PARTITION BY event_id, asn, upstream ORDER BY time)) <= p.gap_hours * 3600
             THEN 0 ELSE 1 END AS new_episode
    FROM times AS t CROSS JOIN params AS p
),
numbered_times AS (
    SELECT *, sum(new_episode) OVER (
        PARTITION BY event_id, asn, upstream ORDER BY time
    ) AS episode
    FROM flagged
),
numbered AS (
    SELECT o.*, n.episode
    FROM obs AS o JOIN numbered_times AS n USING (event_id, asn, upstream, time)
),
episodes AS (
    SELECT
        event_id, any_value(event_name) AS event_name, any_value(nominal_cutoff) AS nominal_cutoff,
        asn, upstream, episode,
        min(time) AS first_seen,
        max(time) AS last_seen,
        count(DISTINCT collector || '|' || peer_ip) AS peers,
        count(*) AS observations,
        count(DISTINCT source_file) FILTER (WHERE kind = 'rib') AS rib_snapshots,
        list(DISTINCT collector ORDER BY collector) AS collectors
    FROM numbered
    GROUP BY event_id, asn, upstream, episode
)
SELECT
    e.event_id,
    e.event_name,
    e.asn AS watched_asn,
    e.upstream AS upstream_asn,
    e.first_seen,
    e.last_seen,
    round((epoch(e.last_seen) - epoch(e.first_seen)) / 3600.0, 3) AS duration_hours,
    e.peers,
    e.observations,
    e.rib_snapshots,
    e.collectors,
    CASE
        WHEN e.last_seen < e.nominal_cutoff THEN 'before'
        WHEN e.first_seen >= e.nominal_cutoff THEN 'after'
        ELSE 'spans'
    END AS relative_to_cutoff,
    round((epoch(e.first_seen) - epoch(e.nominal_cutoff)) / 3600.0, 3)
        AS first_seen_hours_from_nominal_cutoff,
    CASE
        WHEN EXISTS (SELECT 1 FROM as_relationships AS r
                     WHERE r.month = date_trunc('month', e.first_seen)::DATE AND r.kind = 'p2c'
                       AND r.as1 = e.upstream AND r.as2 = e.asn) THEN 'provider'
        WHEN EXISTS (SELECT 1 FROM as_relationships AS r
                     WHERE r.month = date_trunc('month', e.first_seen)::DATE AND r.kind = 'p2p'
                       AND ((r.as1 = e.upstream AND r.as2 = e.asn)
                            OR (r.as1 = e.asn AND r.as2 = e.upstream))) THEN 'peer'
        WHEN EXISTS (SELECT 1 FROM as_relationships AS r
                     WHERE r.month = date_trunc('month', e.first_seen)::DATE AND r.kind = 'p2c'
                       AND r.as1 = e.asn AND r.as2 = e.upstream) THEN 'customer'
        ELSE 'unknown'
    END AS relationship,
    date_trunc('month', e.first_seen)::DATE AS relationship_month
FROM episodes AS e
ORDER BY e.event_id, e.asn, e.first_seen, e.upstream;
