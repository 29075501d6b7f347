"""Order exports: asynchronous CSV.gz files of filtered orders (contract section 2.9)."""
