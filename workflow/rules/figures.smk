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
    run:
        jobs.address_space_figure(input[0], output[0], config)
