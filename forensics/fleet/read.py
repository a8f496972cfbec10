"""Reading a sweep's output folder (``forensics sweep ... -o OUTDIR``) with Polars lazy scans.

``scan(outdir, "findings")`` (or devices, inputs, groups) is a ``LazyFrame`` of ``OUTDIR/<name>.parquet``;
``events(outdir, gid)`` scans one group's events (``OUTDIR/events/group=<gid>/``; every group's, with a
``group`` column from the hive partition, when ``gid`` is None); ``finding(outdir, fid)`` is one finding's
JSON object (``../shared/spec/findings.md``); ``timeline(outdir, gid)`` rebuilds one group's timeline
from its events, as the sweep did before diagnosing it, for drilling into a finding (its transactions,
its charts). Nothing is read before it is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from forensics.analysis import given
from forensics.events import EVENTS_SCHEMA, INPUTS_SCHEMA
from forensics.ingest import Loaded
from forensics.timeline import Timeline, build

__all__ = ["FRAMES", "events", "finding", "scan", "timeline"]

#: The frames a sweep writes as ``OUTDIR/<name>.parquet``.
FRAMES = ("findings", "devices", "inputs", "groups")


def scan(outdir: str | Path, name: str) -> pl.LazyFrame:
    """``OUTDIR/<name>.parquet`` as a lazy frame; ``name`` one of ``FRAMES``."""
    if name not in FRAMES:
        raise ValueError(f"unknown sweep frame {name!r}; known: {', '.join(FRAMES)}")
    return pl.scan_parquet(Path(outdir) / f"{name}.parquet")


def events(outdir: str | Path, gid: str | None = None) -> pl.LazyFrame:
    """One group's events (columns ``EVENTS_SCHEMA``), or every group's with their ``group`` when ``gid`` is None."""
    folder = Path(outdir) / "events"
    if gid is None:
        return pl.scan_parquet(folder / "**" / "*.parquet", hive_partitioning=True)
    part = folder / f"group={gid}"
    if not part.is_dir():
        raise KeyError(f"no group {gid!r} in {outdir}")
    return pl.scan_parquet(part / "*.parquet", hive_partitioning=False)


def finding(outdir: str | Path, fid: str) -> dict[str, Any]:
    """The JSON object of finding ``fid`` (e.g. ``G-T0000101/F1``); KeyError when the sweep has none such."""
    rows = scan(outdir, "findings").filter(pl.col("id") == fid).select("finding").collect()
    if rows.is_empty():
        raise KeyError(f"no finding {fid!r} in {outdir}")
    return json.loads(rows["finding"][0])


def timeline(outdir: str | Path, gid: str) -> Timeline:
    """Group ``gid``'s timeline from its events, told (as in the sweep) whether the fleet had a host log and
    a clearing file at all."""
    rows = events(outdir, gid).select(EVENTS_SCHEMA.names()).collect()
    empty = pl.DataFrame()
    # the group's inputs as ``load`` describes them; what the sweep does not record (zones) stays unknown
    known = {"path", "sha256", "bytes", "lines", "parsed", "unparsed", "format", "role"}
    inputs = (
        scan(outdir, "inputs")
        .filter(pl.col("groups").list.contains(gid))
        .rename({"size": "bytes"})
        .select([pl.col(c) if c in known else pl.lit(None).alias(c) for c in INPUTS_SCHEMA.names()])
        .cast(dict(INPUTS_SCHEMA))
        .collect()
    )
    return build(Loaded(rows, empty, empty, inputs), given(events(outdir)))
