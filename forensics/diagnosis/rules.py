"""Attribution rules: data files (forensics/rules/*.toml) compiled to Polars expressions.

A rule names a finding kind, a cause, a weight, optional contributing causes, and ``when``: a
list of conditions that must all hold for a candidate finding. The closed vocabulary:

- ``match = { "first.merchant_outcome" = "APPROVED", "first.flags" = "no_response", ratio = { gte = 5 } }``
  columns of the candidate (``ROLE.column``; a list column *contains* the value); a value,
  a list (one of), or operators ``eq ne gt gte lt lte null``.
- ``same = ["first.tid", "second.tid"]`` / ``differ = ["first.device", "second.device"]``.
- ``sequence = { after = "first.result", before = "second.start", within_s = 30, kind = "printer.status",
  where = { code = [2, 4, 9], stan = "$first.stan" }, role = "trigger" }``: such an event exists on the
  anchor's device in the window (``before`` alone with ``within_s``: the seconds before it).
- ``absence = { ... }``: the same, and no such event exists.
- ``count = { around = "first.start", window_s = 3600, kind = "emv.error", at_least = 3, role = "context" }``.
- ``cite = { ... }``: as ``sequence``, but it never decides whether the rule fires: when such an event
  exists it is cited as evidence (the line that proves a fact the rule read from a column).

Anchors are ``ROLE.start``, ``ROLE.tx``, ``ROLE.result`` (ROLE: first, second, txn). Each
rule's examples (simulated family and seed, and whether the rule fires) are run by the tests.

Everything is checked when the file loads, naming the file, the rule and the field: TOML
nesting deeper than 32, a value of the wrong type for its column (the events schema for
``where``, the transactions' column types for ``match``), a number that is not finite, a column
neither the declared transactions table nor the rule's finding kind (forensics/diagnosis/kinds/) has.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import polars as pl

from forensics.diagnosis.kinds import KIND_COLUMN
from forensics.diagnosis.kinds import kinds as finding_kinds
from forensics.errors import RuleError
from forensics.events import EVENT_COLUMNS, EVENTS_SCHEMA, KINDS

CAUSES = (
    "hardware_fault",
    "software_bug",
    "operator_error",
    "migration_sync_delay",
    "network_timeout",
    "host_error",
    "undetermined",
)
ROLES = ("first", "second", "txn")
_POINTS = {"start": ("start",), "tx": ("tx", "start"), "result": ("result", "tx", "start")}
_RULE_KEYS = {"id", "finding", "cause", "weight", "contributing", "description", "when", "example", "incident"}
_CONDITIONS = {"match", "same", "differ", "sequence", "absence", "count", "cite"}
#: The TOML types of a rule's fields (beyond what each field's own check says).
_SHAPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "id": (str, "a string"),
    "finding": (str, "a string"),
    "cause": (str, "a string"),
    "weight": ((int, float), "a number"),
    "contributing": (list, "an array of causes"),
    "description": (str, "a string"),
    "when": (list, "an array of conditions"),
    "example": (list, "an array of tables"),
    "incident": (list, "an array of column references"),
}
_WINDOW_KEYS = {"after", "before", "within_s", "kind", "where", "role", "device"}
_COUNT_KEYS = {"around", "window_s", "kind", "where", "at_least", "role"}
_OPS = {"eq", "ne", "gt", "gte", "lt", "lte", "null"}


#: Deepest nesting of arrays and inline tables a rule file may use (a rule needs 4).
MAX_DEPTH = 32
# TOML strings and comments (brackets inside them do not nest), and brackets.
_TOML_TOKENS = re.compile(
    r'"""(?:\\.|[^\\])*?"""|\'\'\'.*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]', re.S
)


@dataclass
class Rule:
    """One compiled attribution rule."""

    id: str
    finding: str
    cause: str
    weight: float
    contributing: list[str]
    description: str
    when: list[dict[str, Any]]
    examples: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    #: columns whose values name one systematic incident: findings this rule wins that share them merge
    incident: list[str] = field(default_factory=list)


def candidate_column(ref: str) -> str:
    """The candidate column of a rule's ``ROLE.column`` reference (other names as they are)."""
    role, dot, column = ref.partition(".")
    return f"{role}__{column}" if dot and role in ROLES else ref


