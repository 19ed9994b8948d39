# quantmini: Polygon.io / Massive market data -> local research data lake.
# landing (raw flat files) -> bronze (typed Parquet, REST pulls) -> silver (corporate actions,
# fundamentals, financial ratios) -> gold (Qlib binary store; stocks daily, stocks minute and
# options daily features).


import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"


# Run by the controlling process, never submitted to a cluster: the target rule and the two
# small summaries read from sidecars (one second each, not worth a queue wait).
localrules:
    all,
    metadata_summary,
    report_assets,


include: "rules/backfill.smk"
include: "rules/landing.smk"
include: "rules/bronze.smk"
include: "rules/rest.smk"
include: "rules/silver.smk"
include: "rules/gold.smk"
include: "rules/metadata.smk"


onstart:
    start_run()


onsuccess:
    finish_run()


onerror:
    end_run()


rule all:
    default_target: True
    input:
        get_final_output(),
