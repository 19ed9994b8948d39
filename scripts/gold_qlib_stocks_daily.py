"""Snakemake script: bring the Qlib store up to date with every bronze day (see quantmini.jobs)."""

from quantmini.jobs import gold_qlib_stocks_daily

gold_qlib_stocks_daily(
    lake_root=snakemake.params.lake,
    basis=snakemake.params.basis,
    bronze=list(snakemake.input.bronze),
    minute=list(snakemake.input.minute),
    splits=list(snakemake.input.splits),
    dividends=list(snakemake.input.dividends),
    output=snakemake.output[0],
    log_file=snakemake.log[0],
    history=snakemake.params.history,
)
