# Bronze: the flat files as typed, sorted Parquet, one file per dataset and session,
# hive-partitioned year=/month=/day=. Datasets: stocks_daily, stocks_minute,
# options_daily, options_minute (schemas and sort orders in quantmini/bronze.py).


rule bronze_flatfile:
    input:
        landing_for_bronze,
    output:
        RUN.lake.bronze_pattern(),
    log:
        LOG_PATTERNS["bronze"],
    priority: bronze_priority
    resources:
        mem_mb=bronze_mem_mb,
    params:
        date=date_of,
        lake=lake_root,
    run:
        jobs.bronze_flatfile(
            lake_root=params.lake,
            dataset=wildcards.dataset,
            date=params.date,
            landing=input[0],
            output=output[0],
            log_file=log[0],
        )