class RuleSet:
    """Every rule file, validated; ``evaluate`` scores candidates.

    ``txn_types``: the transaction columns a rule may name and their types, which ``match`` values
    must fit (the declared transactions table and the columns ``candidates.prepare`` derives, when None);
    ``txn_columns``: the names alone, when only they are to be checked.
    """

    def __init__(
        self,
        sources: list[tuple[str, str]] | None = None,
        txn_columns: set[str] | None = None,
        txn_types: Mapping[str, pl.DataType] | None = None,
    ):
        if sources is None:
            folder = files("forensics.rules")
            sources = sorted(
                (e.name, e.read_text(encoding="utf-8")) for e in folder.iterdir() if e.name.endswith(".toml")
            )
        self.txn_types = transaction_types() if txn_types is None else txn_types
        self.txn_columns = set(self.txn_types) if txn_columns is None else txn_columns
        self.rules: list[Rule] = []
        seen: set[str] = set()
        for name, text in sources:
            for rule in self._load(name, text):
                if rule.id in seen:
                    raise RuleError(f"{name}: rule {rule.id}: field 'id': defined twice")
                seen.add(rule.id)
                self.rules.append(rule)

    @classmethod
    def from_files(cls, paths: list[str | Path]) -> RuleSet:
        """Rules from explicit files (e.g. one under development)."""
        return cls([(Path(p).name, Path(p).read_text(encoding="utf-8")) for p in paths])

    # -- validation -----------------------------------------------------------------------
    def _load(self, name: str, text: str) -> list[Rule]:
        depth = _nesting(text)
        if depth > MAX_DEPTH:
            raise RuleError(f"{name}: arrays and tables nested {depth} deep (at most {MAX_DEPTH})")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(f"{name}: not valid TOML: {exc}") from exc
        extra = set(data) - {"rule"}
        if extra:
            raise RuleError(f"{name}: unknown field {sorted(extra)[0]!r} (a rule file holds [[rule]] tables)")
        out = []
        if not isinstance(data.get("rule", []), list):
            raise RuleError(f"{name}: 'rule' must be an array of tables ([[rule]])")
        for i, raw in enumerate(data.get("rule", []), start=1):
            if not isinstance(raw, dict):
                raise RuleError(f"{name}: rule #{i}: must be a table ([[rule]])")
            where = f"{name}: rule {raw.get('id', f'#{i}')}"
            try:
                out.append(self._rule(name, where, raw))
            except (TypeError, AttributeError) as exc:  # a value of a shape no check above foresaw
                raise RuleError(f"{where}: malformed ({exc})") from None
        return out

    def _rule(self, name: str, where: str, raw: dict[str, Any]) -> Rule:
        """One [[rule]] table, checked."""
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise RuleError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        for required in ("id", "finding", "cause", "weight", "when"):
            if required not in raw:
                raise RuleError(f"{where}: field {required!r} is required")
        for key, shape in _SHAPES.items():
            if key in raw and not isinstance(raw[key], shape[0]):
                raise RuleError(f"{where}: field {key!r}: must be {shape[1]}")
        kind = finding_kinds().get(raw["finding"])
        if kind is None:
            known = ", ".join(sorted(finding_kinds()))
            raise RuleError(f"{where}: field 'finding': unknown finding kind {raw['finding']!r} (one of {known})")
        stem = name.removesuffix(".toml")
        if stem in finding_kinds() and kind.name != stem:
            raise RuleError(f"{where}: field 'finding': {kind.name!r} in the rule file of {stem!r}")
        own = {KIND_COLUMN: pl.String(), **{column: dtype for column, (dtype, _) in kind.columns.items()}}
        for c in [raw["cause"], *raw.get("contributing", [])]:
            if c not in CAUSES:
                raise RuleError(f"{where}: field 'cause': unknown cause {c!r}")
        if not _number(raw["weight"]) or raw["weight"] <= 0:
            raise RuleError(f"{where}: field 'weight': must be a positive finite number")
        for j, cond in enumerate(raw["when"], start=1):
            self._check_condition(f"{where}: field 'when[{j}]'", cond, own)
        for ref in raw.get("incident", []):
            if not isinstance(ref, str):
                raise RuleError(f"{where}: field 'incident': must be an array of column references")
            self._check_ref(f"{where}: field 'incident'", ref, own)
        for j, example in enumerate(raw.get("example", []), start=1):
            if not isinstance(example, dict) or set(example) != {"family", "seed", "fires"}:
                raise RuleError(f"{where}: field 'example[{j}]': needs family, seed and fires")
            if not (
                isinstance(example["family"], str) and _integer(example["seed"]) and isinstance(example["fires"], bool)
            ):
                raise RuleError(f"{where}: field 'example[{j}]': family a string, seed an integer, fires true or false")
        return Rule(
            raw["id"],
            raw["finding"],
            raw["cause"],
            float(raw["weight"]),
            list(raw.get("contributing", [])),
            raw.get("description", ""),
            raw["when"],
            raw.get("example", []),
            name,
            list(raw.get("incident", [])),
        )

    def _check_condition(self, where: str, cond: dict[str, Any], own: Mapping[str, pl.DataType]) -> None:
        """One condition of a rule whose kind adds the columns ``own`` (name -> type)."""
        if not isinstance(cond, dict):
            raise RuleError(f"{where}: must be a table such as {{ match = {{ ... }} }}")
        if len(cond) != 1 or next(iter(cond)) not in _CONDITIONS:
            keys = ", ".join(sorted(cond)) or "nothing"
            raise RuleError(f"{where}: unknown condition {keys!r} (one of {', '.join(sorted(_CONDITIONS))})")
        kind, spec = next(iter(cond.items()))
        if kind not in ("same", "differ") and not isinstance(spec, dict):
            raise RuleError(f"{where}: {kind}: must be a table")
        if kind == "match":
            for ref, value in spec.items():
                self._check_ref(where, ref, own)
                if isinstance(value, dict) and set(value) - _OPS:
                    raise RuleError(f"{where}: match {ref}: unknown operator {sorted(set(value) - _OPS)[0]!r}")
                _check_value(f"{where}: match {ref}", value, self._type(ref, own))
        elif kind in ("same", "differ"):
            if not isinstance(spec, list) or len(spec) != 2:
                raise RuleError(f"{where}: {kind} takes two column references")
            for ref in spec:
                if not isinstance(ref, str):
                    raise RuleError(f"{where}: {kind}: {ref!r} is not a column reference (a string)")
                self._check_ref(where, ref, own)
        else:
            allowed = _COUNT_KEYS if kind == "count" else _WINDOW_KEYS
            unknown = set(spec) - allowed
            if unknown:
                raise RuleError(f"{where}: {kind}: unknown field {sorted(unknown)[0]!r}")
            self._check_window(where, kind, spec, own)

    def _check_window(self, where: str, kind: str, spec: dict[str, Any], own: Mapping[str, pl.DataType]) -> None:
        """A sequence, absence or count table."""
        kinds = spec.get("kind")
        if not (isinstance(kinds, str) or (isinstance(kinds, list) and kinds)):
            raise RuleError(f"{where}: {kind}: field 'kind': an event kind or an array of them is required")
        for k in [kinds] if isinstance(kinds, str) else kinds:
            if k not in KINDS:
                raise RuleError(f"{where}: {kind}: unknown event kind {k!r}")
        for anchor_key in ("after", "before", "around"):
            if anchor_key in spec:
                self._check_anchor(where, spec[anchor_key])
        if kind != "count" and "after" not in spec and not ("before" in spec and "within_s" in spec):
            raise RuleError(f"{where}: {kind}: needs 'after', or 'before' with 'within_s'")
        if kind == "count" and not {"around", "window_s"} <= set(spec):
            raise RuleError(f"{where}: count: needs 'around' and 'window_s'")
        for key in ("within_s", "window_s"):
            if key in spec and (not _number(spec[key]) or spec[key] < 0):
                raise RuleError(
                    f"{where}: {kind}: field {key!r}: must be a finite number of seconds, not negative "
                    f"(got {spec[key]!r})"
                )
        if "at_least" in spec and (not _integer(spec["at_least"]) or spec["at_least"] < 1):
            raise RuleError(f"{where}: count: field 'at_least': must be a positive integer (got {spec['at_least']!r})")
        if "role" in spec and not isinstance(spec["role"], str):
            raise RuleError(f"{where}: {kind}: field 'role': must be a string")
        if "device" in spec and spec["device"] not in ROLES:
            raise RuleError(f"{where}: {kind}: field 'device': must be one of {', '.join(ROLES)}")
        conditions = spec.get("where", {})
        if not isinstance(conditions, dict):
            raise RuleError(f"{where}: {kind}: field 'where': must be a table of event columns")
        for key, value in conditions.items():
            if key not in EVENT_COLUMNS:
                raise RuleError(f"{where}: {kind}: where: unknown event column {key!r}")
            if isinstance(value, str) and value.startswith("$"):
                self._check_ref(where, value[1:], own)
                ref_type = self._type(value[1:], own)
                if not _comparable(EVENTS_SCHEMA[key], ref_type):
                    raise RuleError(
                        f"{where}: {kind}: where {key}: event column of type {EVENTS_SCHEMA[key]} "
                        f"cannot equal {value[1:]} of type {ref_type}"
                    )
            else:
                _check_value(f"{where}: {kind}: where {key}", value, EVENTS_SCHEMA[key])

    def _check_anchor(self, where: str, anchor: Any) -> None:
        if not isinstance(anchor, str):
            raise RuleError(f"{where}: an anchor is a string such as 'first.result' (got {anchor!r})")
        role, _, point = anchor.partition(".")
        if role not in ROLES or point not in _POINTS:
            raise RuleError(
                f"{where}: unknown anchor {anchor!r} (ROLE.start|tx|result, ROLE one of {', '.join(ROLES)})"
            )

    def _check_ref(self, where: str, ref: str, own: Mapping[str, pl.DataType]) -> None:
        """``ROLE.column`` names a transaction column; any other name, a column the rule's kind adds (``own``)."""
        role, dot, column = ref.partition(".")
        if dot and role in ROLES:
            if column not in self.txn_columns:
                raise RuleError(f"{where}: unknown transaction column {column!r} in {ref!r}")
        elif ref not in own:
            raise RuleError(
                f"{where}: unknown column {ref!r} (use ROLE.column or one of {', '.join(sorted(own))},"
                " the columns this finding kind adds)"
            )

    def _type(self, ref: str, own: Mapping[str, pl.DataType]) -> pl.DataType | None:
        """The type of the column ``ref`` names (None: not declared)."""
        role, dot, column = ref.partition(".")
        return self.txn_types.get(column) if dot and role in ROLES else own.get(ref)

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self, candidates: pl.DataFrame, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(fired: cid, rule, cause, weight; evidence: cid, rule, path, line, role) for candidates with ``cid``."""
        fired: list[pl.DataFrame] = []
        evidence: list[pl.DataFrame] = []
        events = self._slim(events)
        for rule in self.rules:
            subset = candidates.filter(pl.col("finding") == rule.finding)
            if subset.is_empty():
                continue
            ok = pl.Series("ok", [True] * subset.height)
            found: list[pl.DataFrame] = []
            for cond in rule.when:
                holds, ev = _condition(cond, subset, events)
                ok = ok & holds
                if ev is not None:
                    found.append(ev)
            hits = subset.filter(ok)
            if hits.is_empty():
                continue
            fired.append(hits.select("cid", rule=pl.lit(rule.id), cause=pl.lit(rule.cause), weight=pl.lit(rule.weight)))
            for ev in found:
                evidence.append(
                    ev.filter(pl.col("cid").is_in(hits["cid"].implode())).with_columns(rule=pl.lit(rule.id))
                )
        fired_df = (
            pl.concat(fired)
            if fired
            else pl.DataFrame(schema={"cid": pl.Int64, "rule": pl.String, "cause": pl.String, "weight": pl.Float64})
        )
        ev_df = (
            pl.concat(evidence, how="diagonal_relaxed")
            if evidence
            else pl.DataFrame(
                schema={"cid": pl.Int64, "path": pl.String, "line": pl.Int64, "role": pl.String, "rule": pl.String}
            )
        )
        return fired_df, ev_df

    def _slim(self, events: pl.DataFrame) -> pl.DataFrame:
        """Only the event kinds and columns the rules look at (one pass over the events)."""
        kinds: set[str] = set()
        columns = {"path", "line", "ts_utc", "kind"}
        for rule in self.rules:
            for cond in rule.when:
                kind, spec = next(iter(cond.items()))
                if kind in ("sequence", "absence", "count", "cite"):
                    kinds.update([spec["kind"]] if isinstance(spec["kind"], str) else spec["kind"])
                    columns.update(spec.get("where", {}))
        return events.filter(pl.col("kind").is_in(sorted(kinds))).select(sorted(columns))

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id."""
        return next(r for r in self.rules if r.id == rule_id)


