"""Snakemake script: bronze dividends/splits/ipos/ticker_events -> silver corporate_actions (see quantmini.jobs)."""

from quantmini.jobs import silver_corporate_actions

silver_corporate_actions(
    lake_root=snakemake.params.lake,
    sources={name: list(files) for name, files in snakemake.input.items() if name != "bars"},
    outputs=dict(snakemake.output.items()),
    log_file=snakemake.log[0],
    bars=list(snakemake.input.bars),
    history=snakemake.params.history,
)
