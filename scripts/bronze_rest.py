"""Snakemake script: one REST pull -> bronze Parquet (see quantmini.jobs)."""

from quantmini.jobs import bronze_rest

bronze_rest(
    config=snakemake.config,
    lake_root=snakemake.params.lake,
    dataset=snakemake.wildcards.rest_dataset,
    pull_date=snakemake.wildcards.pull_date,
    window=snakemake.wildcards.window,
    output=snakemake.output[0],
    log_file=snakemake.log[0],
    reference=snakemake.input.get("reference"),
)