# -- value checks -----------------------------------------------------------------------


def _nesting(text: str) -> int:
    """How deep arrays and inline tables nest in TOML ``text`` (table headers count too)."""
    depth = deepest = 0
    for token in _TOML_TOKENS.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif mark in "]}":
            depth -= 1
    return deepest


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    """A finite int or float (TOML true and false are not numbers)."""
    return _integer(value) or (isinstance(value, float) and math.isfinite(value))


def _kind_of(dtype: pl.DataType | None) -> str | None:
    """What TOML values a column of ``dtype`` compares with (None: unknown, anything goes)."""
    if dtype is None or dtype == pl.Null:
        return None
    if dtype.is_numeric():
        return "a number"
    if dtype == pl.Boolean:
        return "true or false"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "a string"
    if dtype.is_temporal():
        return "a date or time"
    return None


_FITS = {
    "a number": _number,
    "true or false": lambda v: isinstance(v, bool),
    "a string": lambda v: isinstance(v, str),
    "a date or time": lambda v: isinstance(v, (dt.date, dt.time)),
}


def _comparable(a: pl.DataType, b: pl.DataType | None) -> bool:
    inner = b.inner if isinstance(b, pl.List) else b  # type: ignore[union-attr]
    return _kind_of(a) is None or _kind_of(inner) is None or _kind_of(a) == _kind_of(inner)


