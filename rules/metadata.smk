# Metadata: watermarks and the run summary, derived from the per-target sidecars.


rule metadata_summary:
    input:
        summary_inputs(),
    output:
        report(
            local(f"{LAKE}/metadata/summary.tsv"),
            caption="../report/metadata_summary.rst",
            category="Metadata",
        ),
    log:
        "logs/metadata/summary.log",
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
        local(f"{LAKE}/metadata/summary.tsv"),
    output:
        records=report(
            local(f"{LAKE}/metadata/report/records.png"),
            caption="../report/records.rst",
            category="Data",
            labels={"figure": "records per session"},
        ),
        runtime=report(
            local(f"{LAKE}/metadata/report/runtime.png"),
            caption="../report/runtime.rst",
            category="Data",
            labels={"figure": "job run time"},
        ),
        api=report(
            local(f"{LAKE}/metadata/report/api_calls.png"),
            caption="../report/api_calls.rst",
            category="Data",
            labels={"figure": "API calls and rate-limit waits"},
        ),
        quality=report(
            local(f"{LAKE}/metadata/report/quality.html"),
            caption="../report/quality.rst",
            category="Operations",
            labels={"table": "data quality"},
        ),
        gaps=report(
            local(f"{LAKE}/metadata/report/gaps.html"),
            caption="../report/gaps.rst",
            category="Operations",
            labels={"table": "gaps per layer"},
        ),
    log:
        "logs/metadata/report_assets.log",
    conda:
        "../envs/quantmini.yaml"
    resources:
        mem_mb=500,
    params:
        lake=lake_root,
    script:
        "../scripts/report_assets.py"
