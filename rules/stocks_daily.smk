# stocks_daily: us_stocks_sip/day_aggs_v1 -> bronze Parquet -> gold Qlib store.
# Landing is the generic rule in landing.smk.


rule bronze_stocks_daily:
    input:
        landing_stocks_daily,
    output:
        f"{LAKE}/bronze/stocks_daily/year={{year}}/month={{month}}/day={{day}}/part.parquet",
    log:
        "logs/bronze/stocks_daily/{year}/{month}/{day}.log",
    conda:
        "../envs/quantmini.yaml"
    resources:
        mem_mb=1000,
    params:
        date=date_of,
        lake=lake_root,
    script:
        "../scripts/bronze_stocks_daily.py"


rule gold_qlib_stocks_daily:
    input:
        bronze=bronze_stocks_daily_for_gold,
        previous=ancient(previous_gold_receipt_in_window),
    output:
        f"{LAKE}/gold/qlib/_applied/stocks_daily/{{year}}/{{month}}/{{date}}.json",
    log:
        "logs/gold/stocks_daily_qlib/{year}/{month}/{date}.log",
    conda:
        "../envs/quantmini.yaml"
    resources:
        qlib_store=1,
        mem_mb=1000,
    params:
        lake=lake_root,
    script:
        "../scripts/gold_qlib_stocks_daily.py"
