# Bronze REST pulls: dividends, splits, ipos, ticker_events, fundamentals, news,
# short_interest, short_volume, tickers. One immutable partition per pull date and
# window; the schedule (quantmini/rest/schedule.py) decides which pulls a date makes.
# API jobs take one `polygon_api` unit each; the calls-per-minute limit is shared by all
# jobs on the lake (quantmini/rest/ratelimit.py).


rule bronze_rest:
    input:
        unpack(reference_tickers_for_pull),
    output:
        RUN.lake.bronze_rest_pattern(),
    log:
        "logs/bronze/{rest_dataset}/{pull_date}/{window}.log",
    conda:
        "../envs/quantmini.yaml"
    resources:
        polygon_api=1,
        mem_mb=600,
    params:
        lake=lake_root,
    script:
        "../scripts/bronze_rest.py"
