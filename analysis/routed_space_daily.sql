-- Routed IPv4 address space per day of the prefix-to-AS tables, with the day's collector
-- (CAIDA switched from oix to route-views2 in March 2008): the input of the level-shift test
-- across that switch (takedowns.analysis.threats). Nested prefixes are counted once each (a level
-- measure, not the size of the routed space). Each origin episode adds its size on its first
-- day and takes it away after its last, so one running sum gives every day (no range join).
WITH deltas AS (
    SELECT first_day AS day, (end_ip::BIGINT - start_ip::BIGINT + 1) AS change
    FROM prefix_origin
    UNION ALL
    SELECT last_day + 1 AS day, -(end_ip::BIGINT - start_ip::BIGINT + 1) AS change
    FROM prefix_origin
),
running AS (
    SELECT day, sum(sum(change)) OVER (ORDER BY day) AS addresses
    FROM deltas
    GROUP BY day
)
SELECT s.day, s.collector, r.addresses::BIGINT AS addresses
FROM prefix2as_snapshots AS s
ASOF JOIN running AS r ON s.day >= r.day
ORDER BY s.day;
