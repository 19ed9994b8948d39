# Backfill batches (quantmini/batches.py): a long window's sessions of a dataset the lake has
# not got are built by one job per dataset and month, through the per-session job bodies, so
# the files are the ones the per-session rules write. One rule per batch, declared for the
# batches this run makes and for those earlier runs completed (their manifests) whose
# sessions this run's DAG can name, so that the rule that made a file stays its producer. A
# rule without wildcards is preferred over the per-session rules for the same files.


for batch in PLAN.batches("flatfile"):

    rule:
        name:
            batch.rule_name
        input:
            PLAN.batch_markers(batch),
        output:
            **PLAN.batch_flatfile_outputs(batch),
        log:
            f"logs/backfill/{batch.rule_name}.log",
        resources:
            s3_connections=1,
            mem_mb=FLATFILE_DATASETS[batch.dataset].bronze_mem_mb,
        params:
            dataset=batch.dataset,
            dates=list(batch.sessions),
            lake=lake_root,
            corrections=PLAN.batch_correction_stamps(batch),
        run:
            jobs.backfill_flatfiles(
                config,
                params.lake,
                params.dataset,
                params.dates,
                output.landing,
                output.bronze,
                output.manifest,
                log[0],
            )


for batch in PLAN.batches("gold"):

    rule:
        name:
            batch.rule_name
        input:
            unpack(batch_gold_inputs(batch)),
        output:
            **PLAN.batch_gold_outputs(batch),
        log:
            f"logs/backfill/{batch.rule_name}.log",
        resources:
            mem_mb=1500,
        params:
            lake=lake_root,
            basis=config["qlib_adjustment"],
            lookback=config["gold_lookback_sessions"],
            sessions=batch_gold_sessions(batch),
            actions=batch_gold_actions(batch),
        run:
            jobs.backfill_gold_stocks_daily(
                params.lake,
                params.basis,
                params.sessions,
                input.splits,
                input.dividends,
                output.gold,
                output.manifest,
                log[0],
            )
