# Metadata: watermarks and the run summary, derived from the per-target sidecars.


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
    conda:
        "../envs/quantmini.yaml"
    resources:
        mem_mb=300,
    params:
        lake=lake_root,
    script:
        "../scripts/metadata_summary.py"


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
    conda:
        "../envs/quantmini.yaml"
    resources:
        mem_mb=500,
    params:
        lake=lake_root,
    script:
        "../scripts/report_assets.py"
