"""forensics: find and explain faulty card charges in POS terminal, host and settlement logs.

Library first: ``load`` ingests raw logs into Polars frames (``write_parquet`` streams them
into a Parquet file); the CLI is a thin layer over it.
"""

from forensics.ingest import InputError, Loaded, load, write_parquet

__version__ = "0.1.0"
__all__ = ["InputError", "Loaded", "__version__", "load", "write_parquet"]
