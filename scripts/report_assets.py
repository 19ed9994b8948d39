"""Snakemake script: plots and tables for `snakemake --report` (see quantmini.report)."""

from quantmini.jobs import report_assets

report_assets(
    config=snakemake.config,
    lake_root=snakemake.params.lake,
    outputs=dict(snakemake.output.items()),
    log_file=snakemake.log[0],
)
