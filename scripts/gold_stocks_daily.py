"""Snakemake script: one session of gold stocks_daily (see quantmini.jobs)."""

from quantmini.jobs import gold_stocks_daily

gold_stocks_daily(
    lake_root=snakemake.params.lake,
    date=snakemake.params.date,
    basis=snakemake.params.basis,
    bronze=list(snakemake.input.bronze),
    minute=list(snakemake.input.minute),
    splits=list(snakemake.input.splits),
    dividends=list(snakemake.input.dividends),
    output=snakemake.output[0],
    log_file=snakemake.log[0],
)
