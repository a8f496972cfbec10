"""The canonical vocabulary of the events table: the words downstream reads, in one table.

A dialect maps a vendor's phrasing onto the event kinds (``events.KINDS``), the columns
(``events.EVENT_COLUMNS``) and, for the columns whose words downstream compares literally,
the canonical words (``VALUES``): a value map (``[values]`` in a dialect file) may only give
these. Which parts of the tool read each kind and word is computed from their sources (the
timeline, the detectors and candidates of ``forensics/diagnosis``, the rule files
``forensics/rules/*.toml``, the report): ``uses()`` lists every literal comparison, and a test
fails when one names a word that is not in this table. ``render`` is ``forensics formats
--vocabulary`` and the table of docs/dialects.md.
"""

from __future__ import annotations

import ast
import functools
import re
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from forensics.events import EVENT_COLUMNS, KINDS

#: events column -> {canonical word: what it means}. The words downstream compares, and those
#: the reference dialect gives beside them (a value map may give any of these, and no other).
VALUES: dict[str, dict[str, str]] = {
    "txn_type": {
        "SALE": "a purchase",
        "REFUND": "money back to a card (names the original by orig_inv / orig_rrn)",
        "VOID": "cancels an earlier transaction of the batch (orig_inv)",
        "PREAUTH": "an authorisation hold, charged later by a completion",
        "PREAUTH_COMPLETE": "the completion that charges a pre-authorisation",
        "PREAUTH_VOID": "releases a pre-authorisation hold",
        "TIP_ADJUST": "adds a tip to an approved sale",
        "BALANCE": "a balance enquiry (no money moves)",
    },
    "status": {
        "APPROVED": "txn.result: the terminal showed the charge approved",
        "DECLINED": "txn.result: the terminal showed it declined",
        "COMM_ERROR": "txn.result: no answer from the host (the terminal showed an error)",
        "ok": "comm.connect, printer.print, tms.param: it worked",
        "fail": "comm.connect, tms.param: it did not work",
        "Clear Reversal": "ui.menu: the operator cleared the stored reversal by hand",
        "Reprint Last": "ui.menu: the operator reprinted the last receipt",
        "BEGIN_SEND_ISO": "power.recover: power failed while a request was being sent to the host",
        "BEGIN_BATCH_UPDATE": "power.recover: power failed while the batch was being updated",
    },
    "reason": {
        "acked": "reversal.deleted: the host acknowledged the reversal",
        "approved": "reversal.deleted: the transaction was approved after all (no reversal needed)",
        "max_retries": "reversal.deleted: dropped unsent after its last retry",
        "operator_clear": "reversal.deleted: cleared by the operator",
        "timeout": "comm.connect: the connection attempt timed out",
        "none": "power.recover: the app took no recovery action",
        "reprint": "power.recover: the app reprinted the receipt",
    },
    "source": {
        "keypad": "txn.start: the amount was keyed on the terminal",
        "ecr": "txn.start: the amount came from the cash register",
    },
    "entry": {
        "chip": "txn.card: EMV chip inserted",
        "contactless": "txn.card: tapped",
        "swipe": "txn.card, emv.fallback: magnetic stripe",
        "fallback": "txn.card: swiped after the chip failed",
        "manual": "txn.card: card number keyed",
    },
}

#: Names downstream gives an events column's words after the timeline copies them (transactions
#: columns, rule-file paths such as "first.recover_state", detectors' local names) -> the column.
CARRIERS: dict[str, str] = {
    "merchant_status": "status",
    "merchant_outcome": "status",
    "recover_state": "status",
    "recover_action": "reason",
    "reversal_deleted": "reason",
    "_ft": "txn_type",
}

#: Words the timeline makes itself in a carrier (no dialect gives them): carrier -> {word: meaning}.
TIMELINE_WORDS: dict[str, dict[str, str]] = {
    "merchant_outcome": {
        "CRASHED": "the app crashed while the transaction was in flight",
        "POWER_LOST": "the terminal rebooted while the transaction was in flight",
        "NO_RESULT": "the log shows no outcome",
        "UNKNOWN": "no terminal log shows the transaction (rebuilt from the host log or the clearing file)",
    },
}
#: Local names the timeline and detectors give a column they compare.
_LOCAL = {"k": "kind", "merchant": "merchant_outcome"}

_KIND = re.compile(r"^[a-z]+\.[a-z_]+$")


@dataclass(frozen=True)
class Use:
    """One literal comparison downstream: ``word`` against ``column`` (an events column or a
    carrier; "kind" for an event kind) in ``reader`` (a path under forensics/)."""

    column: str
    word: str
    reader: str


def _sources() -> Iterator[tuple[str, str]]:
    """(path under forensics/, text) of every reader of the events table's words."""
    root = files("forensics")
    for name in ("timeline.py", "coverage.py"):
        yield name, root.joinpath(name).read_text(encoding="utf-8")
    for folder, suffix in (("diagnosis", ".py"), ("diagnosis/kinds", ".py"), ("report", ".py"), ("rules", ".toml")):
        entries = sorted(root.joinpath(folder).iterdir(), key=lambda e: e.name)
        for entry in entries:
            if entry.name.endswith(suffix) and entry.name != "__init__.toml":
                yield f"{folder}/{entry.name}", entry.read_text(encoding="utf-8")


