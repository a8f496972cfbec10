"""The input formats, one folder each (installed as ``forensics.formats``).

A folder ``<name>/`` with a ``format.toml`` is the format ``<name>``: its grammar
``<name>.lark`` (shared terminals from ``common.lark`` by ``%import common (...)``), its
``format.toml`` (role, framing, time shapes, level words, markers, card contexts, samples) and
its Python module (``<name>/__init__.py``: ``TRANSFORMER``, and ``TWINS`` or ``BLOCK_TWIN`` for
the fast path). Nothing else names a format: the registry (``forensics.ingest.formats``)
discovers the folders here. ``logfmt.lark`` is the dialects' payload grammar, not a format.
"""

from __future__ import annotations

import functools
import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

#: The roles a format may declare (events column ``role``), and what each means.
ROLES = {
    "terminal": "a payment terminal's own log: the transaction lifecycle as the device saw it",
    "host": "the acquirer host's message log: ISO 8583 requests and responses",
    "settlement": "the acquirer's clearing file: what was cleared (settled) for payment",
    "system": "another system's log: read and kept, part of no transaction's lifecycle",
}


def folder(name: str) -> Traversable:
    """The folder of format ``name``."""
    return files(__name__).joinpath(name)


@functools.cache
def declared() -> dict[str, dict[str, Any]]:
    """Every format folder's ``format.toml`` by format name, in detection order (``priority``,
    then name). Raises FormatError naming a file that is not valid TOML."""
    found: dict[str, dict[str, Any]] = {}
    for entry in files(__name__).iterdir():
        spec = entry.joinpath("format.toml")
        if not entry.is_dir() or not spec.is_file():
            continue
        try:
            found[entry.name] = tomllib.loads(spec.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            from forensics.errors import FormatError  # here: this package imports nothing of forensics

            raise FormatError(f"{entry.name}/format.toml: {exc}") from exc
    return dict(sorted(found.items(), key=lambda item: (item[1].get("priority", 1000), item[0])))
