"""Timeline and diagnosis group by group (``forensics.fleet.groups``): the same findings as the whole
input at once, with the memory of the largest group's work instead of the whole input's.

``given(events)`` is what every group must know of the whole input: whether a host log and a clearing
file were given at all (a group whose TIDs the host log never names still has "a host log", that is
silent about them). ``diagnose_by_group`` and ``timeline_by_group`` are what ``forensics diagnose``
and ``forensics timeline`` run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl

from forensics.diagnosis import Diagnosis, Params, RuleSet, diagnose_timeline
from forensics.fleet.groups import UNATTACHED, connect, group_of, identifiers
from forensics.ingest import Loaded
from forensics.timeline import Timeline, build, streams


def given(events: pl.DataFrame | pl.LazyFrame) -> tuple[bool, bool]:
    """(a host log was given, a clearing file was given), as ``timeline.build`` decides them for the
    whole input: a host request, a cleared item among ``events``."""
    k = pl.col("kind")
    host = (pl.col("role") == "host") & pl.col("mti").is_not_null() & (k == "host.rx")
    found = events.lazy().select(host.any().alias("host"), (k == "settle.item").any().alias("settle")).collect()
    return bool(found["host"][0]), bool(found["settle"][0])


def finding_order(f: Any) -> tuple[Any, ...]:
    """The order findings are numbered in (``diagnose_timeline``'s)."""
    return (f.first_ts, f.kind, f.transactions[0].device, f.transactions[0].stan or "")


def split(loaded: Loaded) -> tuple[list[Loaded], tuple[bool, bool]] | None:
    """``loaded`` cut into its connected groups (``UNATTACHED`` rows last) and what every group must know
    of the whole (``given``); None when it is one group."""
    events = loaded.events
    labels = events.select(group_of(connect(identifiers(events))))["group"]
    names = sorted(labels.unique().to_list(), key=lambda name: (name == UNATTACHED, name))
    if len(names) <= 1:
        return None
    parts = [Loaded(events.filter(labels == name), loaded.unparsed, loaded.compliance, loaded.inputs) for name in names]
    return parts, given(events)


def timeline_by_group(loaded: Loaded) -> Timeline:
    """``build(loaded)``, one connected group at a time: the same frames, the largest group's memory."""
    cut = split(loaded)
    if cut is None:
        return build(loaded)
    parts, flags = cut
    return merge([build(part, flags) for part in parts], loaded)


def diagnose_by_group(loaded: Loaded, *, params: Params | None = None, rules: RuleSet | None = None) -> Diagnosis:
    """``diagnose_timeline(build(loaded))``, one connected group at a time: the same findings, numbered
    F1, F2... in the same order, and the same timeline, with the largest group's memory."""
    cut = split(loaded)
    if cut is None:
        return diagnose_timeline(build(loaded), params=params, rules=rules)
    parts, flags = cut
    results = [diagnose_timeline(build(part, flags), params=params, rules=rules) for part in parts]
    findings = sorted((f for r in results for f in r.findings), key=finding_order)
    fired = [r.rules_fired for r in results if r.rules_fired.width]
    return Diagnosis(
        [replace(f, id=f"F{i}") for i, f in enumerate(findings, start=1)],
        merge([r.timeline for r in results], loaded),
        pl.concat(fired, how="diagonal_relaxed") if fired else pl.DataFrame(),
    )


def merge(timelines: list[Timeline], loaded: Loaded) -> Timeline:
    """One timeline of the groups' timelines of ``loaded``, its frames in the order ``build(loaded)`` gives."""
    rotated = streams(loaded.events).filter(pl.col("offset") > 0).height > 0
    order = {path: n for n, path in enumerate(loaded.inputs["path"].to_list())} if loaded.inputs.height else {}

    def in_input_order(frame: pl.DataFrame, path: str = "path", line: str = "line") -> pl.DataFrame:
        # build() keeps the ingest order, or sorts by stream and line when a log continues another
        if rotated:
            return frame.sort(path, line, maintain_order=True)
        rank = pl.col("path").replace_strict(order, default=None, return_dtype=pl.Int64)
        return frame.sort(rank, pl.col("line"), maintain_order=True, nulls_last=True)

    def concat(name: str) -> pl.DataFrame:
        return pl.concat([getattr(t, name) for t in timelines], how="vertical_relaxed")

    return Timeline(
        transactions=concat("transactions").sort("ts_start", "device", "line_start", maintain_order=True),
        events=in_input_order(concat("events"), "stream", "seq"),
        devices=concat("devices").sort("tid", "first_seen", maintain_order=True),
        clocks=concat("clocks").sort("path", "segment", maintain_order=True),
        host=concat("host").sort("h_rx_ts", "host_path", "host_line", maintain_order=True),
        settlement=in_input_order(concat("settlement")),
        loaded=loaded,
    )
