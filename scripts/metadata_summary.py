"""Snakemake script: watermarks and the summary table from the sidecars (see quantmini.jobs)."""

from quantmini.jobs import metadata_summary

metadata_summary(
    lake_root=snakemake.params.lake,
    output=snakemake.output[0],
    log_file=snakemake.log[0],
)
