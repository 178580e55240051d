# Analysis: study tables from the config, QC gathered, and DuckDB SQL over the Parquet.


rule study_tables:
    output:
        watched="data/processed/watched_asns.parquet",
        events="data/processed/events.parquet",
    log:
        "logs/analysis/study_tables.log",
    resources:
        **rule_resources("study_tables"),
    params:
        cfg=job_config("events", "windows", "synthetic"),
    run:
        jobs.study_tables(
            watched_out=output.watched,
            events_out=output.events,
            config=params.cfg,
            log=log[0],
        )


rule qc_files:
    input:
        prefix2as_daily_qc,
        as_relationships_qc,
        blocklist_cdx_qc,
        blocklist_all_snapshot_qc,
        blocklist_list_qc,
        spam_qc,
        delegated_qc,
        routing_qc,
        "data/processed/qc/gaps/prefix2as.json",
        "data/processed/qc/gaps/delegations.json",
        "data/processed/qc/gaps/routing.json",
    output:
        "data/processed/qc_files.parquet",
    log:
        "logs/analysis/qc_files.log",
    resources:
        **rule_resources("qc_files"),
    params:
        cfg=job_config("synthetic"),
    run:
        jobs.gather_qc(qc_paths=input, out=output[0], config=params.cfg, log=log[0])


