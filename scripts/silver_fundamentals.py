"""Snakemake script: bronze fundamentals -> silver fundamentals, one file per timeframe, and the point-in-time versions (see quantmini.jobs)."""

from quantmini.jobs import silver_fundamentals

silver_fundamentals(
    lake_root=snakemake.params.lake,
    partitions=list(snakemake.input),
    outputs={k: v for k, v in snakemake.output.items() if not k.startswith("pit_")},
    pit_outputs={k[4:]: v for k, v in snakemake.output.items() if k.startswith("pit_")},
    log_file=snakemake.log[0],
)