def _check_value(where: str, value: Any, dtype: pl.DataType | None) -> None:
    """A literal of a condition (a value, an array of values, or operators) fits ``dtype``."""
    listed = isinstance(dtype, pl.List)
    element = dtype.inner if listed else dtype  # type: ignore[union-attr]
    if isinstance(value, dict):
        for op, v in value.items():
            if op == "null":
                if not isinstance(v, bool):
                    raise RuleError(f"{where}: null: must be true or false (got {v!r})")
            elif listed:
                raise RuleError(f"{where}: {op}: a list column takes a value, an array of values or null")
            else:
                _check_scalar(f"{where}: {op}", v, element)
        return
    for v in value if isinstance(value, list) else [value]:
        _check_scalar(where, v, element)


def _check_scalar(where: str, value: Any, dtype: pl.DataType | None) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise RuleError(f"{where}: {value!r} is not a finite number")
    if isinstance(value, (list, dict)):
        raise RuleError(f"{where}: {value!r}: a value here is a single value")
    kind = _kind_of(dtype)
    if kind is not None and not _FITS[kind](value):
        raise RuleError(f"{where}: the column holds {dtype}, so the value must be {kind} (got {value!r})")


def transaction_types() -> pl.Schema:
    """Columns a rule's ``ROLE.column`` may name, with their types: the declared transactions table
    (``timeline.TRANSACTION_COLUMNS``) and the columns the detectors derive (``DERIVED_COLUMNS``)."""
    from forensics.diagnosis.candidates import DERIVED_COLUMNS
    from forensics.timeline import TRANSACTION_COLUMNS

    return pl.Schema({name: dtype for name, (dtype, _) in {**TRANSACTION_COLUMNS, **DERIVED_COLUMNS}.items()})


