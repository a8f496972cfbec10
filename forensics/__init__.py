"""forensics: find and explain faulty card charges in POS terminal, host and settlement logs.

Library first: ``load`` ingests raw logs into Polars frames (``write_parquet`` streams them
into a Parquet file); ``sweep`` runs the whole analysis over a fleet on Dask; the CLI is a thin
layer over it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from forensics.ingest import InputError, Loaded, load, write_parquet

if TYPE_CHECKING:
    from forensics.fleet.sweep import Sweep

__version__ = "0.1.0"
__all__ = ["InputError", "Loaded", "__version__", "load", "sweep", "write_parquet"]


def sweep(paths: str | Path | list[str | Path], outdir: str | Path, **options: Any) -> Sweep:
    """Parse, group and diagnose a fleet's logs on Dask into ``outdir`` (``forensics.fleet.sweep.sweep``:
    ``workers``, ``scheduler``, ``tz``, ``year``, ``card_key``, ``dialects``, ``progress``)."""
    from forensics.fleet.sweep import sweep as run

    return run([paths] if isinstance(paths, (str, Path)) else paths, outdir, **options)
