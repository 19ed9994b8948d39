"""quantmini: a Snakemake workflow and library that mirrors Polygon.io / Massive market data
into a local, research-ready data lake (landing -> bronze -> silver -> gold)."""

__version__ = "0.1.0"
