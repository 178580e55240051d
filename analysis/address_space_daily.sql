-- Address space originated by each watched ASN on each snapshot day.
-- Nested or overlapping prefixes are merged first, so every address counts once;
-- a day on which the ASN originates nothing has 0 (the takedown shows as a drop to 0).
WITH days AS (
    SELECT DISTINCT day FROM prefix2as_snapshots
),
watched_episodes AS (
    SELECT w.event_id, w.asn, p.start_ip, p.end_ip, p.first_day, p.last_day
    FROM prefix_origin_asn AS p
    JOIN watched_asns AS w ON p.origin_asn = w.asn
),
held AS (
    SELECT d.day, e.event_id, e.asn, e.start_ip::UBIGINT AS s, e.end_ip::UBIGINT AS e
    FROM watched_episodes AS e
    JOIN days AS d ON d.day BETWEEN e.first_day AND e.last_day
),
ordered AS (
    SELECT *, max(e) OVER (
        PARTITION BY day, event_id, asn ORDER BY s, e
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS reach
    FROM held
),
islands AS (
    SELECT *, sum(CASE WHEN reach IS NULL OR s > reach + 1 THEN 1 ELSE 0 END) OVER (
        PARTITION BY day, event_id, asn ORDER BY s, e
    ) AS island
    FROM ordered
),
merged AS (
    SELECT day, event_id, asn, min(s) AS s, max(e) AS e, count(*) AS prefixes
    FROM islands
    GROUP BY day, event_id, asn, island
),
per_day AS (
    SELECT day, event_id, asn, sum(e - s + 1)::UBIGINT AS addresses, sum(prefixes) AS prefixes
    FROM merged
    GROUP BY day, event_id, asn
)
SELECT
    d.day,
    w.event_id,
    w.asn,
    coalesce(p.prefixes, 0)::BIGINT AS prefixes,
    coalesce(p.addresses, 0)::UBIGINT AS addresses,
    coalesce(p.addresses, 0) / 256.0 AS slash24_equivalents,
    d.day - w.nominal_cutoff::DATE AS days_from_nominal_cutoff
FROM days AS d
CROSS JOIN watched_asns AS w
LEFT JOIN per_day AS p ON p.day = d.day AND p.event_id = w.event_id AND p.asn = w.asn
ORDER BY w.event_id, w.asn, d.day;
