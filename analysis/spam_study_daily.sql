-- Daily spam-trap counts over the whole span of the trap's messages (first to last day with
-- mail), for the placebo cut-offs: a calendar of every day left-joined to the counts, so a day
-- whose year's archive was not read with QC status ok is `covered = false` (missing, not 0).
WITH archives AS (
    SELECT DISTINCT CAST(regexp_extract(source_file, '(\d{4})\.7z$', 1) AS INTEGER) AS year
    FROM qc_files
    WHERE stage = 'spamtrap' AND status = 'ok'
),
counts AS (
    SELECT day, count(*) AS messages
    FROM spam_messages
    GROUP BY day
),
span AS (
    SELECT min(day) AS first_day, max(day) AS last_day FROM counts
),
calendar AS (
    SELECT CAST(d.generate_series AS DATE) AS day
    FROM span, generate_series(span.first_day, span.last_day, INTERVAL 1 DAY) AS d
)
SELECT
    c.day,
    coalesce(n.messages, 0)::BIGINT AS count,
    year(c.day) IN (SELECT year FROM archives) AS covered
FROM calendar AS c
LEFT JOIN counts AS n USING (day)
ORDER BY c.day;
