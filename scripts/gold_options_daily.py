"""Snakemake script: one session of gold options_daily (see quantmini.jobs)."""

from quantmini.jobs import gold_options_daily

gold_options_daily(
    lake_root=snakemake.params.lake,
    date=snakemake.params.date,
    risk_free_rate=snakemake.params.risk_free_rate,
    options=snakemake.input.options,
    stocks=list(snakemake.input.stocks),
    dividends=list(snakemake.input.dividends),
    output=snakemake.output[0],
    log_file=snakemake.log[0],
)
