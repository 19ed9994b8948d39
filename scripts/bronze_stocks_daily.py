"""Snakemake script: stocks_daily landing CSV -> bronze Parquet (see quantmini.jobs)."""

from quantmini.jobs import bronze_stocks_daily

bronze_stocks_daily(
    lake_root=snakemake.params.lake,
    date=snakemake.params.date,
    landing=snakemake.input[0],
    output=snakemake.output[0],
    log_file=snakemake.log[0],
)
