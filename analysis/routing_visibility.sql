-- Visibility of each event's address space: per RIB snapshot, and per hour of updates.
--
-- An event's prefixes are those announced with an origin among its watched ASNs (an AS_SET
-- origin counts when it includes one). For each snapshot, and each collector:
--   prefixes             distinct prefixes some peer carries with a watched origin;
--   slash24_equivalents  the address space they cover (nested prefixes counted once) / 256;
--   peers_seeing         peers carrying at least one of them;
--   peers_total          peers with IPv4 routes in the RIB (routing_peers), the denominator;
--   share_peers          peers_seeing / peers_total.
-- resolution = 'rib': one row per RIB dump in the event's windows [t0 - pre_days,
-- t0 + post_days); time is the dump time from the file name.
-- resolution = 'hour': one row per hour with update files (time = start of the hour); the
-- routes are those of the latest RIB dump of the collector at or before the end of the
-- hour, changed by the update messages after it up to the end of the hour (the latest
-- element per peer and prefix wins; an announcement by another origin replaces the route);
-- peers_total comes from that dump; announcements and withdrawals count the hour's update
-- messages for the event's prefixes.
-- Parameters (DuckDB variables): pre_days (90), post_days (90).
WITH params AS (
    SELECT
        getvariable('pre_days')::INTEGER AS pre_days,
        getvariable('post_days')::INTEGER AS post_days
),
files AS (
    SELECT source_file, any_value(collector) AS collector, any_value(kind) AS kind,
           any_value(file_time) AS file_time, any_value(first_time) AS first_time,
           count(DISTINCT peer_ip) FILTER (WHERE elements_ipv4 > 0) AS peers_total
    FROM routing_peers GROUP BY source_file
),
snapshots AS (
    SELECT e.event_id, f.collector, 'rib' AS resolution, f.file_time AS time,
           f.file_time AS at, f.source_file AS base_file, f.peers_total
    FROM files AS f CROSS JOIN event_watch AS e CROSS JOIN params AS p
    WHERE f.kind = 'rib'
      AND f.file_time >= e.t0 - to_days(p.pre_days)
      AND f.file_time < e.t0 + to_days(p.post_days)
),
hours AS (
    SELECT DISTINCT e.event_id, f.collector, date_trunc('hour', f.file_time) AS time,
           date_trunc('hour', f.file_time) + INTERVAL 1 HOUR AS at
    FROM files AS f CROSS JOIN event_watch AS e CROSS JOIN params AS p
    WHERE f.kind = 'updates'
      AND f.file_time >= e.t0 - to_days(p.pre_days)
      AND f.file_time < e.t0 + to_days(p.post_days)
),
ribs AS (
    SELECT collector, file_time, source_file, first_time, peers_total FROM files WHERE kind = 'rib'
),
hour_base AS (
    SELECT h.event_id, h.collector, 'hour' AS resolution, h.time, h.at,
           b.source_file AS base_file, b.first_time AS base_time, b.peers_total
    FROM hours AS h
    ASOF LEFT JOIN ribs AS b ON h.collector = b.collector AND h.at >= b.file_time
),
-- routes at each hour: the base dump's rows, then the updates after it
hour_rows AS (
    SELECT hb.event_id, hb.collector, hb.time, r.peer_ip, r.prefix, r.start_ip, r.end_ip,
           r.kind, r.watched_origin, r.time AS row_time, 0 AS ord
    FROM hour_base AS hb
    JOIN event_routing_rows AS r ON r.event_id = hb.event_id AND r.source_file = hb.base_file
    UNION ALL
    SELECT hb.event_id, hb.collector, hb.time, r.peer_ip, r.prefix, r.start_ip, r.end_ip,
           r.kind, r.watched_origin, r.time AS row_time, 1 AS ord
    FROM hour_base AS hb
    JOIN event_routing_rows AS r
      ON r.event_id = hb.event_id AND r.collector = hb.collector AND r.kind <> 'rib'
     AND r.time <= hb.at AND (hb.base_time IS NULL OR r.time > hb.base_time)
),
hour_visible AS (
    SELECT event_id, collector, 'hour' AS resolution, time, peer_ip, prefix, start_ip, end_ip
    FROM hour_rows
    QUALIFY row_number() OVER (
        PARTITION BY event_id, collector, time, peer_ip, prefix ORDER BY row_time DESC, ord DESC
    ) = 1 AND kind IN ('rib', 'announce') AND watched_origin
),
rib_visible AS (
    SELECT s.event_id, s.collector, 'rib' AS resolution, s.time, r.peer_ip, r.prefix,
           r.start_ip, r.end_ip
    FROM snapshots AS s
    JOIN event_routing_rows AS r
      ON r.event_id = s.event_id AND r.source_file = s.base_file
     AND r.kind = 'rib' AND r.watched_origin
),
visible AS (
    SELECT * FROM rib_visible UNION ALL SELECT * FROM hour_visible
),
counts AS (
    SELECT event_id, collector, resolution, time,
           count(DISTINCT prefix) AS prefixes, count(DISTINCT peer_ip) AS peers_seeing
    FROM visible GROUP BY ALL
),
ranges AS (
    SELECT DISTINCT event_id, collector, resolution, time,
           start_ip::UBIGINT AS s, end_ip::UBIGINT AS e
    FROM visible
),
ordered AS (
    SELECT *, max(e) OVER (
        PARTITION BY event_id, collector, resolution, time ORDER BY s, e
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS reach
    FROM ranges
),
islands AS (
    SELECT *, sum(CASE WHEN reach IS NULL OR s > reach + 1 THEN 1 ELSE 0 END) OVER (
        PARTITION BY event_id, collector, resolution, time ORDER BY s, e
    ) AS island
    FROM ordered
),
space AS (
    SELECT event_id, collector, resolution, time, sum(hi - lo + 1)::UBIGINT AS addresses
    FROM (
        SELECT event_id, collector, resolution, time, island, min(s) AS lo, max(e) AS hi
        FROM islands GROUP BY ALL
    )
    GROUP BY ALL
),
hour_messages AS (
    SELECT hb.event_id, hb.collector, hb.time,
           count(*) FILTER (WHERE r.kind = 'announce' AND r.watched_origin) AS announcements,
           count(*) FILTER (WHERE r.kind = 'withdraw') AS withdrawals
    FROM hour_base AS hb
    JOIN event_routing_rows AS r
      ON r.event_id = hb.event_id AND r.collector = hb.collector AND r.kind <> 'rib'
     AND r.time >= hb.time AND r.time < hb.at
    GROUP BY ALL
),
frames AS (
    SELECT event_id, collector, resolution, time, base_file, peers_total FROM snapshots
    UNION ALL
    SELECT event_id, collector, resolution, time, base_file, peers_total FROM hour_base
)
SELECT
    f.event_id,
    e.event_name,
    f.collector,
    f.resolution,
    f.time,
    f.base_file AS rib_file,
    coalesce(c.prefixes, 0)::BIGINT AS prefixes,
    coalesce(sp.addresses, 0) / 256.0 AS slash24_equivalents,
    coalesce(c.peers_seeing, 0)::BIGINT AS peers_seeing,
    f.peers_total::BIGINT AS peers_total,
    CASE WHEN f.peers_total > 0 THEN coalesce(c.peers_seeing, 0) / f.peers_total END
        AS share_peers,
    CASE WHEN f.resolution = 'hour' THEN coalesce(m.announcements, 0) END AS announcements,
    CASE WHEN f.resolution = 'hour' THEN coalesce(m.withdrawals, 0) END AS withdrawals,
    round((epoch(f.time) - epoch(e.t0)) / 3600.0, 3) AS hours_from_nominal_cutoff
FROM frames AS f
JOIN event_watch AS e USING (event_id)
LEFT JOIN counts AS c
  ON c.event_id = f.event_id AND c.collector = f.collector AND c.resolution = f.resolution
 AND c.time = f.time
LEFT JOIN space AS sp
  ON sp.event_id = f.event_id AND sp.collector = f.collector AND sp.resolution = f.resolution
 AND sp.time = f.time
LEFT JOIN hour_messages AS m
  ON f.resolution = 'hour' AND m.event_id = f.event_id AND m.collector = f.collector
 AND m.time = f.time
ORDER BY f.event_id, f.resolution, f.time, f.collector;
