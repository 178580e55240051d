-- The watched networks' share of listed address space over time, per list and event.
-- For every blocklist snapshot with QC status 'ok' and every event: the listed addresses
-- attributed to the event's watched ASNs (0 when none), their share of the snapshot's
-- distinct listed addresses, the listed space with no route, the number of distinct origin
-- ASNs, and the days from the event's nominal cut-off. Views and rules (entries inside other
-- entries left out) as for blocklist_space.sql.
WITH snapshots AS (
    SELECT list, snapshot_id, snapshot_time, addresses AS listed_addresses
    FROM blocklist_snapshots
    WHERE status = 'ok'
),
events AS (
    SELECT DISTINCT event_id, event_name, nominal_cutoff FROM watched_asns
),
attributed AS (
    SELECT * FROM blocklist_attribution_counted
),
watched AS (
    SELECT a.list, a.snapshot_id, w.event_id, sum(a.addresses)::UBIGINT AS addresses
    FROM attributed AS a
    JOIN watched_asns AS w ON w.asn = a.origin_asn
    GROUP BY a.list, a.snapshot_id, w.event_id
),
origins AS (
    SELECT list, snapshot_id,
           count(DISTINCT origin_asn) AS distinct_origins,
           sum(CASE WHEN origin_asn IS NULL THEN addresses ELSE 0 END)::UBIGINT AS unrouted
    FROM attributed
    GROUP BY list, snapshot_id
)
SELECT
    n.list,
    n.snapshot_id,
    n.snapshot_time,
    n.snapshot_time::DATE AS snapshot_day,
    v.event_id,
    v.event_name,
    n.listed_addresses,
    coalesce(w.addresses, 0)::UBIGINT AS watched_addresses,
    coalesce(w.addresses, 0) / n.listed_addresses::DOUBLE AS watched_share,
    coalesce(o.unrouted, 0)::UBIGINT AS unrouted_addresses,
    coalesce(o.distinct_origins, 0)::BIGINT AS distinct_origins,
    n.snapshot_time::DATE - v.nominal_cutoff::DATE AS days_from_nominal_cutoff
FROM snapshots AS n
CROSS JOIN events AS v
LEFT JOIN watched AS w
    ON w.list = n.list AND w.snapshot_id = n.snapshot_id AND w.event_id = v.event_id
LEFT JOIN origins AS o ON o.list = n.list AND o.snapshot_id = n.snapshot_id
ORDER BY v.event_id, n.list, n.snapshot_time;
