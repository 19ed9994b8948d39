# Bronze REST pulls: dividends, splits, ipos, ticker_events, fundamentals, news,
# short_interest, short_volume, tickers. One immutable partition per pull date and
# window; the schedule (quantmini/rest/schedule.py) decides which pulls a date makes.
# API jobs take one `polygon_api` unit each; the calls-per-minute limit is shared by all
# jobs on the lake (quantmini/rest/ratelimit.py). A pull runs on Snakemake's own threads
# (`run:`): it waits on the vendor, and a process of its own cost a Python start per pull.


rule bronze_rest:
    input:
        unpack(reference_tickers_for_pull),
    output:
        RUN.lake.bronze_rest_pattern(),
    log:
        "logs/bronze/{rest_dataset}/{pull_date}/{window}.log",
    wildcard_constraints:
        pull_date=PLAN.pull_dates_made(),
    priority: rest_priority
    threads: api_threads
    resources:
        polygon_api=1,
        mem_mb=600,
    params:
        lake=lake_root,
    run:
        jobs.bronze_rest(
            config=config,
            lake_root=params.lake,
            dataset=wildcards.rest_dataset,
            pull_date=wildcards.pull_date,
            window=wildcards.window,
            output=output[0],
            log_file=log[0],
            reference=input.get("reference"),
        )
