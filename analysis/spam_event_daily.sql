-- Daily spam-trap counts in each event's window [t0 - pre_days, t0 + max(post_days)) by day,
-- t0 the event's measured cut-off (results/tables/event_cutoffs.csv; the nominal one where
-- none was measured, t0_source says which); the calendar also reaches the same span around
-- the nominal cut-off, so that both can be read. A calendar of every day is left-joined to the counts, so a day
-- the archives do not cover (its year's archive was not read with QC status ok) is
-- `covered = false` and its count is not a zero; a covered day without mail counts 0.
WITH ev AS (
    SELECT e.event_id, e.nominal_cutoff, e.pre_days, e.max_post_days, t.t0, t.t0_source
    FROM events AS e
    JOIN event_t0('results/tables/event_cutoffs.csv') AS t USING (event_id)
),
calendar AS (
    SELECT
        e.event_id,
        e.nominal_cutoff,
        e.t0,
        e.t0_source,
        CAST(d.generate_series AS DATE) AS day
    FROM ev AS e,
        generate_series(
            least(CAST(e.nominal_cutoff AS DATE), CAST(e.t0 AS DATE)) - e.pre_days,
            greatest(CAST(e.nominal_cutoff AS DATE), CAST(e.t0 AS DATE)) + e.max_post_days - 1,
            INTERVAL 1 DAY
        ) AS d
),
archives AS (
    SELECT DISTINCT CAST(regexp_extract(source_file, '(\d{4})\.7z$', 1) AS INTEGER) AS year
    FROM qc_files
    WHERE stage = 'spamtrap' AND status = 'ok'
),
counts AS (
    SELECT day, count(*) AS messages, count(*) FILTER (WHERE relay_status = 'ok') AS with_relay
    FROM spam_messages
    GROUP BY day
)
SELECT
    c.event_id,
    c.day,
    coalesce(n.messages, 0)::BIGINT AS count,
    coalesce(n.with_relay, 0)::BIGINT AS with_relay,
    year(c.day) IN (SELECT year FROM archives) AS covered,
    c.day - CAST(c.t0 AS DATE) AS days_from_t0,
    c.t0_source,
    c.day - CAST(c.nominal_cutoff AS DATE) AS days_from_nominal_cutoff
FROM calendar AS c
LEFT JOIN counts AS n USING (day)
ORDER BY c.event_id, c.day;
