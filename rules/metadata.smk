# Metadata: watermarks and the run summary, derived from the per-target sidecars.


rule metadata_summary:
    input:
        summary_inputs(),
    output:
        report(
            f"{LAKE}/metadata/summary.tsv",
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
