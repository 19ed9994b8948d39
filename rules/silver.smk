# Silver: bronze REST pulls cleaned, deduplicated and joined, each file rebuilt whole from
# every pull the lake holds (quantmini/silver/). corporate_actions <- dividends, splits,
# ipos, ticker_events; fundamentals <- fundamentals; financial_ratios <- silver fundamentals.
# corporate_actions reruns every night (its flags read the new day's bars) and heads the Qlib
# chain: it runs in Snakemake's own process (`run:`), not a `script:` job's new one.


checkpoint silver_corporate_actions:
    input:
        unpack(corporate_action_pulls),
    output:
        **PLAN.silver_corporate_actions_outputs(),
    log:
        "logs/silver/corporate_actions.log",
    priority: QLIB_CHAIN_PRIORITY
    resources:
        mem_mb=2000,
    params:
        lake=lake_root,
        history=history_on_disk,
    run:
        jobs.silver_corporate_actions(
            lake_root=params.lake,
            inputs=input,
            outputs=output,
            log_file=log[0],
            history=params.history,
        )


rule silver_fundamentals:
    input:
        fundamentals_pulls,
    output:
        **PLAN.silver_outputs("fundamentals"),
        **PLAN.silver_pit_outputs(),
    log:
        "logs/silver/fundamentals.log",
    conda:
        "../envs/quantmini.yaml"
    resources:
        mem_mb=2000,
    params:
        lake=lake_root,
    script:
        "../scripts/silver_fundamentals.py"


rule silver_financial_ratios:
    input:
        **PLAN.silver_outputs("fundamentals"),
    output:
        **PLAN.silver_outputs("financial_ratios"),
    log:
        "logs/silver/financial_ratios.log",
    conda:
        "../envs/quantmini.yaml"
    resources:
        mem_mb=1000,
    params:
        lake=lake_root,
    script:
        "../scripts/silver_financial_ratios.py"
