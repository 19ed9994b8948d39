"""Snakemake script: download one flat file into landing/ (see quantmini.jobs)."""

from quantmini.jobs import landing_flatfile

landing_flatfile(
    config=snakemake.config,
    lake_root=snakemake.params.lake,
    dataset=snakemake.params.dataset,
    date=snakemake.wildcards.date,
    output=snakemake.output[0],
    log_file=snakemake.log[0],
)