# -- conditions -------------------------------------------------------------------------

_COMPARE = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _value_expr(column: str, value: Any, dtype: pl.DataType | None) -> pl.Expr:
    col = pl.col(column)
    if isinstance(value, dict):
        expr = pl.lit(True)
        for op, v in value.items():
            if op == "null":
                expr = expr & (col.is_null() if v else col.is_not_null())
            else:
                expr = expr & _COMPARE[op](col, v)
        return expr
    if isinstance(dtype, pl.List):
        return (
            col.list.contains(value)
            if not isinstance(value, list)
            else pl.any_horizontal([col.list.contains(v) for v in value])
        )
    if isinstance(value, list):
        return col.is_in(value)
    return col == value


def _condition(
    cond: dict[str, Any], cands: pl.DataFrame, events: pl.DataFrame
) -> tuple[pl.Series, pl.DataFrame | None]:
    kind, spec = next(iter(cond.items()))
    if kind == "match":
        expr = pl.lit(True)
        for ref, value in spec.items():
            column = candidate_column(ref)
            if column not in cands.columns:
                return pl.Series([False] * cands.height), None
            expr = expr & _value_expr(column, value, cands.schema[column])
        return cands.select(expr.fill_null(False).alias("ok"))["ok"], None
    if kind in ("same", "differ"):
        a, b = (candidate_column(r) for r in spec)
        if a not in cands.columns or b not in cands.columns:
            return pl.Series([False] * cands.height), None
        expr = (pl.col(a) == pl.col(b)) if kind == "same" else (pl.col(a) != pl.col(b))
        return cands.select(expr.fill_null(False).alias("ok"))["ok"], None
    hits = _window_hits(spec, cands, events, count=kind == "count")
    present = cands["cid"].is_in(hits["cid"].implode())
    if kind == "absence":
        return ~present, None
    role = spec.get("role")
    cited = hits.select("cid", "path", "line", role=pl.lit(role)) if role else None
    if kind == "cite":
        return pl.Series([True] * cands.height), cited
    return present, cited


