"""Snakemake script: one landing flat file -> bronze Parquet (see quantmini.jobs)."""

from quantmini.jobs import bronze_flatfile

bronze_flatfile(
    lake_root=snakemake.params.lake,
    dataset=snakemake.wildcards.dataset,
    date=snakemake.params.date,
    landing=snakemake.input[0],
    output=snakemake.output[0],
    log_file=snakemake.log[0],
)
