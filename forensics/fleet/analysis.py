"""Timeline and diagnosis group by group (``forensics.fleet.groups``): the same findings as the whole
input at once, with the memory of the largest group's work instead of the whole input's.

``given(events)`` is what every group must know of the whole input: whether a host log and a clearing
file were given at all (a group whose TIDs the host log never names still has "a host log", that is
silent about them). ``diagnose_by_group`` and ``timeline_by_group`` are what ``forensics diagnose``
and ``forensics timeline`` run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import polars as pl

from forensics.diagnosis import Diagnosis, Params, RuleSet, diagnose_timeline
from forensics.fleet.groups import connect, group_of, identifiers, one_site, site_mids
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


#: The row number of each event in the whole input, carried through a group's build to put the groups together.
_ROW = "_row"


def split(loaded: Loaded) -> tuple[Iterator[Loaded], tuple[bool, bool]] | None:
    """``loaded`` cut into its connected groups, in the order they first appear, one at a time (a group's rows
    are copied when its turn comes, with their row numbers in the whole), and what every group must know of
    the whole (``given``); None when it is one group, or one site's logs (``groups.one_site``)."""
    events = loaded.events
    if one_site(site_mids(events)):
        return None
    labels = events.select(group_of(connect(identifiers(events))).cast(pl.Categorical))["group"]  # 4 bytes a row
    names = labels.unique(maintain_order=True).to_list()
    if len(names) <= 1:
        return None
    rows = pl.int_range(0, events.height, dtype=pl.Int64, eager=True).alias(_ROW)
    parts = (
        Loaded(
            events.filter(labels == name).with_columns(rows.filter(labels == name)),
            loaded.unparsed,
            loaded.compliance,
            loaded.inputs,
        )
        for name in names
    )
    return parts, given(events)


def _slim(tl: Timeline, loaded: Loaded) -> Timeline:
    """A group's timeline holding, of its events, only what the build added or changed (and the row numbers):
    the rest is in the whole input's events already. Its tables are the whole input's."""
    kept = [c for c in tl.events.columns if c not in loaded.events.columns or c == "line_end"]
    return replace(tl, events=tl.events.select(kept), settlement=tl.settlement.drop(_ROW), loaded=loaded)


def timeline_by_group(loaded: Loaded) -> Timeline:
    """``build(loaded)``, one connected group at a time: the same frames, the largest group's memory."""
    cut = split(loaded)
    if cut is None:
        return build(loaded)
    parts, flags = cut
    return merge([_slim(build(part, flags), loaded) for part in parts], loaded)


def diagnose_by_group(
    loaded: Loaded, *, params: Params | None = None, rules: RuleSet | None = None, events: bool = True
) -> Diagnosis:
    """``diagnose_timeline(build(loaded))``, one connected group at a time: the same findings, numbered
    F1, F2... in the same order, and the same timeline, with the largest group's memory.

    ``events=False`` leaves the timeline's events out (an empty frame; its transactions, devices, clocks,
    host and settlement frames are whole) for callers that show findings only (``forensics diagnose``):
    then the analysis holds, beyond ``loaded``, what the largest group's work needs, not a column more
    per event of the whole input."""
    cut = split(loaded)
    if cut is None:
        result = diagnose_timeline(build(loaded), params=params, rules=rules)
        if not events:
            result.timeline = replace(result.timeline, events=result.timeline.events.clear())
        return result
    parts, flags = cut
    findings, fired, timelines = [], [], []
    for part in parts:
        result = diagnose_timeline(build(part, flags), params=params, rules=rules)
        findings += result.findings
        if result.rules_fired.width:
            fired.append(result.rules_fired)
        slim = _slim(result.timeline, loaded)
        timelines.append(slim if events else replace(slim, events=slim.events.clear()))
        del part, result  # the group's own copy of its rows goes now
    findings.sort(key=finding_order)
    return Diagnosis(
        [replace(f, id=f"F{i}") for i, f in enumerate(findings, start=1)],
        merge(timelines, loaded),
        pl.concat(fired, how="diagonal_relaxed") if fired else pl.DataFrame(),
    )


def merge(timelines: list[Timeline], loaded: Loaded) -> Timeline:
    """One timeline of the groups' timelines (``_slim``) of ``loaded``, its frames in the order
    ``build(loaded)`` gives (``timelines`` is emptied: each frame is let go once merged)."""
    rotated = streams(loaded.events).filter(pl.col("offset") > 0).height > 0
    order = {path: n for n, path in enumerate(loaded.inputs["path"].to_list())} if loaded.inputs.height else {}

    def ordered(frame: pl.DataFrame, keys: list[pl.Expr]) -> pl.DataFrame:
        by = frame.select(pl.arg_sort_by(keys, maintain_order=True, nulls_last=True).alias("_by"))["_by"]
        if by.equals(pl.int_range(0, frame.height, dtype=by.dtype, eager=True), check_names=False):
            return frame  # in order already: no copy
        return frame[by]

    def concat(name: str) -> pl.DataFrame:
        return pl.concat([getattr(t, name) for t in timelines], how="vertical_relaxed")

    added = ordered(concat("events"), [pl.col(_ROW)])  # one row per event of the input, in its order
    columns = [c for c in timelines[0].events.columns if c != _ROW]
    whole = loaded.events if added.height == loaded.events.height else loaded.events.clear()  # left out
    events = whole.with_columns(added.select(c for c in columns)).select(
        *[c for c in loaded.events.columns], *[c for c in columns if c not in loaded.events.columns]
    )
    del added
    # build() keeps the ingest order, or sorts by stream and line when a log continues another
    if rotated:
        events = ordered(events, [pl.col("stream"), pl.col("seq")])
        settlement = ordered(concat("settlement"), [pl.col("path"), pl.col("line")])
    else:
        rank = pl.col("path").replace_strict(order, default=None, return_dtype=pl.Int64)
        settlement = ordered(concat("settlement"), [rank, pl.col("line")])
    merged = Timeline(
        transactions=concat("transactions").sort("ts_start", "device", "line_start", maintain_order=True),
        events=events,
        devices=concat("devices").sort("tid", "first_seen", maintain_order=True),
        clocks=concat("clocks").sort("path", "segment", maintain_order=True),
        host=concat("host").sort("h_rx_ts", "host_path", "host_line", maintain_order=True),
        settlement=settlement,
        loaded=loaded,
    )
    timelines.clear()
    return merged
