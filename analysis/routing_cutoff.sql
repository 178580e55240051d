-- Measured cut-off of each event, next to the nominal (press) time.
--
-- Window: [t0 - update_window_hours, t0 + update_window_hours] around the nominal cut-off t0,
-- the span the update files were selected for; collectors without update files in it are
-- left out. The event's prefixes are those announced with a watched origin (anywhere in
-- routing_elements). For every peer (collector + peer address) and prefix, the state
-- starts from the latest RIB dump of the collector at or before the window start, and each
-- update message changes it: visible after a RIB entry or announcement with a watched origin,
-- not visible after a withdrawal or an announcement by another origin.
--   peers_seen        peers that carried one of the prefixes at some time in the window;
--   peers_lost        those that carry none at the end of the window;
--   share_peers_lost  peers_lost / peers_seen;
--   majority_lost_at  when more than half of peers_seen had lost the last of the prefixes
--                     for good (null when that never happened in the window);
--   measured_cutoff   the last announcement (an update message; a RIB entry if there was
--                     none) of the prefixes with a watched origin at or before
--                     majority_lost_at: the time the routes were last heard of;
--   first_withdrawal, last_loss: the first withdrawal after the last announcement, and when
--                     the last peer that lost them lost them.
-- Parameters (DuckDB variables): update_window_hours (6).
WITH params AS (
    SELECT getvariable('update_window_hours')::DOUBLE AS window_hours
),
windows AS (
    SELECT e.*, e.t0 - to_seconds(round(p.window_hours * 3600)::BIGINT) AS w0,
           e.t0 + to_seconds(round(p.window_hours * 3600)::BIGINT) AS w1
    FROM event_watch AS e CROSS JOIN params AS p
),
ribs AS (
    SELECT DISTINCT source_file, collector, file_time, first_time
    FROM routing_peers WHERE kind = 'rib'
),
-- collectors with update files in the window: the others cannot show a loss
covered AS (
    SELECT DISTINCT w.event_id, p.collector, w.w0
    FROM windows AS w
    JOIN routing_peers AS p
      ON p.kind = 'updates' AND p.file_time >= w.w0 - INTERVAL 1 HOUR AND p.file_time <= w.w1
),
bases AS (
    SELECT c.event_id, c.collector, c.w0, b.source_file AS base_file, b.first_time AS base_time
    FROM covered AS c
    ASOF LEFT JOIN ribs AS b ON c.collector = b.collector AND c.w0 >= b.file_time
),
state_rows AS (
    SELECT r.event_id, r.collector, r.peer_ip, r.prefix, r.time, r.kind, r.watched_origin, 0 AS ord
    FROM bases AS b
    JOIN event_routing_rows AS r ON r.event_id = b.event_id AND r.source_file = b.base_file
    UNION ALL
    SELECT r.event_id, r.collector, r.peer_ip, r.prefix, r.time, r.kind, r.watched_origin, 1 AS ord
    FROM bases AS b
    JOIN windows AS w ON w.event_id = b.event_id
    JOIN event_routing_rows AS r
      ON r.event_id = b.event_id AND r.collector = b.collector AND r.kind <> 'rib'
     AND r.time <= w.w1 AND r.time > coalesce(b.base_time, w.w0 - INTERVAL 1 SECOND)
),
changes AS (
    SELECT *,
        (kind IN ('rib', 'announce') AND watched_origin)::INTEGER AS vis,
        row_number() OVER (PARTITION BY event_id, collector, peer_ip ORDER BY time, ord, prefix)
            AS seq
    FROM state_rows
),
deltas AS (
    SELECT *,
        vis - coalesce(lag(vis) OVER (
            PARTITION BY event_id, collector, peer_ip, prefix ORDER BY time, ord
        ), 0) AS delta
    FROM changes
),
running AS (
    SELECT *,
        sum(delta) OVER (
            PARTITION BY event_id, collector, peer_ip ORDER BY time, ord, prefix
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS carried
    FROM deltas
),
per_peer AS (
    SELECT event_id, collector, peer_ip,
           max(carried) AS max_carried,
           arg_max(carried, seq) AS final_carried,
           max(time) FILTER (WHERE carried = 0 AND delta < 0) AS lost_at
    FROM running
    GROUP BY ALL
),
seen AS (
    SELECT * FROM per_peer WHERE max_carried > 0
),
lost AS (
    SELECT event_id, lost_at,
           row_number() OVER (PARTITION BY event_id ORDER BY lost_at) AS k
    FROM seen WHERE final_carried = 0 AND lost_at IS NOT NULL
),
summary AS (
    SELECT s.event_id, count(*) AS peers_seen,
           count(*) FILTER (WHERE s.final_carried = 0) AS peers_lost,
           list(DISTINCT s.collector ORDER BY s.collector) AS collectors
    FROM seen AS s GROUP BY s.event_id
),
majority AS (
    SELECT su.event_id, l.lost_at AS majority_lost_at
    FROM summary AS su
    JOIN lost AS l ON l.event_id = su.event_id AND l.k = su.peers_seen // 2 + 1
),
last_announcement AS (
    SELECT m.event_id,
           max(r.time) FILTER (WHERE r.kind = 'announce') AS last_update,
           max(r.time) AS last_any
    FROM majority AS m
    JOIN state_rows AS r ON r.event_id = m.event_id
    WHERE r.watched_origin AND r.kind IN ('rib', 'announce') AND r.time <= m.majority_lost_at
    GROUP BY m.event_id
),
measured AS (
    SELECT m.event_id, m.majority_lost_at, coalesce(a.last_update, a.last_any) AS measured_cutoff
    FROM majority AS m LEFT JOIN last_announcement AS a USING (event_id)
),
withdrawals AS (
    SELECT ms.event_id, min(r.time) AS first_withdrawal
    FROM measured AS ms
    JOIN state_rows AS r ON r.event_id = ms.event_id
    WHERE r.kind = 'withdraw' AND r.time >= ms.measured_cutoff
    GROUP BY ms.event_id
)
SELECT
    w.event_id,
    w.event_name,
    w.t0 AS nominal_cutoff,
    ms.measured_cutoff,
    round((epoch(ms.measured_cutoff) - epoch(w.t0)) / 60.0, 2) AS minutes_from_nominal,
    ms.majority_lost_at,
    wd.first_withdrawal,
    (SELECT max(l.lost_at) FROM lost AS l WHERE l.event_id = w.event_id) AS last_loss,
    coalesce(su.peers_seen, 0)::BIGINT AS peers_seen,
    coalesce(su.peers_lost, 0)::BIGINT AS peers_lost,
    CASE WHEN su.peers_seen > 0 THEN su.peers_lost / su.peers_seen END AS share_peers_lost,
    su.collectors,
    w.w0 AS window_start,
    w.w1 AS window_end
FROM windows AS w
LEFT JOIN summary AS su USING (event_id)
LEFT JOIN measured AS ms USING (event_id)
LEFT JOIN withdrawals AS wd USING (event_id)
ORDER BY w.t0;
