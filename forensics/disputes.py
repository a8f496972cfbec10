"""Dispute-ready findings: the card networks' dispute categories a finding supports.

A cardholder disputes a charge with their bank under one of the network's categories (Visa's dispute
conditions, Mastercard's message reason codes); the acquirer answers with evidence. Which categories a
finding kind supports, and the evidence each asks for, is data: ``forensics/data/disputes.toml``, its
sources cited in ``docs/disputes.md``. ``disputes(kind, cause)`` gives a finding's categories; each
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
    """The dispute table: categories by id, and per kind its categories, those per cause and why none."""

    categories: dict[str, Dispute]
    kinds: dict[str, tuple[str, ...]]
    by_cause: dict[str, dict[str, tuple[str, ...]]]
    none: dict[str, str]


@functools.cache
def table(path: Path = _FILE) -> Table:
    """The dispute table in ``path`` (default the installed one), checked: every category a kind names
    exists, every category names a known source. Raises ValueError naming the fault."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    sources = data.get("source", {})
    categories = {}
    for key, spec in data.get("category", {}).items():
        if spec.get("source") not in sources:
            raise ValueError(f"{path.name}: category {key}: unknown source {spec.get('source')!r}")
        categories[key] = Dispute(
            spec["network"], spec["code"], spec["title"], tuple(spec["evidence"]), sources[spec["source"]]
        )
    kinds, by_cause, none = {}, {}, {}
    for kind, spec in data.get("kind", {}).items():
        kinds[kind] = tuple(spec["categories"])
        by_cause[kind] = {cause: tuple(ids) for cause, ids in spec.get("cause", {}).items()}
        if not kinds[kind]:
            if "none" not in spec:
                raise ValueError(f"{path.name}: kind {kind} supports no category and does not say why (none)")
            none[kind] = spec["none"]
        for ids in (kinds[kind], *by_cause[kind].values()):
            for key in ids:
                if key not in categories:
                    raise ValueError(f"{path.name}: kind {kind}: unknown category {key!r}")
    return Table(categories, kinds, by_cause, none)


def disputes(kind: str, cause: str | None = None) -> list[Dispute]:
    """The dispute categories a finding of ``kind`` with ``cause`` supports (none for an unknown kind)."""
    t = table()
    ids = t.kinds.get(kind, ()) + t.by_cause.get(kind, {}).get(cause or "", ())
    return [t.categories[key] for key in dict.fromkeys(ids)]


def no_dispute(kind: str) -> str | None:
    """Why a finding of ``kind`` supports no dispute category, or None."""
    return table().none.get(kind)
