# Gold: analysis-ready stores built from bronze and silver. stocks_daily -> the Qlib store.
# The daily store's job keeps a process of its own (`script:`): in Snakemake's process it
# shared the GIL with the night's conversions (bench/nightly.py: 16.5 s against 14.8 s).


rule gold_qlib_stocks_daily:
    input:
        unpack(qlib_inputs),
    output:
        local(RUN.lake.qlib_receipt("stocks_daily")),
    log:
        "logs/gold/stocks_daily_qlib.log",
    priority: QLIB_CHAIN_PRIORITY
    conda:
        "../envs/quantmini.yaml"
    threads: pool_threads  # reads the bronze days on a thread pool
    resources:
        qlib_store=1,
        mem_mb=4000,
    params:
        lake=lake_root,
        basis=config["qlib_adjustment"],
        actions=qlib_actions,
        history=history_on_disk,
    script:
        "../scripts/gold_qlib_stocks_daily.py"


# Beside the store: the minute store (1min features of a universe's members,
# quantmini/gold/qlib_minute.py), point-in-time universes (instruments/liquid<N>.txt, from the bronze days
# the store holds; quantmini/gold/universes.py) and point-in-time fundamentals
# (financial/, from silver/fundamentals_pit; quantmini/gold/qlib_pit.py).


rule gold_qlib_universes:
    input:
        unpack(qlib_universes_inputs),
    output:
        local(RUN.lake.qlib_receipt("universes")),
    log:
        "logs/gold/qlib_universes.log",
    priority: QLIB_CHAIN_PRIORITY
    resources:
        qlib_store=1,
        mem_mb=1000,
    params:
        lake=lake_root,
        rule={
            "sizes": config["qlib_universes"],
            "lookback": config["qlib_universe_lookback_sessions"],
            "min_sessions": config["qlib_universe_min_sessions"],
            "types": config["qlib_universe_types"],
        },
        history=history_on_disk,
    run:
        jobs.gold_qlib_universes(
            lake_root=params.lake,
            bronze=list(input.bronze),
            tickers=list(input.tickers),
            rule=params.rule,
            output=output[0],
            log_file=log[0],
            history=params.history,
        )


rule gold_qlib_stocks_minute:
    input:
        unpack(qlib_minute_inputs),
    output:
        local(RUN.lake.qlib_receipt("stocks_minute")),
    log:
        "logs/gold/stocks_minute_qlib.log",
    priority: QLIB_CHAIN_PRIORITY
    resources:
        qlib_store=1,
        mem_mb=1000,
    params:
        lake=lake_root,
        universe=qlib_minute_universe,
        symbols=config["qlib_minute_symbols"],
        history=history_on_disk,
    run:
        jobs.gold_qlib_stocks_minute(
            lake_root=params.lake,
            minute=list(input.minute),
            universe=params.universe,
            symbols=params.symbols,
            output=output[0],
            log_file=log[0],
            history=params.history,
        )


rule gold_qlib_fundamentals:
    input:
        **PLAN.silver_pit_outputs(),
    output:
        local(RUN.lake.qlib_receipt("fundamentals")),
    log:
        "logs/gold/qlib_fundamentals.log",
    resources:
        qlib_store=1,
        mem_mb=1000,
    params:
        lake=lake_root,
    run:
        jobs.gold_qlib_fundamentals(
            lake_root=params.lake,
            pit={"quarterly": input.pit_quarterly, "annual": input.pit_annual},
            output=output[0],
            log_file=log[0],
        )


# Gold feature datasets: one Parquet file per session (quantmini/gold/<dataset>.py). Their
# silver inputs are ancient(): a silver rebuild reruns only the sessions whose window holds
# a changed action, through the fingerprint parameter.


rule gold_stocks_daily:
    input:
        unpack(gold_stocks_daily_inputs),
    output:
        local(RUN.lake.gold_pattern("stocks_daily")),
    log:
        LOG_PATTERNS["gold_stocks_daily"],
    resources:
        mem_mb=1000,
    params:
        lake=lake_root,
        date=date_of,
        basis=config["qlib_adjustment"],
        lookback=config["gold_lookback_sessions"],
        actions=gold_stocks_daily_actions,
    run:
        jobs.gold_stocks_daily(
            lake_root=params.lake,
            date=params.date,
            basis=params.basis,
            bronze=input.bronze,
            minute=input.minute,
            splits=input.splits,
            dividends=input.dividends,
            output=output[0],
            log_file=log[0],
        )


rule gold_stocks_minute:
    input:
        bronze=RUN.lake.bronze_pattern("stocks_minute"),
    output:
        local(RUN.lake.gold_pattern("stocks_minute")),
    log:
        "logs/gold/stocks_minute/{year}/{month}/{day}.log",
    resources:
        mem_mb=1500,
    params:
        lake=lake_root,
        date=date_of,
    run:
        jobs.gold_stocks_minute(
            lake_root=params.lake,
            date=params.date,
            bronze=input.bronze,
            output=output[0],
            log_file=log[0],
        )


rule gold_options_daily:
    input:
        unpack(gold_options_daily_inputs),
    output:
        local(RUN.lake.gold_pattern("options_daily")),
    log:
        "logs/gold/options_daily/{year}/{month}/{day}.log",
    threads: pool_threads  # solves implied volatilities on a thread pool
    resources:
        mem_mb=1000,
    params:
        lake=lake_root,
        date=date_of,
        risk_free_rate=config["risk_free_rate"],
        dividends=gold_options_daily_dividends,
    run:
        jobs.gold_options_daily(
            lake_root=params.lake,
            date=params.date,
            risk_free_rate=params.risk_free_rate,
            options=input.options,
            stocks=input.stocks,
            dividends=input.dividends,
            output=output[0],
            log_file=log[0],
        )
