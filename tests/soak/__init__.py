"""The soak harness (``make soak``): months of nightly runs under random faults."""
