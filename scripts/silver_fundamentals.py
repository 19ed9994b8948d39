"""Snakemake script: bronze fundamentals -> silver fundamentals, one file per timeframe (see quantmini.jobs)."""

from quantmini.jobs import silver_fundamentals

silver_fundamentals(
    lake_root=snakemake.params.lake,
    partitions=list(snakemake.input),
    outputs=dict(snakemake.output.items()),
    log_file=snakemake.log[0],
)
