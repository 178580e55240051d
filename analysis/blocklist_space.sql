-- Listed address space per origin AS per blocklist snapshot (Spamhaus DROP, Emerging Threats).
-- Views: blocklist_snapshots (one row per snapshot with its final QC status and its distinct
-- listed addresses), blocklist_attribution (one row per listed entry and origin AS with the
-- entry's addresses attributed to that origin on the snapshot day -- the most specific
-- announcement wins inside the entry; origin_asn NULL holds the entry's unrouted addresses;
-- a MOAS prefix counts for each of its origins) and watched_asns.
-- Only snapshots whose QC status is 'ok' count (missing captures and suspect ones, e.g. a
-- truncated capture, are left out). An entry inside another entry of the same snapshot is
-- left out, because the outer entry's attribution already counts its addresses once.
WITH snapshots AS (
    SELECT list, snapshot_id, snapshot_time, addresses AS listed_addresses
    FROM blocklist_snapshots
    WHERE status = 'ok'
),
per_origin AS (
    SELECT a.list, a.snapshot_id, a.origin_asn,
           sum(a.addresses)::UBIGINT AS addresses, count(*)::BIGINT AS entries
    FROM blocklist_attribution_counted AS a
    GROUP BY a.list, a.snapshot_id, a.origin_asn
)
SELECT
    n.list,
    n.snapshot_id,
    n.snapshot_time,
    n.snapshot_time::DATE AS snapshot_day,
    p.origin_asn,
    p.entries,
    p.addresses,
    p.addresses / 256.0 AS slash24_equivalents,
    p.addresses / n.listed_addresses::DOUBLE AS share,
    n.listed_addresses,
    w.event_id AS watched_event_id,
    rank() OVER (
        PARTITION BY n.list, n.snapshot_id ORDER BY p.addresses DESC, p.origin_asn
    ) AS rank_in_snapshot
FROM per_origin AS p
JOIN snapshots AS n USING (list, snapshot_id)
LEFT JOIN watched_asns AS w ON w.asn = p.origin_asn
ORDER BY n.list, n.snapshot_time, p.addresses DESC, p.origin_asn;
