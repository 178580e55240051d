# Retrieval: every raw file is downloaded by this one rule, exactly as served, to
# data/raw/<host>/<path>; checksums are recorded in data/raw/SHA256SUMS.


rule download:
    output:
        "data/raw/{relpath}",
    log:
        "logs/download/{relpath}.log",
    wildcard_constraints:
        relpath=r"[^/]+\.[a-z]+/.+",
    params:
        url=download_url,
    run:
        jobs.download(params.url, output[0], config, log[0])
