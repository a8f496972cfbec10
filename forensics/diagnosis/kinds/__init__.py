"""Finding kinds: one module per kind, discovered here.

A kind is what went wrong for the cardholder or merchant (spec/findings.md). Its module
``forensics/diagnosis/kinds/<kind>.py`` defines ``KIND = Kind(...)``: the detector that proposes
candidates, the columns the detector adds (which its rules may name), the amount a finding
reports, the sentence that summarises it, its title in plain words and the
sentence that says what to do. Its attribution rules are
``forensics/rules/<kind>.toml``. ``kinds()`` imports every module of this package once and
checks each kind when it loads: the module defines ``KIND`` under its own name, with a summary,
and a rule file exists for it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from types import ModuleType
from typing import Any

import polars as pl

from forensics.diagnosis.candidates import Params
from forensics.diagnosis.reconcile import candidates as disagreements
from forensics.timeline import TRANSACTION_COLUMNS

#: A candidate row (``ROLE__column`` keys and the kind's own columns) and its transactions in order.
Row = dict[str, Any]
Txns = list[dict[str, Any]]


@dataclass(frozen=True)
class Context:
    """What a detector reads: the prepared transactions, the thresholds, the devices, earlier kinds' candidates."""

    #: the transactions as ``candidates.prepare`` returns them
    transactions: pl.DataFrame
    params: Params
    #: the timeline's devices table
    devices: pl.DataFrame
    #: the candidates of the kinds named in ``Kind.after``, by kind
    found: Mapping[str, pl.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class Kind:
    """One finding kind: its detector, the columns it adds, its amount and its summary."""

    #: the kind's name in findings and rule files (``finding = "..."``); its module's name
    name: str
    #: candidates of this kind: one row per possible finding (see ``forensics.diagnosis.candidates``)
    detect: Callable[[Context], pl.DataFrame]
    #: the finding's amount in minor units (None: unknown) and the transaction whose currency it is in
    amount: Callable[[Row, Txns], tuple[int | None, dict[str, Any]]]
    #: what happened, in one sentence without the cause: (row, transactions, amount) -> text
    summary: Callable[[Row, Txns, int | None], str]
    #: the kind in plain words for a heading ("Charged twice")
    title: str
    #: what to do to put it right, in one sentence: (row, transactions, amount) -> text
    action: Callable[[Row, Txns, int | None], str]
    #: columns the detector adds besides the role-prefixed transactions: column -> (dtype, meaning)
    columns: Mapping[str, tuple[pl.DataType, str]] = field(default_factory=dict)
    #: kinds whose candidates the detector reads (``Context.found``); they are detected first
    after: tuple[str, ...] = ()
    #: transaction line columns (``line_card``, ``line_start``...) holding the facts the kind's claim rests
    #: on: each transaction's such lines are cited as evidence
    cites: tuple[str, ...] = ()
    #: the shapes of finding the kind tells apart (name -> meaning): what the finding found, which decides
    #: the dispute categories it supports (``forensics/data/disputes.toml``)
    shapes: Mapping[str, str] = field(default_factory=dict)
    #: which of ``shapes`` a candidate is, or None: (row, transactions) -> name
    shape: Callable[[Row, Txns], str | None] | None = None

    def __post_init__(self) -> None:
        for part in ("detect", "amount", "summary", "action"):
            if not callable(getattr(self, part)):
                raise TypeError(f"finding kind {self.name!r}: {part} must be a function (got {getattr(self, part)!r})")
        if bool(self.shapes) != callable(self.shape):
            raise TypeError(f"finding kind {self.name!r}: shapes and shape go together (the names and the function)")
        unknown = [c for c in self.cites if not c.startswith("line_") or c not in TRANSACTION_COLUMNS]
        if unknown:
            raise TypeError(f"finding kind {self.name!r}: cites {unknown} are not transaction line columns")
        if not isinstance(self.title, str) or not self.title.strip():
            raise TypeError(f"finding kind {self.name!r}: title must be a heading in words (got {self.title!r})")


#: the column every candidate carries: its kind's name
KIND_COLUMN = "finding"


@functools.cache
def kinds() -> dict[str, Kind]:
    """Every finding kind, by name, in the order their detectors run (a kind after those it reads)."""
    modules = {m.name: importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)}
    return registry(modules, {e.name for e in files("forensics.rules").iterdir()})


def registry(modules: Mapping[str, ModuleType], rule_files: set[str]) -> dict[str, Kind]:
    """The kinds the ``modules`` (by module name) define, checked against the ``rule_files`` (names), ordered.

    Raises TypeError naming the module when one defines no ``KIND``, names it otherwise than
    itself, has no rule file, or reads a kind that does not exist (or itself, through others).
    """
    found: dict[str, Kind] = {}
    for module in sorted(modules):
        kind = getattr(modules[module], "KIND", None)
        if not isinstance(kind, Kind):
            raise TypeError(f"forensics/diagnosis/kinds/{module}.py: defines no KIND = Kind(...)")
        if kind.name != module:
            raise TypeError(f"forensics/diagnosis/kinds/{module}.py: KIND is named {kind.name!r}, not {module!r}")
        if f"{module}.toml" not in rule_files:
            raise TypeError(f"finding kind {module!r}: no rule file forensics/rules/{module}.toml")
        found[module] = kind
    ordered: dict[str, Kind] = {}

    def place(kind: Kind, path: tuple[str, ...]) -> None:
        if kind.name in ordered:
            return
        for name in kind.after:
            if name not in found or name in path or name == kind.name:
                raise TypeError(f"finding kind {kind.name!r}: after {name!r}: no such kind, or a cycle")
            place(found[name], (*path, kind.name))
        ordered[kind.name] = kind

    for kind in found.values():
        place(kind, ())
    return ordered


def detect(transactions: pl.DataFrame, devices: pl.DataFrame, params: Params) -> pl.DataFrame | None:
    """Every kind's candidates in one frame (``finding`` names the kind), or None when there are none."""
    found: dict[str, pl.DataFrame] = {}
    for kind in kinds().values():
        ctx = Context(transactions, params, devices, {name: found[name] for name in kind.after})
        found[kind.name] = kind.detect(ctx).with_columns(pl.lit(kind.name).alias(KIND_COLUMN))
    # every other disagreement between what the merchant saw, what the network did and what cleared
    for name, rows in disagreements(transactions, _claimed(found.values())).items():
        found[name] = pl.concat(
            [found[name], rows.with_columns(pl.lit(name).alias(KIND_COLUMN))], how="diagonal_relaxed"
        )
    parts = [p for p in found.values() if p.height]
    return pl.concat(parts, how="diagonal_relaxed") if parts else None


def _claimed(found: Iterable[pl.DataFrame]) -> set[str]:
    """The transactions the kind detectors' candidates name (in any role or as members)."""
    out: set[str] = set()
    for frame in found:
        for column in ("first__txn", "second__txn", "txn__txn"):
            if column in frame.columns:
                out.update(v for v in frame[column].to_list() if v is not None)
        if "members" in frame.columns:
            out.update(v for members in frame["members"].to_list() if members for v in members)
    return out
