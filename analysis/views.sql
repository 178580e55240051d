-- Named views over the processed tables, for the workflow's queries and for ad-hoc SQL:
--   duckdb -init analysis/views.sql        (from the project root, or from demo/ for the demo)
-- Paths are relative to the directory the workflow ran in.

-- The configured events and the ASNs watched for each (one row per event and ASN).
CREATE OR REPLACE VIEW watched_asns AS
SELECT * FROM read_parquet('data/processed/watched_asns.parquet');

-- The configured events with their analysis windows (pre_days before the cut-off; one post
-- window per entry of post_days).
CREATE OR REPLACE VIEW events AS
SELECT * FROM read_parquet('data/processed/events.parquet');

-- Each event's t0 as the workflow measured it (results/tables/event_cutoffs.csv): the cut-off
-- measured from the BGP updates, or the nominal one where none was measured (t0_source).
-- A table macro over the file's path, so that only the queries that call it need the file:
--   SELECT * FROM event_t0('results/tables/event_cutoffs.csv');
CREATE OR REPLACE MACRO event_t0(path) AS TABLE
SELECT event_id, t0::TIMESTAMPTZ AS t0, t0_source
FROM read_csv(path, all_varchar = true);

-- CAIDA prefix-to-AS: which daily snapshots the study used (day, time, collector, URL).
CREATE OR REPLACE VIEW prefix2as_snapshots AS
SELECT * FROM read_parquet('data/processed/prefix2as_snapshots.parquet');

