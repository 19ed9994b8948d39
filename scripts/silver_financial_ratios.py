"""Snakemake script: silver fundamentals -> silver financial_ratios (see quantmini.jobs)."""

from quantmini.jobs import silver_financial_ratios

silver_financial_ratios(
    lake_root=snakemake.params.lake,
    inputs=dict(snakemake.input.items()),
    outputs=dict(snakemake.output.items()),
    log_file=snakemake.log[0],
)