rule blocklist_attribution:
    input:
        entries=blocklist_entries_tables,
        episodes="data/processed/prefix_origin.parquet",
        ip_country="data/processed/ip_country.parquet",
    output:
        "data/processed/blocklist_attribution.parquet",
    log:
        "logs/blocklists/attribution.log",
    resources:
        **rule_resources("blocklist_attribution"),
    params:
        cfg=job_config("synthetic"),
    run:
        jobs.attribute_blocklists(
            entries=input.entries,
            episodes=input.episodes,
            ip_country=input.ip_country,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule sql_result:
    input:
        views=ANALYSIS / "views.sql",
        query=ANALYSIS / "{name}.sql",
        tables=view_tables,
        cutoffs=measured_t0_input,
        reference=reference_input,
    output:
        "results/tables/{name}.csv",
    log:
        "logs/analysis/{name}.log",
    wildcard_constraints:
        name="|".join(SQL_RESULTS),
    resources:
        **rule_resources("sql_result"),
    params:
        cfg=sql_job_config,
    run:
        jobs.sql_table(
            views=input.views,
            query=input.query,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule concentration_input:
    input:
        views=ANALYSIS / "views.sql",
        query=ANALYSIS / "concentration_input.sql",
        tables=view_tables,
        spam_daily="results/tables/spam_daily.csv",
        blocklist_space="results/tables/blocklist_space.csv",
        cutoffs="results/tables/event_cutoffs.csv",
    output:
        "results/tables/concentration_input.parquet",
    log:
        "logs/analysis/concentration_input.log",
    resources:
        **rule_resources("concentration_input"),
    params:
        cfg=job_config("blocklists.concentration_list", "synthetic"),
    run:
        jobs.sql_table(
            views=input.views,
            query=input.query,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


# Daily activity per owner with its role (target, buffer, control) around each event's t0:
# the input of the displacement measures. Not a SQL_RESULT: it reads two results tables.
rule displacement_input:
    input:
        views=ANALYSIS / "views.sql",
        query=ANALYSIS / "displacement_input.sql",
        tables=view_tables,
        buffers="results/tables/buffer_networks.csv",
        cutoffs="results/tables/event_cutoffs.csv",
    output:
        "results/tables/displacement_input.parquet",
    log:
        "logs/analysis/displacement_input.log",
    resources:
        **rule_resources("displacement_input"),
    params:
        cfg=job_config("blocklists.concentration_list", "synthetic"),
    run:
        jobs.sql_table(
            views=input.views,
            query=input.query,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule spam_effects:
    input:
        daily="results/tables/spam_event_daily.csv",
        study_daily="results/tables/spam_study_daily.csv",
        cutoffs="results/tables/event_cutoffs.csv",
        events=reference_tables("events"),
    output:
        effects="results/tables/spam_effects.csv",
        recovery="results/tables/spam_recovery.csv",
    log:
        "logs/analysis/spam_effects.log",
    resources:
        **rule_resources("spam_effects"),
    params:
        cfg=job_config(
            "effects", "verdict.alpha", "windows", "events", "reference", "synthetic"
        ),
    run:
        jobs.spam_effects(
            daily=input.daily,
            study_daily=input.study_daily,
            cutoffs=input.cutoffs,
            out_effects=output.effects,
            out_recovery=output.recovery,
            config=params.cfg,
            log=log[0],
        )


rule concentration:
    input:
        "results/tables/concentration_input.parquet",
    output:
        indices="results/tables/concentration_windows.csv",
        changes="results/tables/concentration_changes.csv",
        gainers="results/tables/share_gainers.csv",
    log:
        "logs/analysis/concentration.log",
    resources:
        **rule_resources("concentration"),
    params:
        cfg=job_config("bootstrap", "verdict.alpha", "synthetic"),
    run:
        jobs.concentration(
            frame_path=input[0],
            out_indices=output.indices,
            out_changes=output.changes,
            out_gainers=output.gainers,
            config=params.cfg,
            log=log[0],
        )


rule displacement:
    input:
        "results/tables/displacement_input.parquet",
    output:
        summary=report(
            "results/tables/displacement.csv",
            caption="../report/displacement.rst",
            category="Verdicts",
        ),
        buffers="results/tables/displacement_buffers.csv",
    log:
        "logs/analysis/displacement.log",
    resources:
        **rule_resources("displacement"),
    params:
        cfg=job_config(
            "bootstrap",
            "verdict.alpha",
            "verdict.displaced_if_gainers_at_most",
            "verdict.displaced_if_gains_hhi_at_least",
            "synthetic",
        ),
    run:
        jobs.displacement(
            frame_path=input[0],
            out_summary=output.summary,
            out_buffers=output.buffers,
            config=params.cfg,
            log=log[0],
        )


rule verdicts:
    input:
        effects="results/tables/spam_effects.csv",
        displacement="results/tables/displacement.csv",
        calibration=workflow.source_path("../../data/calibration/verdict.csv"),
    output:
        csv=report(
            "results/tables/verdicts.csv",
            caption="../report/verdicts.rst",
            category="Verdicts",
        ),
        txt="results/verdicts.txt",
        calibration=report(
            "results/tables/calibration.csv",
            caption="../report/calibration.rst",
            category="Verdicts",
        ),
    log:
        "logs/analysis/verdicts.log",
    resources:
        **rule_resources("verdicts"),
    params:
        cfg=job_config("verdict", "events", "synthetic"),
    run:
        jobs.verdicts(
            effects_csv=input.effects,
            displacement_csv=input.displacement,
            calibration_csv=input.calibration,
            out_csv=output.csv,
            out_txt=output.txt,
            out_calibration=output.calibration,
            config=params.cfg,
            log=log[0],
        )


rule published_comparison:
    input:
        daily="results/tables/spam_event_daily.csv",
        messages=lambda wildcards: [
            f"data/processed/spam_messages/{y}.parquet" for y in spam_years()
        ],
        cutoffs="results/tables/event_cutoffs.csv",
        reference=reference_tables(),
    output:
        report(
            "results/tables/published_comparison.csv",
            caption="../report/published_comparison.rst",
            category="Comparison",
        ),
    log:
        "logs/analysis/published_comparison.log",
    resources:
        **rule_resources("published_comparison"),
    params:
        cfg=job_config("windows.pre_days", "reference", "synthetic"),
    run:
        jobs.published_comparison(
            daily=input.daily,
            messages=input.messages,
            cutoffs=input.cutoffs,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule rehoming_summary:
    input:
        views=ANALYSIS / "views.sql",
        query=ANALYSIS / "rehoming_summary.sql",
        tables=view_tables,
        rehoming="results/tables/routing_rehoming.csv",
        cutoffs="results/tables/event_cutoffs.csv",
    output:
        "results/tables/rehoming_summary.csv",
    log:
        "logs/analysis/rehoming_summary.log",
    resources:
        **rule_resources("rehoming_summary"),
    params:
        cfg=job_config("verdict.rehoming_days", "synthetic"),
    run:
        jobs.sql_table(
            views=input.views,
            query=input.query,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule event_cutoffs:
    input:
        views=ANALYSIS / "views.sql",
        query=ANALYSIS / "event_cutoffs.sql",
        tables=view_tables,
        cutoff="results/tables/routing_cutoff.csv",
    output:
        "results/tables/event_cutoffs.csv",
    log:
        "logs/analysis/event_cutoffs.log",
    resources:
        **rule_resources("event_cutoffs"),
    params:
        cfg=job_config("synthetic"),
    run:
        jobs.sql_table(
            views=input.views,
            query=input.query,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule sensitivity:
    input:
        daily="results/tables/spam_event_daily.csv",
        study_daily="results/tables/spam_study_daily.csv",
        cutoffs="results/tables/event_cutoffs.csv",
        events=reference_tables("events"),
    output:
        report(
            "results/tables/sensitivity.csv",
            caption="../report/sensitivity.rst",
            category="Verdicts",
        ),
    log:
        "logs/analysis/sensitivity.log",
    resources:
        **rule_resources("sensitivity"),
    params:
        cfg=job_config(
            "effects", "verdict", "windows", "events", "reference", "synthetic"
        ),
    run:
        jobs.sensitivity(
            daily=input.daily,
            study_daily=input.study_daily,
            cutoffs=input.cutoffs,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule placebo:
    input:
        daily="results/tables/spam_study_daily.csv",
        cutoffs="results/tables/event_cutoffs.csv",
        events=reference_tables("events"),
        effects="results/tables/spam_effects.csv",
    output:
        placebo="results/tables/placebo.csv",
        ranks=report(
            "results/tables/placebo_ranks.csv",
            caption="../report/placebo.rst",
            category="Verdicts",
        ),
    log:
        "logs/analysis/placebo.log",
    resources:
        **rule_resources("placebo"),
    params:
        cfg=job_config(
            "effects",
            "verdict",
            "windows",
            "events",
            "placebo",
            "reference",
            "synthetic",
        ),
    run:
        jobs.placebo(
            study_daily=input.daily,
            cutoffs=input.cutoffs,
            effects_csv=input.effects,
            out_placebo=output.placebo,
            out_ranks=output.ranks,
            config=params.cfg,
            log=log[0],
        )


rule threats:
    input:
        daily="results/tables/spam_event_daily.csv",
        cutoffs="results/tables/event_cutoffs.csv",
        events=reference_tables("events"),
        spam=lambda w: [
            f"data/processed/spam_messages/{y}.parquet" for y in spam_years()
        ],
        snapshots=blocklist_snapshot_tables,
        routed="results/tables/routed_space_daily.csv",
        asrel=as_relationships_outputs,
        exchangers=lambda w: [
            f"data/processed/spam_exchangers/{y}.parquet" for y in spam_years()
        ],
    output:
        report(
            "results/tables/threats.csv",
            caption="../report/threats.rst",
            category="Threats to validity",
        ),
    log:
        "logs/analysis/threats.log",
    resources:
        **rule_resources("threats"),
    params:
        cfg=job_config("windows", "events", "reference", "synthetic"),
    run:
        jobs.threats(
            event_daily=input.daily,
            cutoffs=input.cutoffs,
            spam_messages=input.spam,
            blocklist_snapshots=input.snapshots,
            routed_space=input.routed,
            as_relationships=input.asrel,
            out=output[0],
            config=params.cfg,
            log=log[0],
            spam_exchangers=input.exchangers,
        )