-- Origin episodes: prefix (text, start_ip/end_ip uint32, length), origins (list of uint32;
-- MOAS and AS-set members flattened; origin_text keeps CAIDA's notation), first_day..last_day.
CREATE OR REPLACE VIEW prefix_origin AS
SELECT * FROM read_parquet('data/processed/prefix_origin.parquet');

-- The same, one row per (episode, origin ASN): the convenient form for joins on ASN.
CREATE OR REPLACE VIEW prefix_origin_asn AS
SELECT * EXCLUDE (origins), unnest(origins) AS origin_asn FROM prefix_origin;

-- CAIDA AS relationships, monthly: as1 is the provider of as2 for kind 'p2c'; peers for 'p2p'.
CREATE OR REPLACE VIEW as_relationships AS
SELECT * FROM read_parquet('data/processed/as_relationships/*.parquet');

-- What every normalize job read, kept and skipped (by reason), per raw file.
CREATE OR REPLACE VIEW qc_files AS
SELECT * FROM read_parquet('data/processed/qc_files.parquet');

-- Which origin AS(es) held address x (uint32) on day d: a table macro for ad-hoc use,
-- e.g. SELECT * FROM origin_of(3494422785, DATE '2008-11-01');
CREATE OR REPLACE MACRO origin_of(ip, d) AS TABLE
SELECT prefix, origins, first_day, last_day, collector
FROM prefix_origin
WHERE start_ip <= ip AND end_ip >= ip AND d BETWEEN first_day AND last_day
ORDER BY length DESC;

-- Blocklist snapshots (Wayback captures of Spamhaus DROP and the Emerging Threats RBN lists):
-- one row per capture the CDX API listed (cdx_timestamp; snapshot_time = the capture actually
-- served), with its final QC status: 'ok', 'suspect' (parsed to nothing, or to far fewer
-- entries than its neighbours), 'missing' (the archive has no capture), 'redirected' (the
-- replay redirected to another capture) or 'digest_mismatch' (the served bytes' SHA-1 is not
-- the CDX digest); only 'ok' and 'suspect' captures have entries. With its entry count and
-- distinct listed addresses.
CREATE OR REPLACE VIEW blocklist_snapshots AS
SELECT * FROM read_parquet('data/processed/blocklist_snapshots/*.parquet');

-- Blocklist entries: one row per listed prefix per snapshot: list, snapshot_id, snapshot_time,
-- prefix (text, start_ip/end_ip uint32, length), reference (Spamhaus SBL id, or 'sid:N' of the
-- Emerging Threats rule), comment (the rule's msg), line_no, source_url (the list's URL as
-- captured), replay_url (the capture's Wayback URL). Join blocklist_snapshots for the status.
CREATE OR REPLACE VIEW blocklist_entries AS
SELECT * FROM read_parquet('data/processed/blocklist_entries/*.parquet');

-- Each entry's addresses per origin AS on its snapshot day (most specific announcement wins;
-- origin_asn NULL = addresses with no route): list, snapshot_id, snapshot_time, prefix,
-- start_ip, end_ip, origin_asn, addresses.
CREATE OR REPLACE VIEW blocklist_attribution AS
SELECT * FROM read_parquet('data/processed/blocklist_attribution.parquet');

-- The attribution rows that count as listed space: snapshots with QC status 'ok' only, and no
-- entry that lies inside another entry of the same snapshot (the outer entry's attribution
-- already counts its addresses once); rows with addresses > 0.
CREATE OR REPLACE VIEW blocklist_attribution_counted AS
WITH ok AS (
    SELECT list, snapshot_id FROM blocklist_snapshots WHERE status = 'ok'
),
entries AS (
    SELECT DISTINCT a.list, a.snapshot_id, a.start_ip, a.end_ip
    FROM blocklist_attribution AS a
    JOIN ok USING (list, snapshot_id)
),
inner_entries AS (
    SELECT DISTINCT e.list, e.snapshot_id, e.start_ip, e.end_ip
    FROM entries AS e
    JOIN entries AS o
      ON o.list = e.list AND o.snapshot_id = e.snapshot_id
     AND o.start_ip <= e.start_ip AND o.end_ip >= e.end_ip
     AND (o.start_ip <> e.start_ip OR o.end_ip <> e.end_ip)
)
SELECT a.*
FROM blocklist_attribution AS a
JOIN ok USING (list, snapshot_id)
ANTI JOIN inner_entries AS i USING (list, snapshot_id, start_ip, end_ip)
WHERE a.addresses > 0;

-- Spam-trap messages (one row per message; relay_status says why a relay is missing).
CREATE OR REPLACE VIEW spam_messages AS
SELECT * FROM read_parquet('data/processed/spam_messages/*.parquet');

-- The same with the relay's origin AS(es) (matched_prefix, origins) and country on its day.
CREATE OR REPLACE VIEW spam_messages_attributed AS
SELECT * FROM read_parquet('data/processed/spam_attributed/*.parquet');

-- Registry country of IPv4 ranges, one snapshot per registry and month, with validity.
CREATE OR REPLACE VIEW ip_country AS
SELECT * FROM read_parquet('data/processed/ip_country.parquet');

-- RouteViews / RIS elements (one Parquet per raw MRT file): RIB entries and updates that touch
-- the watched ASNs or their pre-window prefixes (every IPv4 element with routing.keep_all).
CREATE OR REPLACE VIEW routing_elements AS
SELECT * FROM read_parquet('data/processed/routing/*/*.parquet');

-- Every peer of every routing file with its IPv4/IPv6 element counts (share denominators).
CREATE OR REPLACE VIEW routing_peers AS
SELECT * FROM read_parquet('data/processed/routing_peers/*/*.parquet');

-- The routing queries' common ground. Each event with its nominal cut-off (t0) and its
-- watched ASNs as one list: the anchor of the measurements of the cut-off.
CREATE OR REPLACE VIEW event_watch AS
SELECT event_id, any_value(event_name) AS event_name, min(nominal_cutoff) AS t0,
       list(asn ORDER BY asn) AS asns
FROM watched_asns GROUP BY event_id;

-- Every prefix a watched ASN of an event announced in a RIB or an update file.
CREATE OR REPLACE VIEW event_prefixes AS
SELECT DISTINCT e.event_id, r.prefix
FROM routing_elements AS r JOIN event_watch AS e ON list_has_any(r.origins, e.asns)
WHERE r.kind IN ('rib', 'announce');

-- Every routing element about an event's prefixes, whatever its origin (withdrawals
-- included), and whether a watched ASN of the event originated it.
CREATE OR REPLACE VIEW event_routing_rows AS
SELECT ep.event_id, r.*, list_has_any(r.origins, e.asns) AS watched_origin
FROM routing_elements AS r
JOIN event_prefixes AS ep ON ep.prefix = r.prefix
JOIN event_watch AS e ON e.event_id = ep.event_id;
