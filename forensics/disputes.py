"""Dispute-ready findings: the card networks' dispute categories a finding supports.

A cardholder disputes a charge with their bank under one of the network's categories (Visa's dispute
conditions, Mastercard's message reason codes); the acquirer answers with evidence. Which categories a
finding kind supports, and the evidence each asks for, is data: ``forensics/data/disputes.toml``, its
sources cited in ``docs/disputes.md``. ``disputes(kind, shape)`` gives a finding's categories (a shape of
the kind, such as a completion above the hold, may support other categories than the kind's); each
finding's JSON lists them under ``disputes`` and the reports show them.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_FILE = Path(__file__).parent / "data" / "disputes.toml"


@dataclass(frozen=True)
class Dispute:
    """One network's dispute category that a finding supports."""

    #: ``Visa`` or ``Mastercard``
    network: str
    #: the network's code: ``12.6.1``, ``4834``
    code: str
    #: the category's name
    title: str
    #: what the dispute, or the answer to it, must show
    evidence: tuple[str, ...]
    #: the public guide it is taken from
    source: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of a finding's ``disputes`` list (network, code, title, evidence)."""
        out = asdict(self)
        out["evidence"] = list(self.evidence)
        del out["source"]
        return out

    def label(self) -> str:
        """``Visa 12.6.1 Duplicate processing``."""
        return f"{self.network} {self.code} {self.title}"


@dataclass(frozen=True)
class Table:
    """The dispute table: categories by id, per kind its categories and why none, and the same per shape."""

    categories: dict[str, Dispute]
    kinds: dict[str, tuple[str, ...]]
    none: dict[str, str]
    #: (kind, shape) -> the shape's categories, in place of the kind's
    shapes: dict[tuple[str, str], tuple[str, ...]]
    #: (kind, shape) -> why the shape supports none
    shapes_none: dict[tuple[str, str], str]


@functools.cache
def table(path: Path = _FILE) -> Table:
    """The dispute table in ``path`` (default the installed one), checked: every category a kind or shape
    names exists, every category names a known source, an empty list says why. Raises ValueError naming
    the fault."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    sources = data.get("source", {})
    categories = {}
    for key, spec in data.get("category", {}).items():
        if spec.get("source") not in sources:
            raise ValueError(f"{path.name}: category {key}: unknown source {spec.get('source')!r}")
        categories[key] = Dispute(
            spec["network"], spec["code"], spec["title"], tuple(spec["evidence"]), sources[spec["source"]]
        )
    kinds: dict[str, tuple[str, ...]] = {}
    none: dict[str, str] = {}
    shapes: dict[tuple[str, str], tuple[str, ...]] = {}
    shapes_none: dict[tuple[str, str], str] = {}

    def read(where: str, spec: dict[str, Any]) -> tuple[tuple[str, ...], str | None]:
        ids = tuple(spec.get("categories", ()))
        for key in ids:
            if key not in categories:
                raise ValueError(f"{path.name}: {where}: unknown category {key!r}")
        if not ids and "none" not in spec:
            raise ValueError(f"{path.name}: {where} supports no category and does not say why (none)")
        return ids, (None if ids else spec["none"])

    for kind, spec in data.get("kind", {}).items():
        kinds[kind], why = read(f"kind {kind}", spec)
        if why:
            none[kind] = why
        for name, shape_spec in spec.get("shape", {}).items():
            shapes[kind, name], why = read(f"kind {kind} shape {name}", shape_spec)
            if why:
                shapes_none[kind, name] = why
    return Table(categories, kinds, none, shapes, shapes_none)


def disputes(kind: str, shape: str | None = None) -> list[Dispute]:
    """The dispute categories a finding of ``kind`` and ``shape`` supports: the shape's when the table
    gives it one, else the kind's (none for an unknown kind)."""
    t = table()
    ids = t.shapes.get((kind, shape or ""), t.kinds.get(kind, ()))
    return [t.categories[key] for key in ids]


def no_dispute(kind: str, shape: str | None = None) -> str | None:
    """Why a finding of ``kind`` and ``shape`` supports no dispute category, or None."""
    t = table()
    if (kind, shape or "") in t.shapes:
        return t.shapes_none.get((kind, shape or ""))
    return t.none.get(kind)
