# Metadata: watermarks and the run summary, derived from the per-target sidecars.
# Both rules run in Snakemake's own process (`run:`, `force-use-threads` in profiles/default;
# remote executors always use threads): a `script:` job pays a Python start and Snakemake's
# script preamble, ~1.2 s for a summary that takes 0.05 s, at the end of every run.


rule metadata_summary:
    input:
        summary_inputs(),
    output:
        report(
            local(RUN.lake.summary()),
            caption="../report/metadata_summary.rst",
            category="Metadata",
        ),
    log:
        "logs/summary.log",
    resources:
        mem_mb=300,
    params:
        lake=lake_root,
    run:
        jobs.metadata_summary(lake_root=params.lake, output=output[0], log_file=log[0])


rule report_assets:
    input:
        local(RUN.lake.summary()),
    output:
        records=report(
            local(RUN.lake.report_asset("records.png")),
            caption="../report/records.rst",
            category="Data",
            labels={"figure": "records per session"},
        ),
        runtime=report(
            local(RUN.lake.report_asset("runtime.png")),
            caption="../report/runtime.rst",
            category="Data",
            labels={"figure": "job run time"},
        ),
        api=report(
            local(RUN.lake.report_asset("api_calls.png")),
            caption="../report/api_calls.rst",
            category="Data",
            labels={"figure": "API calls and rate-limit waits"},
        ),
        quality=report(
            local(RUN.lake.report_asset("quality.html")),
            caption="../report/quality.rst",
            category="Operations",
            labels={"table": "data quality"},
        ),
        gaps=report(
            local(RUN.lake.report_asset("gaps.html")),
            caption="../report/gaps.rst",
            category="Operations",
            labels={"table": "gaps per layer"},
        ),
    log:
        "logs/report_assets.log",
    resources:
        mem_mb=500,
    params:
        lake=lake_root,
    run:
        jobs.report_assets(
            config=config,
            lake_root=params.lake,
            outputs=dict(output.items()),
            log_file=log[0],
        )
