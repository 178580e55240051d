-- Re-homing per event, as the verdict reads it (results/tables/routing_rehoming.csv):
--   share_rehomed: share of the event's pre-window address space (its pre-window prefixes,
--                  nested ones counted once) that was announced again, as the same prefix or
--                  a more specific one, by an origin outside the event's watched ASNs within
--                  rehoming_days after the event's t0 (the measured cut-off of
--                  results/tables/event_cutoffs.csv, nominal where none was measured; the
--                  routing rows count hours from the nominal cut-off) (a covering, less specific
--                  announcement is left out: an upstream's aggregate that existed all along
--                  is no re-homing);
--   new_origins:   how many such origins there were; prefixes_rehomed: how many of the
--                  pre-window prefixes had such an announcement inside them.
-- One row per event and window: every post window (windows.post_days) and the verdict's
-- rehoming_days (DuckDB variable).
WITH windows AS (
    SELECT DISTINCT event_id, unnest(list_append(post_days, getvariable('rehoming_days')::INTEGER))
        AS within_days
    FROM events
),
shift AS (  -- hours from the nominal cut-off to t0
    SELECT e.event_id, (epoch(t.t0) - epoch(e.nominal_cutoff)) / 3600.0 AS hours
    FROM events AS e
    JOIN event_t0('results/tables/event_cutoffs.csv') AS t USING (event_id)
),
rows AS (
    SELECT r.*, r.hours_after_nominal_cutoff - s.hours AS hours_after_t0
    FROM read_csv('results/tables/routing_rehoming.csv') AS r
    JOIN shift AS s USING (event_id)
),
ranges AS (  -- a.b.c.d/len as [first, last] addresses
    SELECT
        event_id, pre_prefix, post_prefix, post_origin, relation, announced_after,
        origin_is_watched, hours_after_t0,
        list_reduce(list_transform(string_split(split_part(pre_prefix, '/', 1), '.'),
                                   lambda x: x::UBIGINT), lambda a, b: a * 256 + b) AS pre_start,
        pow(2, 32 - split_part(pre_prefix, '/', 2)::INTEGER)::UBIGINT AS pre_size,
        list_reduce(list_transform(string_split(split_part(post_prefix, '/', 1), '.'),
                                   lambda x: x::UBIGINT), lambda a, b: a * 256 + b) AS post_start,
        pow(2, 32 - split_part(post_prefix, '/', 2)::INTEGER)::UBIGINT AS post_size
    FROM rows
),
pre AS (
    SELECT DISTINCT event_id, pre_prefix, pre_start AS s, pre_start + pre_size - 1 AS e
    FROM ranges
),
outer_pre AS (  -- pre-window prefixes not inside another one of the same event
    SELECT p.* FROM pre AS p
    WHERE NOT EXISTS (
        SELECT 1 FROM pre AS o
        WHERE o.event_id = p.event_id AND o.s <= p.s AND o.e >= p.e
          AND (o.s <> p.s OR o.e <> p.e)
    )
),
moved AS (
    SELECT DISTINCT r.event_id, w.within_days, r.pre_prefix, r.post_prefix, r.post_origin,
           r.post_start AS s, r.post_start + r.post_size - 1 AS e
    FROM ranges AS r
    JOIN windows AS w USING (event_id)
    WHERE r.announced_after
      AND r.relation IN ('same', 'more_specific')
      AND NOT r.origin_is_watched
      AND r.hours_after_t0 >= 0
      AND r.hours_after_t0 <= 24 * w.within_days
),
moved_space AS (  -- re-announced ranges, nested ones counted once
    SELECT event_id, within_days, sum(e - s + 1) AS addresses FROM (
        SELECT DISTINCT m.event_id, m.within_days, m.s, m.e FROM moved AS m
        WHERE NOT EXISTS (
            SELECT 1 FROM moved AS o
            WHERE o.event_id = m.event_id AND o.within_days = m.within_days
              AND o.s <= m.s AND o.e >= m.e AND (o.s <> m.s OR o.e <> m.e)
        )
    ) GROUP BY event_id, within_days
),
pre_space AS (
    SELECT event_id, sum(e - s + 1) AS addresses, count(*) AS prefixes FROM outer_pre
    GROUP BY event_id
)
SELECT
    p.event_id,
    w.within_days,
    (SELECT count(DISTINCT pre_prefix) FROM pre AS x WHERE x.event_id = p.event_id)
        AS pre_prefixes,
    p.addresses::UBIGINT AS pre_addresses,
    (SELECT count(DISTINCT pre_prefix) FROM moved AS m
     WHERE m.event_id = p.event_id AND m.within_days = w.within_days) AS prefixes_rehomed,
    coalesce(s.addresses, 0)::UBIGINT AS addresses_rehomed,
    coalesce(s.addresses, 0) / p.addresses::DOUBLE AS share_rehomed,
    (SELECT count(DISTINCT post_origin) FROM moved AS m
     WHERE m.event_id = p.event_id AND m.within_days = w.within_days) AS new_origins,
    (SELECT list(DISTINCT post_origin ORDER BY post_origin) FROM moved AS m
     WHERE m.event_id = p.event_id AND m.within_days = w.within_days) AS new_origin_asns
FROM pre_space AS p
JOIN windows AS w USING (event_id)
LEFT JOIN moved_space AS s ON s.event_id = p.event_id AND s.within_days = w.within_days
ORDER BY p.event_id, w.within_days;
