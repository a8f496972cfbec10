"""Ingest: raw log files in, one typed events table out, every line accounted for.

``load(paths)`` reads each file in batches of whole records (``read``), detects its format
(the format folders of ``grammars/``, ``formats``), frames records (``framing``: one line, a
block between the format's open and close terminals, continuation lines, a crash trace),
masks card data (``cards``), parses each record (``parse``: the fast path, ``fastpath``,
then the format's Lark grammar and the dialects), and finishes the rows (``finish``: times,
devices, card ids). ``write_parquet`` makes the same two passes (``stream``) into a Parquet
file with memory bounded by the batch; ``write_many`` does it for many inputs, one Parquet file
each, the small ones parsed as one stream. Every input line ends either in ``events``
(``line``..``line_end``) or in ``unparsed`` with a reason.
"""

from __future__ import annotations

from forensics.ingest.formats import registry
from forensics.ingest.read import InputError
from forensics.ingest.stream import Loaded, load, write_many, write_parquet

__all__ = ["InputError", "Loaded", "load", "registry", "write_many", "write_parquet"]
