# Gold: analysis-ready stores built from bronze. stocks_daily -> the Qlib binary store.


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