def _anchor_ts(anchor: str) -> pl.Expr:
    role, _, point = anchor.partition(".")
    return pl.coalesce([pl.col(f"{role}__ts_{c}") for c in _POINTS[point]])


def _anchor_line(anchor: str) -> pl.Expr:
    """The anchor's own line: events at the same time are ordered by line (same file only)."""
    role, _, point = anchor.partition(".")
    ts = [pl.col(f"{role}__ts_{c}") for c in _POINTS[point]]
    lines = [pl.col(f"{role}__line_{c}") for c in _POINTS[point]]
    expr = pl.when(ts[-1].is_not_null()).then(lines[-1])
    for t, ln in zip(reversed(ts[:-1]), reversed(lines[:-1]), strict=False):
        expr = pl.when(t.is_not_null()).then(ln).otherwise(expr)
    return expr


def _window_hits(spec: dict[str, Any], cands: pl.DataFrame, events: pl.DataFrame, count: bool) -> pl.DataFrame:
    """cid, path, line of the first event (per candidate) that fits the window spec."""
    kinds = spec["kind"] if isinstance(spec["kind"], list) else [spec["kind"]]
    ev = events.filter(pl.col("kind").is_in(kinds))
    dynamic: dict[str, str] = {}
    for key, value in spec.get("where", {}).items():
        if isinstance(value, str) and value.startswith("$"):
            dynamic[key] = candidate_column(value[1:])
        else:
            ev = ev.filter(_value_expr(key, value, ev.schema[key]).fill_null(False))
    never = pl.lit(None, pl.Int64)
    if count:
        anchor = spec["around"]
        half = float(spec["window_s"])
        lo = _anchor_ts(anchor) - pl.duration(seconds=half)
        hi = _anchor_ts(anchor) + pl.duration(seconds=half)
        lo_line, hi_line = never, never
    elif "after" in spec:
        anchor = spec["after"]
        lo, lo_line = _anchor_ts(anchor), _anchor_line(anchor)
        if "before" in spec:
            hi, hi_line = _anchor_ts(spec["before"]), _anchor_line(spec["before"])
            if "within_s" in spec:
                hi = pl.min_horizontal(hi, lo + pl.duration(seconds=float(spec["within_s"])))
        else:
            hi, hi_line = lo + pl.duration(seconds=float(spec.get("within_s", 86400))), never
    else:
        anchor = spec["before"]
        hi, hi_line = _anchor_ts(anchor), _anchor_line(anchor)
        lo, lo_line = hi - pl.duration(seconds=float(spec["within_s"])), never
    role = spec.get("device", anchor.partition(".")[0])
    path = pl.col(f"{role}__path")
    if "before" in spec and "after" in spec:
        hi_line = pl.when(pl.col(f"{spec['before'].partition('.')[0]}__path") == path).then(hi_line)
    if "after" in spec:
        lo_line = pl.when(pl.col(f"{spec['after'].partition('.')[0]}__path") == path).then(lo_line)
    left = cands.select(
        "cid",
        path.alias("path"),
        lo.alias("_lo"),
        hi.alias("_hi"),
        lo_line.alias("_lo_line"),
        hi_line.alias("_hi_line"),
        *[pl.col(c).alias(f"_d_{k}") for k, c in dynamic.items()],
    )
    ts = pl.col("ts_utc")
    # strictly after the anchor, or at the same time on a later line (and likewise before)
    after_lo = (ts > pl.col("_lo")) | ((ts == pl.col("_lo")) & (pl.col("line") > pl.col("_lo_line")).fill_null(False))
    before_hi = (ts < pl.col("_hi")) | ((ts == pl.col("_hi")) & (pl.col("line") < pl.col("_hi_line")).fill_null(True))
    joined = left.join(ev.select("path", "line", "ts_utc", *dynamic.keys()), on="path", how="inner").filter(
        after_lo, before_hi, *[pl.col(k) == pl.col(f"_d_{k}") for k in dynamic]
    )
    if count:
        counted = joined.group_by("cid").agg(pl.len().alias("_n"), pl.col("path").first(), pl.col("line").min())
        return counted.filter(pl.col("_n") >= int(spec.get("at_least", 1))).select("cid", "path", "line")
    return (
        joined.sort("ts_utc", "line")
        .group_by("cid", maintain_order=True)
        .agg(pl.col("path").first(), pl.col("line").first())
    )
