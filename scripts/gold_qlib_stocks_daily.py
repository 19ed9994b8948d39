"""Snakemake script: apply one session of stocks_daily bronze to the Qlib store (see quantmini.jobs)."""

from quantmini.jobs import gold_qlib_stocks_daily

gold_qlib_stocks_daily(
    lake_root=snakemake.params.lake,
    date=snakemake.wildcards.date,
    bronze=snakemake.input.bronze,
    output=snakemake.output[0],
    log_file=snakemake.log[0],
)
