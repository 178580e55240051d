# Figures (seaborn), PNG for the report and SVG beside it.


rule address_space_figure:
    input:
        "results/tables/address_space_daily.csv",
    output:
        report(
            "results/figures/address_space_daily.png",
            caption="../report/address_space_figure.rst",
            category="Routing",
        ),
    log:
        "logs/figures/address_space_daily.log",
    resources:
        **rule_resources("address_space_figure"),
    params:
        cfg=job_config("windows", "events", "synthetic"),
    run:
        jobs.address_space_figure(
            table=input[0], out=output[0], config=params.cfg, log=log[0]
        )


rule spam_timeline_figure:
    input:
        daily="results/tables/spam_event_daily.csv",
        cutoffs="results/tables/event_cutoffs.csv",
    output:
        report(
            "results/figures/spam_timeline.png",
            caption="../report/spam_timeline.rst",
            category="Spam",
        ),
    log:
        "logs/figures/spam_timeline.log",
    resources:
        **rule_resources("spam_timeline_figure"),
    params:
        cfg=job_config("windows", "events", "synthetic"),
    run:
        jobs.spam_timeline_figure(
            daily=input.daily,
            cutoffs=input.cutoffs,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule answer_figure:
    input:
        "results/tables/verdicts.csv",
    output:
        report(
            "results/figures/answer.png",
            caption="../report/answer_figure.rst",
            category="Verdicts",
        ),
    log:
        "logs/figures/answer.log",
    resources:
        **rule_resources("answer_figure"),
    params:
        cfg=job_config("events", "synthetic"),
    run:
        jobs.answer_figure(
            verdicts=input[0], out=output[0], config=params.cfg, log=log[0]
        )


rule forest_figure:
    input:
        effects="results/tables/spam_effects.csv",
        comparison="results/tables/published_comparison.csv",
    output:
        report(
            "results/figures/spam_effects_forest.png",
            caption="../report/spam_effects_forest.rst",
            category="Comparison",
        ),
    log:
        "logs/figures/spam_effects_forest.log",
    resources:
        **rule_resources("forest_figure"),
    params:
        cfg=job_config("effects.families", "windows.post_days", "events", "synthetic"),
    run:
        jobs.forest_figure(
            effects=input.effects,
            comparison=input.comparison,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule concentration_figure:
    input:
        "results/tables/concentration_changes.csv",
    output:
        report(
            "results/figures/concentration.png",
            caption="../report/concentration.rst",
            category="Dispersion",
        ),
    log:
        "logs/figures/concentration.log",
    resources:
        **rule_resources("concentration_figure"),
    params:
        cfg=job_config("verdict.post_days", "events", "synthetic"),
    run:
        jobs.concentration_figure(
            changes=input[0], out=output[0], config=params.cfg, log=log[0]
        )


rule upstream_timeline_figure:
    input:
        upstreams="results/tables/routing_upstreams.csv",
        cutoffs="results/tables/event_cutoffs.csv",
    output:
        report(
            "results/figures/routing_upstreams.png",
            caption="../report/routing_upstreams.rst",
            category="Routing",
        ),
    log:
        "logs/figures/routing_upstreams.log",
    resources:
        **rule_resources("upstream_timeline_figure"),
    params:
        cfg=job_config("windows", "events", "synthetic"),
    run:
        jobs.upstream_timeline_figure(
            upstreams=input.upstreams,
            cutoffs=input.cutoffs,
            out=output[0],
            config=params.cfg,
            log=log[0],
        )


rule blocklist_space_figure:
    input:
        "results/tables/blocklist_space.csv",
    output:
        report(
            "results/figures/blocklist_space.png",
            caption="../report/blocklist_space.rst",
            category="Dispersion",
        ),
    log:
        "logs/figures/blocklist_space.log",
    resources:
        **rule_resources("blocklist_space_figure"),
    params:
        cfg=job_config(
            "blocklists.concentration_list", "windows", "events", "synthetic"
        ),
    run:
        jobs.blocklist_space_figure(
            space=input[0], out=output[0], config=params.cfg, log=log[0]
        )
