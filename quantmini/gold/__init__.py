"""Gold layer: analysis-ready stores built from bronze and silver.

- :mod:`.symbols`: how a vendor ticker becomes a Qlib instrument and a feature directory.
- :mod:`.actions`: split and dividend adjustment factors (Qlib's backward convention).
- :mod:`.vwap`: the true session VWAP from bronze minute bars.
- :mod:`.qlib_store`: the Qlib binary store, built in bulk or updated incrementally.
"""