def _name(node: ast.AST) -> str | None:
    """The column a compared expression reads: pl.col("x")..., t.get("x"), row["x"], or a variable."""
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("col", "get") and node.args and isinstance(node.args[0], ast.Constant):
                return str(node.args[0].value)
            node = node.func.value
        elif isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            return str(node.slice.value)
        elif isinstance(node, ast.Name):
            return _LOCAL.get(node.id, node.id)
        else:
            return None


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [s for e in node.elts for s in _strings(e)]
    return []


def _python_uses(reader: str, text: str) -> Iterator[Use]:
    for node in ast.walk(ast.parse(text)):
        pairs: list[tuple[ast.AST, ast.AST]] = []
        if isinstance(node, ast.Compare):
            for right in node.comparators:
                pairs += [(node.left, right), (right, node.left)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "is_in":
            pairs += [(node.func.value, arg) for arg in node.args]
        for subject, words in pairs:
            name = _name(subject)
            for word in _strings(words):
                if name is not None:
                    yield Use(name.rpartition("__")[2], word, reader)


def _toml_uses(reader: str, data: Any) -> Iterator[Use]:
    """Kinds and words a rule file's conditions compare (``kind``, ``where``, ``match``)."""
    if isinstance(data, list):
        for item in data:
            yield from _toml_uses(reader, item)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key == "kind" and isinstance(value, str) and _KIND.match(value):
                yield Use("kind", value, reader)
            elif key in ("where", "match") and isinstance(value, dict):
                for column, word in value.items():
                    for one in word if isinstance(word, list) else [word]:
                        if isinstance(one, str):
                            yield Use(column.rpartition(".")[2], one, reader)
            else:
                yield from _toml_uses(reader, value)


@functools.cache
def uses() -> tuple[Use, ...]:
    """Every literal comparison downstream makes of a kind or of a vocabulary column's word."""
    found: list[Use] = []
    for reader, text in _sources():
        raw = _toml_uses(reader, tomllib.loads(text)) if reader.endswith(".toml") else _python_uses(reader, text)
        for use in raw:
            if use.column == "kind" and _KIND.match(use.word):
                found.append(use)
            elif use.column in VALUES or use.column in CARRIERS:
                found.append(use)
    return tuple(dict.fromkeys(found))


def column_of(name: str) -> str | None:
    """The events column whose words ``name`` (a column or a carrier) holds; None if neither."""
    return name if name in VALUES else CARRIERS.get(name)


def readers(column: str, word: str) -> list[str]:
    """Where downstream compares ``word`` in ``column`` ("kind" for an event kind)."""
    return sorted(
        {u.reader for u in uses() if u.word == word and (u.column == column or column_of(u.column) == column)}
    )


def unknown_word(column: str, word: str) -> str | None:
    """Why a value map may not give ``word`` in ``column``, or None when it may."""
    if column not in VALUES:
        return f"column {column!r} has no canonical words (value maps fill {', '.join(sorted(VALUES))})"
    if word not in VALUES[column]:
        return f"{word!r} is not a word downstream knows in {column!r} ({', '.join(VALUES[column])})"
    return None


def render(width: int = 120) -> str:
    """The vocabulary as text: kinds, columns a dialect fills, canonical words; what reads each."""
    out: list[str] = []

    def row(name: str, meaning: str, read: list[str], indent: int = 2, col: int = 22) -> None:
        text = meaning + (f" [read by: {', '.join(read)}]" if read else "")
        lead = " " * indent + name.ljust(col - indent - 1) + " "
        out.extend(
            textwrap.wrap(text, width, initial_indent=lead, subsequent_indent=" " * col, break_on_hyphens=False)
            or [lead.rstrip()]
        )

    out.append("Event kinds (a dialect rule's `kind`; forensics/events.py KINDS):")
    for kind, meaning in KINDS.items():
        row(kind, meaning, readers("kind", kind))
    out += ["", "Columns a dialect fills (`fields`, `args`, `groups`, `set`; forensics/events.py EVENT_COLUMNS):"]
    for column, (dtype, meaning) in EVENT_COLUMNS.items():
        if column not in _NOT_FILLED:
            row(column, f"{meaning} ({dtype})", [])
    out += ["", "Canonical words (what a `[values]` map may give; forensics/vocabulary.py VALUES):"]
    for column, words in VALUES.items():
        out.append(f"  {column}")
        for word, meaning in words.items():
            row(word, meaning, readers(column, word), indent=4, col=24)
    out += ["", "Words the timeline makes itself (no dialect gives them):"]
    for carrier, words in TIMELINE_WORDS.items():
        out.append(f"  {carrier}")
        for word, meaning in words.items():
            row(word, meaning, readers(carrier, word), indent=4, col=24)
    return "\n".join(out)


#: Columns the envelope, the ingest or the timeline fills, never a dialect rule.
_NOT_FILLED = {"path", "line", "line_end", "format", "role", "dialect", "ts", "ts_raw", "text", "kind", "attrs"}
_NOT_FILLED |= {"card_id", "exponent"}
