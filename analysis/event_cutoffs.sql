-- The cut-off t0 each event's effects are measured from: the nominal (press) time from the
-- configuration (data/reference/events.csv), one row per event.
SELECT event_id, nominal_cutoff AS t0, 'nominal' AS t0_source, nominal_cutoff
FROM events
ORDER BY nominal_cutoff;
