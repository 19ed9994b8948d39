# Gold: analysis-ready stores built from bronze and silver. stocks_daily -> the Qlib store.


rule gold_qlib_stocks_daily:
    input:
        unpack(qlib_inputs),
    output:
        f"{LAKE}/gold/qlib/.quantmini/stocks_daily.json",
    log:
        "logs/gold/stocks_daily_qlib.log",
    conda:
        "../envs/quantmini.yaml"
    resources:
        qlib_store=1,
        mem_mb=4000,
    params:
        lake=lake_root,
        basis=qlib_adjustment,
    script:
        "../scripts/gold_qlib_stocks_daily.py"
