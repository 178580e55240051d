-- Daily spam-trap volume, in total and broken down by the relay's origin AS and country.
-- One long table; `breakdown` says which rows are which:
--   'total'      one row per day: every message with a usable name (messages), those with
--                a public IPv4 relay (with_relay), and those without (no_relay);
--   'origin_asn' one row per day and origin AS of the relay (longest-prefix match on that
--                day); a relay in a MOAS prefix counts once for each origin in `messages`
--                and 1/n for each of its n origins in `weighted_messages`, so the weighted
--                counts of a day add up to with_relay; origin_asn NULL = unrouted that day;
--   'country'    one row per day and registry country (NULL = in no delegated range).
-- `share` = weighted_messages / with_relay of the day; `event_id` names the event whose
-- watched ASN the origin is (NULL otherwise).
WITH msgs AS (
    SELECT day, relay_status = 'ok' AS has_relay, origins, country
    FROM spam_messages_attributed
),
totals AS (
    SELECT
        day,
        count(*) AS messages,
        count(*) FILTER (WHERE has_relay) AS with_relay
    FROM msgs
    GROUP BY day
),
per_origin AS (
    SELECT
        day,
        unnest(CASE WHEN len(origins) = 0 THEN [NULL::UINTEGER] ELSE origins END) AS origin_asn,
        1.0 / greatest(len(origins), 1) AS weight
    FROM msgs
    WHERE has_relay
),
by_asn AS (
    SELECT day, origin_asn, count(*) AS messages, sum(weight) AS weighted_messages
    FROM per_origin
    GROUP BY day, origin_asn
),
by_country AS (
    SELECT day, country, count(*) AS messages, count(*)::DOUBLE AS weighted_messages
    FROM msgs
    WHERE has_relay
    GROUP BY day, country
),
watched AS (
    SELECT asn, min(event_id) AS event_id FROM watched_asns GROUP BY asn
)
SELECT
    t.day,
    'total' AS breakdown,
    NULL::UINTEGER AS origin_asn,
    NULL::VARCHAR AS country,
    t.messages,
    t.with_relay::DOUBLE AS weighted_messages,
    t.with_relay,
    t.messages - t.with_relay AS no_relay,
    CASE WHEN t.messages > 0 THEN t.with_relay / t.messages END AS share,
    NULL::VARCHAR AS event_id
FROM totals AS t
UNION ALL
SELECT
    a.day,
    'origin_asn',
    a.origin_asn,
    NULL,
    a.messages,
    a.weighted_messages,
    t.with_relay,
    NULL,
    a.weighted_messages / t.with_relay,
    w.event_id
FROM by_asn AS a
JOIN totals AS t USING (day)
LEFT JOIN watched AS w ON w.asn = a.origin_asn
UNION ALL
SELECT
    c.day,
    'country',
    NULL,
    c.country,
    c.messages,
    c.weighted_messages,
    t.with_relay,
    NULL,
    c.weighted_messages / t.with_relay,
    NULL
FROM by_country AS c
JOIN totals AS t USING (day)
ORDER BY day, breakdown DESC, weighted_messages DESC, origin_asn, country;
