"""What failed: the failure taxonomy (forensics/data/failures.toml) and the failure events near a candidate.

A discrepancy's cause is what failed between its transactions. The taxonomy declares, as data,
which events show a part of the chain failing (printer, card reader, battery, app, network, host,
operator, device migration) and the cause each points to. ``Taxonomy.hits`` finds those events on
the devices of each candidate's transactions (and on the host near its first request), between the
first request and the last transaction, and scores each by weight and proximity. Diagnosis takes
the best-scored cause where no attribution rule describes the sequence, and to break a tie between
rules.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import polars as pl

from forensics.diagnosis.rules import CAUSES, _check_value, _value_expr
from forensics.errors import RuleError
from forensics.events import EVENTS_SCHEMA, KINDS

_FIELDS = {"id", "component", "cause", "kind", "where", "pattern", "weight", "description", "side"}
#: seconds before the first request a failure may lie (a fault just before it, e.g. a reader error)
LEAD_S = 30.0
#: seconds after a single transaction's outcome its failures may lie (a reversal lost afterwards)
TAIL_S = 900.0
#: seconds either side of the first request a host-side failure may lie
HOST_S = 120.0
#: the columns of ``Taxonomy.hits``
HIT_SCHEMA = pl.Schema(
    {
        "cid": pl.Int64(),
        "failure": pl.String(),
        "cause": pl.String(),
        "component": pl.String(),
        "path": pl.String(),
        "line": pl.Int64(),
        "offset_s": pl.Float64(),
        "score": pl.Float64(),
    }
)


@dataclass(frozen=True)
class Failure:
    """One entry of the taxonomy: events of ``kind`` meeting ``where`` show ``component`` failing."""

    id: str
    component: str
    cause: str
    kinds: tuple[str, ...]
    where: dict[str, Any]
    weight: float
    description: str
    side: str = "terminal"
    #: a regular expression the event's tag or message must match (None: any)
    pattern: str | None = None


class Taxonomy:
    """The failure taxonomy, validated when it loads (naming the file, the entry and the field)."""

    def __init__(self, text: str | None = None, name: str = "failures.toml"):
        if text is None:
            text = files("forensics").joinpath("data", "failures.toml").read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(f"{name}: not valid TOML: {exc}") from exc
        extra = set(data) - {"failure", "half_life_s"}
        if extra:
            raise RuleError(f"{name}: unknown field {sorted(extra)[0]!r}")
        half = data.get("half_life_s", 60.0)
        if not isinstance(half, (int, float)) or isinstance(half, bool) or not math.isfinite(half) or half <= 0:
            raise RuleError(f"{name}: field 'half_life_s': must be a positive number of seconds")
        self.half_life_s = float(half)
        self.failures: list[Failure] = []
        for i, raw in enumerate(data.get("failure", []), start=1):
            self.failures.append(_failure(f"{name}: failure {raw.get('id', f'#{i}')}", raw))
        ids = [f.id for f in self.failures]
        if len(set(ids)) != len(ids):
            raise RuleError(f"{name}: an id is defined twice")

    def failure(self, failure_id: str) -> Failure:
        """The entry with this id."""
        return next(f for f in self.failures if f.id == failure_id)

    def hits(self, candidates: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
        """Every failure event near each candidate (``cid``), scored (``HIT_SCHEMA``), best first per candidate."""
        windows = _windows(candidates)
        if windows.is_empty():
            return pl.DataFrame(schema=HIT_SCHEMA)
        kinds = sorted({k for f in self.failures for k in f.kinds})
        columns = sorted(
            {"path", "line", "ts_utc", "kind", "tag", "message"} | {c for f in self.failures for c in f.where}
        )
        ev = events.filter(pl.col("kind").is_in(kinds)).select(columns)
        parts = []
        for f in self.failures:
            mine = ev.filter(pl.col("kind").is_in(list(f.kinds)))
            for column, value in f.where.items():
                mine = mine.filter(_value_expr(column, value, EVENTS_SCHEMA[column]).fill_null(False))
            if f.pattern is not None:
                text = pl.concat_str([pl.col("tag"), pl.col("message")], separator=": ", ignore_nulls=True)
                mine = mine.filter(text.str.contains(f.pattern).fill_null(False))
            if mine.is_empty():
                continue
            side = windows.filter(pl.col("side") == f.side)
            offset = (pl.col("ts_utc") - pl.col("_anchor")).dt.total_seconds(fractional=True)
            joined = side.join(mine.select("path", "line", "ts_utc"), on="path", how="inner").filter(
                pl.col("ts_utc") >= pl.col("_lo"), pl.col("ts_utc") <= pl.col("_hi")
            )
            parts.append(
                joined.select(
                    "cid",
                    failure=pl.lit(f.id),
                    cause=pl.lit(f.cause),
                    component=pl.lit(f.component),
                    path=pl.col("path"),
                    line=pl.col("line"),
                    offset_s=offset,
                    score=f.weight * (0.5 ** (offset.abs() / self.half_life_s)),
                )
            )
        if not parts:
            return pl.DataFrame(schema=HIT_SCHEMA)
        out = pl.concat(parts).cast(dict(HIT_SCHEMA)).unique(["cid", "failure", "path", "line"])
        return out.sort(["cid", "score", "failure", "path", "line"], descending=[False, True, False, False, False])


def _failure(where: str, raw: Any) -> Failure:
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: must be a table ([[failure]])")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise RuleError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    for key in ("id", "component", "cause", "kind", "weight", "description"):
        if key not in raw:
            raise RuleError(f"{where}: field {key!r} is required")
    if raw["cause"] not in CAUSES or raw["cause"] == "undetermined":
        raise RuleError(f"{where}: field 'cause': unknown cause {raw['cause']!r}")
    kinds = (raw["kind"],) if isinstance(raw["kind"], str) else tuple(raw["kind"])
    for k in kinds:
        if k not in KINDS:
            raise RuleError(f"{where}: field 'kind': unknown event kind {k!r}")
    weight = raw["weight"]
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight) or weight <= 0:
        raise RuleError(f"{where}: field 'weight': must be a positive finite number")
    conditions = raw.get("where", {})
    if not isinstance(conditions, dict):
        raise RuleError(f"{where}: field 'where': must be a table of event columns")
    for column, value in conditions.items():
        if column not in EVENTS_SCHEMA:
            raise RuleError(f"{where}: where: unknown event column {column!r}")
        _check_value(f"{where}: where {column}", value, EVENTS_SCHEMA[column])
    pattern = raw.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise RuleError(f"{where}: field 'pattern': must be a regular expression (a string)")
        try:
            re.compile(pattern)
            pl.select(pl.lit("").str.contains(pattern))
        except (re.error, pl.exceptions.ComputeError) as exc:
            raise RuleError(f"{where}: field 'pattern': not a regular expression ({exc})") from None
    side = raw.get("side", "terminal")
    if side not in ("terminal", "host"):
        raise RuleError(f"{where}: field 'side': terminal or host (got {side!r})")
    return Failure(
        raw["id"],
        raw["component"],
        raw["cause"],
        kinds,
        dict(conditions),
        float(weight),
        raw["description"],
        side,
        pattern,
    )


def _ts(role: str, *points: str) -> pl.Expr:
    return pl.coalesce([pl.col(f"{role}__ts_{p}") for p in points])


def _windows(c: pl.DataFrame) -> pl.DataFrame:
    """Per candidate and stream: where its failures may lie (``_lo``..``_hi``), the time they are measured from
    (``_anchor``: its first request's outcome), and whose stream it is (``side``)."""
    lead = pl.duration(seconds=LEAD_S)
    tail = pl.duration(seconds=TAIL_S)
    host = pl.duration(seconds=HOST_S)
    rows = []
    for first, last in (("first", "second"), ("txn", None)):
        if f"{first}__txn" not in c.columns:
            continue
        mine = c.filter(pl.col(f"{first}__txn").is_not_null())
        if mine.is_empty():
            continue
        anchor = _ts(first, "result", "tx", "start")
        lo = _ts(first, "tx", "start") - lead
        same = pl.lit(False) if last is None else pl.col(f"{last}__txn") == pl.col(f"{first}__txn")
        hi = anchor + tail if last is None else pl.when(same).then(anchor + tail).otherwise(_ts(last, "start"))
        base = mine.select("cid", _anchor=anchor, _lo=lo, _hi=hi)
        for role in (first, last) if last else (first,):
            rows.append(
                base.with_columns(path=mine[f"{role}__path"], side=pl.lit("terminal")).filter(
                    pl.col("path").is_not_null()
                )
            )
        h = mine[f"{first}__host_path"] if f"{first}__host_path" in mine.columns else None
        if h is not None:
            rows.append(
                base.with_columns(
                    path=h, side=pl.lit("host"), _lo=pl.col("_anchor") - host, _hi=pl.col("_anchor") + host
                ).filter(pl.col("path").is_not_null())
            )
    if not rows:
        return pl.DataFrame(schema={"cid": pl.Int64, "path": pl.String, "side": pl.String})
    return pl.concat(rows, how="diagonal_relaxed").unique(["cid", "path", "side"], keep="first")


@functools.cache
def default_taxonomy() -> Taxonomy:
    """The installed taxonomy (loaded and validated once)."""
    return Taxonomy()
