-- Daily spam-trap counts in each event's window [t0 - pre_days, t0 + max(post_days)),
-- t0 the nominal cut-off day. A calendar of every day is left-joined to the counts, so a day
-- the archives do not cover (its year's archive was not read with QC status ok) is
-- `covered = false` and its count is not a zero; a covered day without mail counts 0.
WITH calendar AS (
    SELECT
        e.event_id,
        e.nominal_cutoff,
        CAST(d.generate_series AS DATE) AS day
    FROM events AS e,
        generate_series(
            CAST(e.nominal_cutoff AS DATE) - e.pre_days,
            CAST(e.nominal_cutoff AS DATE) + e.max_post_days - 1,
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
    c.day - CAST(c.nominal_cutoff AS DATE) AS days_from_nominal_cutoff
FROM calendar AS c
LEFT JOIN counts AS n USING (day)
ORDER BY c.event_id, c.day;
