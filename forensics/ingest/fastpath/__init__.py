"""The fast path: a line grammar's regular part as one regular expression over whole columns.

Nothing here defines a format. ``compiler`` writes a Lark grammar's start rule as one regular
expression; Polars runs it on a whole column in Rust. ``lines`` runs a batch through it, the
format's vectorized twins (declared in its folder, ``TWINS``) and the dialect twin
(``dialects``); ``typed`` gives the values their column types. A block format may declare a
column twin of its own (``BLOCK_TWIN``) built on ``typed``.

The fast path only takes lines it is sure of: plain text (``lines.PLAIN``), no card data to mask,
not part of a multi-line record, a dialect payload without quotes, duplicate keys or values
the typed columns would refuse; a JSON payload only when it is one object ``jsonpaths`` reads
exactly (no escapes, arrays or repeated keys). Every other line goes to the Lark parser, and
differential tests (tests/test_fastpath.py, tests/test_payload_shapes.py) require identical rows
from both paths.
"""

from forensics.ingest.fastpath.compiler import Alternative, LineRegex, NotRegular, compile_grammar, strip_lookarounds
from forensics.ingest.fastpath.dialects import FastDialects
from forensics.ingest.fastpath.lines import PLAIN, FastFormat, context_lines, eligible, envelope, parse
from forensics.ingest.fastpath.typed import attrs_json, spread, typed

__all__ = [
    "PLAIN",
    "Alternative",
    "FastDialects",
    "FastFormat",
    "LineRegex",
    "NotRegular",
    "attrs_json",
    "compile_grammar",
    "context_lines",
    "eligible",
    "envelope",
    "parse",
    "spread",
    "strip_lookarounds",
    "typed",
]
