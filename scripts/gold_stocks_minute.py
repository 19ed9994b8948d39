"""Snakemake script: one session of gold stocks_minute (see quantmini.jobs)."""

from quantmini.jobs import gold_stocks_minute

gold_stocks_minute(
    lake_root=snakemake.params.lake,
    date=snakemake.params.date,
    bronze=snakemake.input.bronze,
    output=snakemake.output[0],
    log_file=snakemake.log[0],
)
