"""The analysis engine: timeline and diagnosis of log files, one connected group of devices, TIDs and MIDs
at a time (``forensics.analysis.groups``): the same findings as the whole input at once, with the memory of
the largest group's work instead of the whole input's.

It sits above the stages it runs (``forensics.timeline.build`` takes a group, ``diagnose_timeline`` its
timeline) and below what uses it: ``forensics timeline``, ``forensics diagnose``, the reports and the fleet
sweep. ``timeline(paths)`` and ``diagnose(paths)`` are the entry points for log files; a big input's events
wait in a temporary Parquet file (``ingested``) and each group's rows are read when its turn comes.

``given(events)`` is what every group must know of the whole input: whether a host log and a clearing
file were given at all (a group whose TIDs the host log never names still has "a host log", that is
silent about them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from forensics.analysis.groups import connect, identifiers, labels, one_site, site_mids
from forensics.diagnosis import Diagnosis, Params, RuleSet, diagnose_timeline
from forensics.ingest import Loaded, load, write_parquet
from forensics.outputs import scratch_folder
from forensics.timeline import CARRIED, Timeline, build, streams

#: Inputs of more bytes than this in all (as stored: a .gz file counts compressed) are ingested into a temporary
#: Parquet file and analysed from it (``ingested``); $FORENSICS_SPILL_BYTES overrides it.
SPILL_BYTES = 256 << 20
#: Load options only ``load`` takes: inputs given with them are loaded in memory whatever their size.
_LOAD_ONLY = ("chunk_lines",)


def spill_bytes() -> int:
    """The input size beyond which ``ingested`` spills the events to Parquet (``SPILL_BYTES``)."""
    return int(os.environ.get("FORENSICS_SPILL_BYTES", SPILL_BYTES))


@contextmanager
def ingested(paths: str | Path | Sequence[str | Path], **load_options: Any) -> Iterator[tuple[Loaded, Path | None]]:
    """The inputs ingested (options as ``forensics.load``): (``load(paths)``, None) for inputs up to
    ``spill_bytes()``; beyond, (the ``write_parquet`` tables, the Parquet file of their events, lz4: each group's
    rows are read back from it) in a temporary folder removed on leaving (an exception or, in the CLI, SIGTERM
    too), for ``diagnose_parquet`` or ``timeline_parquet`` to read lazily."""
    listed = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if sum(_stored_bytes(p) for p in listed) <= spill_bytes() or any(k in load_options for k in _LOAD_ONLY):
        yield load(listed, **load_options), None
        return
    with scratch_folder("forensics-events-") as folder:
        source = folder / "events.parquet"
        yield write_parquet(listed, source, compression="lz4", **load_options), source


def _stored_bytes(path: str | Path) -> int:
    """Bytes of ``path`` as stored (0 for a pipe or what cannot be measured: ``load`` says what is wrong)."""
    try:
        return os.stat(path).st_size if os.path.isfile(path) else 0
    except OSError:
        return 0


def diagnose(
    paths: str | Path | Sequence[str | Path],
    *,
    params: Params | None = None,
    rules: RuleSet | None = None,
    events: bool = True,
    **load_options: Any,
) -> Diagnosis:
    """Load logs (options as ``forensics.load``: ``tz``, ``year``, ``dialects=[vendor dialect files]``, ...),
    rebuild the timeline and diagnose it, group by group: in memory (``diagnose_by_group``), or from a
    temporary Parquet file for inputs beyond ``spill_bytes()`` (``diagnose_parquet``). The same findings and
    timeline either way, the largest group's memory."""
    with ingested(paths, **load_options) as (loaded, source):
        if source is None:
            return diagnose_by_group(loaded, params=params, rules=rules, events=events)
        return diagnose_parquet(source, loaded, params=params, rules=rules, events=events)


def timeline(paths: str | Path | Sequence[str | Path], **load_options: Any) -> Timeline:
    """Load logs (options as ``forensics.load``) and build their timeline as ``diagnose`` does, group by group
    (``timeline_by_group`` or ``timeline_parquet``): the same frames as one ``build``, the largest group's
    memory."""
    with ingested(paths, **load_options) as (loaded, source):
        return timeline_by_group(loaded) if source is None else timeline_parquet(source, loaded)


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
    group = labels(events, connect(identifiers(events)))
    names = group.unique(maintain_order=True).to_list()
    if len(names) <= 1:
        return None
    rows = pl.int_range(0, events.height, dtype=pl.Int64, eager=True).alias(_ROW)
    parts = (  # each in one piece, as build() works on it (a filter keeps the chunks of what it filters)
        Loaded(
            _in_one_piece([events.filter(group == name).with_columns(rows.filter(group == name))]),
            loaded.unparsed,
            loaded.compliance,
            loaded.inputs,
        )
        for name in names
    )
    return parts, given(events)


def scan_split(source: Path, loaded: Loaded, spool: Path) -> tuple[Iterator[Loaded], tuple[bool, bool]] | None:
    """``split`` of the events in the Parquet file ``source`` without reading them all at once: the grouping
    reads their identifier columns, and each group's rows are read when its turn comes, from the slice of
    ``source`` between its first and last row when the groups' slices add up to at most ``_SLICES`` times the
    rows (each group's files in one piece, as ``write_parquet`` writes them); else from Arrow files that one
    pass over ``source`` sorted them into, in the folder ``spool`` (``_spooled``: a host log or clearing file
    shared by the groups is not read again for each). ``loaded``: the unparsed, compliance and inputs tables
    of the ingest that wrote ``source``."""
    scan = pl.scan_parquet(source)
    if one_site(site_mids(scan)):
        return None
    codes = labels(scan, connect(identifiers(scan))).to_physical()
    firsts = codes.unique(maintain_order=True)  # the groups in the order they first appear
    if firsts.len() <= 1:
        return None
    order = pl.Series(range(firsts.len()), dtype=pl.UInt32)
    group = codes.replace_strict(firsts, order, return_dtype=pl.UInt32)  # each row's group, numbered in that order
    del codes
    spans = (
        group.to_frame("group")
        .with_row_index("row")
        .group_by("group")
        .agg(first=pl.col("row").min(), last=pl.col("row").max())
        .sort("group")
    )
    if (spans["last"] - spans["first"] + 1).sum() <= _SLICES * group.len():

        def part(number: int, first: int, last: int) -> Loaded:
            rows = pl.int_range(first, last + 1, dtype=pl.Int64, eager=True).alias(_ROW)
            mask = group.slice(first, last - first + 1) == number
            events = scan.slice(first, last - first + 1).collect().with_columns(rows)
            # in one piece (a slice comes in one chunk per row group), the group's rows alone not copied again
            held = [events if mask.all() else events.filter(mask)]
            del events
            return Loaded(_in_one_piece(held), loaded.unparsed, loaded.compliance, loaded.inputs)

        return (part(*span) for span in spans.iter_rows()), given(scan)

    def spooled() -> Iterator[Loaded]:
        for file in _spooled(source, group, spool):
            events = pl.read_ipc(file)
            file.unlink()
            if events[_GROUP].n_unique() == 1:  # the file's batches put in one piece (partitions are)
                held = [events.drop(_GROUP)]
                del events
                groups = [_in_one_piece(held)]
            else:
                groups = events.partition_by(_GROUP, maintain_order=True, include_key=False)
                del events
            while groups:
                yield Loaded(groups.pop(0), loaded.unparsed, loaded.compliance, loaded.inputs)

    return spooled(), given(scan)


#: Groups are read from slices of the events' file while these add up to at most this many times its rows
#: (``scan_split``): else the file is sorted by group once (``_spooled``).
_SLICES = 2
#: The group number of each spooled row (``_spooled``).
_GROUP = "_group"
#: At most this many files hold the spooled events (``_spooled``).
_FILES = 256


def _spooled(source: Path, group: pl.Series, folder: Path) -> list[Path]:
    """The events of the Parquet file ``source`` in ``folder``, sorted by group in one pass: consecutive groups
    (``group``: each row's, numbered 0, 1... in the order they first appear) share an Arrow file up to the
    rows of the largest group, or of ``_FILES``-th of the rows if more; each row with its number in the whole
    (``_ROW``) and its group (``_GROUP``). The files, in the order of their groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sizes = group.value_counts(sort=False).sort(group.name)["count"].to_list()
    room = max(max(sizes), -(-group.len() // _FILES))
    bins: list[int] = []  # groups per file
    used = room
    for size in sizes:  # next fit, in the groups' order
        if used + size > room:
            bins.append(0)
            used = 0
        bins.append(bins.pop() + 1)
        used += size
    file_of = pl.Series([n for n, count in enumerate(bins) for _ in range(count)], dtype=pl.UInt32)
    paths = [folder / f"events-{n}.arrow" for n in range(len(bins))]
    reader = pq.ParquetFile(source)
    schema = reader.schema_arrow.append(pa.field(_ROW, pa.int64())).append(pa.field(_GROUP, pa.uint32()))
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with ExitStack() as stack:
        writers = [stack.enter_context(pa.ipc.new_file(str(p), schema, options=options)) for p in paths]
        start = 0
        for batch in reader.iter_batches(batch_size=1 << 16):
            end = start + batch.num_rows
            mine = group.slice(start, batch.num_rows)
            rows = pl.int_range(start, end, dtype=pl.Int64, eager=True)
            batch = pa.RecordBatch.from_arrays([*batch.columns, rows.to_arrow(), mine.to_arrow()], schema=schema)
            files = file_of.gather(mine)
            targets = files.unique(maintain_order=True).to_list()
            for n in targets:
                writers[n].write_batch(batch if len(targets) == 1 else batch.filter((files == n).to_arrow()))
            start = end
    return paths


def _slim(tl: Timeline, loaded: Loaded, events: bool = True) -> Timeline:
    """A group's timeline holding, of its events, only what the build added or changed (and the row numbers):
    the rest is in the whole input's events already; with ``events`` False, none of them (an empty frame).
    Its tables are the whole input's."""
    kept = tl.events.select(c for c in tl.events.columns if c not in loaded.events.columns or c == "line_end")
    return replace(tl, events=kept if events else kept.clear(), settlement=tl.settlement.drop(_ROW), loaded=loaded)


_TABLES = ("events", "transactions", "devices", "clocks", "host", "settlement")


def _owned(tl: Timeline) -> Timeline:
    """``tl`` with tables that hold their own strings, to be kept in memory while other groups are worked on
    (``compacted``)."""
    return replace(tl, **{name: compacted(getattr(tl, name)) for name in _TABLES})


def compacted(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` holding its own copy of its strings. A frame cut from another (filtered, joined) points into
    the other's string buffers and keeps all of them alive: kept for every group, the tables of the groups'
    timelines held each group's whole events (about 500 MiB a group of 1.3M events)."""
    return pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))  # type: ignore[return-value]


def timeline_by_group(loaded: Loaded) -> Timeline:
    """``build(loaded)``, one connected group at a time: the same frames, the largest group's memory."""
    cut = split(loaded)
    if cut is None:
        return build(loaded)
    parts, flags = cut
    return merge([_owned(_slim(build(part, flags), loaded)) for part in parts], loaded, rotated(loaded.events))


def timeline_parquet(source: Path, loaded: Loaded) -> Timeline:
    """``timeline_by_group`` of the events in the Parquet file ``source`` (``loaded``: as for ``scan_split``):
    the whole events are read once every group is built, for the timeline to hold them."""
    with scratch_folder("forensics-spool-") as spool:
        cut = scan_split(source, loaded, spool)
        if cut is None:
            return build(replace(loaded, events=pl.read_parquet(source)))
        parts, flags = cut
        shell = replace(loaded, events=pl.DataFrame(schema=pl.read_parquet_schema(source)))
        timelines = [_owned(_slim(build(part, flags), shell)) for part in parts]
    return merge(timelines, replace(loaded, events=pl.read_parquet(source)), rotated(pl.scan_parquet(source)))


def rotated(events: pl.DataFrame | pl.LazyFrame) -> bool:
    """Whether a terminal log of ``events`` continues another (``timeline.streams``): then ``build`` sorts the
    events by stream and line."""
    return streams(events).filter(pl.col("offset") > 0).height > 0


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
        return _diagnosed_whole(loaded, params, rules, events)
    return _diagnosed_groups(cut, loaded, lambda: loaded, rotated(loaded.events), params, rules, events)


def diagnose_parquet(
    source: Path, loaded: Loaded, *, params: Params | None = None, rules: RuleSet | None = None, events: bool = True
) -> Diagnosis:
    """``diagnose_by_group`` of the events in the Parquet file ``source`` (``loaded``: as for ``scan_split``),
    read lazily: the grouping reads their identifier columns, each group's rows are read when its turn comes.
    With ``events=False`` the whole events are never held; else they are read once every group is diagnosed,
    for the timeline to hold them. The timeline's ``loaded`` holds ``loaded``'s tables (and the events so read)."""
    with scratch_folder("forensics-kept-") as kept:
        cut = scan_split(source, loaded, kept)
        if cut is None:
            return _diagnosed_whole(replace(loaded, events=pl.read_parquet(source)), params, rules, events)
        is_rotated = rotated(pl.scan_parquet(source))
        shell = replace(loaded, events=pl.DataFrame(schema=pl.read_parquet_schema(source)))

        def whole() -> Loaded:
            return replace(loaded, events=pl.read_parquet(source)) if events else shell

        return _diagnosed_groups(cut, shell, whole, is_rotated, params, rules, events, kept)


def _diagnosed_whole(loaded: Loaded, params: Params | None, rules: RuleSet | None, events: bool) -> Diagnosis:
    """``diagnose_timeline(build(loaded))`` (its timeline's events left out unless ``events``)."""
    result = diagnose_timeline(build(loaded), params=params, rules=rules)
    if not events:
        result.timeline = replace(result.timeline, events=result.timeline.events.clear())
    return result


def _diagnosed_groups(
    cut: tuple[Iterator[Loaded], tuple[bool, bool]],
    shell: Loaded,
    whole: Callable[[], Loaded],
    is_rotated: bool,
    params: Params | None,
    rules: RuleSet | None,
    events: bool,
    kept: Path | None = None,
) -> Diagnosis:
    """The groups of ``cut`` diagnosed one at a time and merged into the diagnosis of what ``whole`` gives once
    every group is done (``shell``: the input's tables, with its events or only their columns). With a ``kept``
    folder, each group's tables wait there as Arrow files until the merge, so that no group's work shares
    the memory with the tables of all the groups before it."""
    parts, flags = cut
    findings, fired, timelines = [], [], []
    # not enumerate(parts): its tuple of the last (number, group) holds that group's rows until the next is read
    for part in parts:
        n = len(timelines)
        result = diagnose_timeline(build(part, flags), params=params, rules=rules)
        findings += result.findings
        if result.rules_fired.width:
            fired.append(result.rules_fired)
        slim = _slim(result.timeline, shell, events)
        timelines.append(_owned(slim) if kept is None else _put(slim, kept / str(n)))
        del part, result, slim  # the group's own copy of its rows goes now
    findings.sort(key=finding_order)
    return Diagnosis(
        [replace(f, id=f"F{i}") for i, f in enumerate(findings, start=1)],
        merge(timelines, whole(), is_rotated, kept),
        pl.concat(fired, how="diagonal_relaxed") if fired else pl.DataFrame(),
    )


def _put(tl: Timeline, stem: Path) -> Timeline:
    """``tl`` with its tables written to ``<stem>-<table>.arrow`` and left empty (``merge`` reads them)."""
    for name in _TABLES:
        getattr(tl, name).write_ipc(f"{stem}-{name}.arrow", compression="lz4")
    return replace(tl, **{name: getattr(tl, name).clear() for name in _TABLES})


def merge(timelines: list[Timeline], loaded: Loaded, is_rotated: bool, kept: Path | None = None) -> Timeline:
    """One timeline of the groups' timelines (``_slim``) of ``loaded``, its frames in the order
    ``build(loaded)`` gives (``is_rotated``: ``rotated(loaded.events)``, whose events may be left out).
    With ``kept``, the groups' tables are read from the files ``_put`` wrote there, one table at a time.
    ``timelines`` is emptied: each frame is let go once merged."""
    order = {path: n for n, path in enumerate(loaded.inputs["path"].to_list())} if loaded.inputs.height else {}

    def concat(name: str) -> list[pl.DataFrame]:
        """The groups' ``name`` tables as one frame in a list, for ``_ordered`` to take; the groups let go of them."""
        if kept is None:
            parts = [getattr(t, name) for t in timelines]
            timelines[:] = [replace(t, **{name: part.clear()}) for t, part in zip(timelines, parts, strict=True)]
        else:
            parts = [pl.read_ipc(kept / f"{n}-{name}.arrow") for n in range(len(timelines))]
        return [pl.concat(parts, how="vertical_relaxed")]

    columns = [c for c in timelines[0].events.columns if c != _ROW]
    added = _ordered(concat("events"), [pl.col(_ROW)], nulls_last=True)  # one row per event of the input, in order
    whole = loaded.events if added.height == loaded.events.height else loaded.events.clear()  # left out
    events = whole.with_columns(added.select(c for c in columns)).select(
        *[c for c in loaded.events.columns], *[c for c in columns if c not in loaded.events.columns]
    )
    del added
    # build() keeps the ingest order, or sorts by stream and line when a log continues another
    if is_rotated:
        events = _ordered([events], [pl.col("stream"), pl.col("seq")], nulls_last=True)
        settlement = _ordered(concat("settlement"), [pl.col("path"), pl.col("line")], nulls_last=True)
    else:
        rank = pl.col("path").replace_strict(order, default=None, return_dtype=pl.Int64)
        settlement = _ordered(concat("settlement"), [rank, pl.col("line")], nulls_last=True)
    merged = Timeline(
        transactions=_ordered(concat("transactions"), [pl.col("ts_start"), pl.col("device"), pl.col("line_start")]),
        events=events,
        devices=_ordered(concat("devices"), [pl.col("tid"), pl.col("first_seen")]),
        clocks=_ordered(concat("clocks"), [pl.col("path"), pl.col("segment")]),
        host=_ordered(concat("host"), [pl.col("h_rx_ts"), pl.col("host_path"), pl.col("host_line")]),
        settlement=settlement,
        loaded=loaded,
    )
    timelines.clear()
    return merged


def _ordered(held: list[pl.DataFrame], keys: list[pl.Expr], nulls_last: bool = False) -> pl.DataFrame:
    """The frame ``held`` holds (taken out of it), its rows in the order of ``keys`` (a stable sort, nulls first
    unless ``nulls_last``): the frame itself when in that order already; else its columns put in order a few at
    a time, each let go once copied, so that the sort holds the frame and a few columns more, not two frames."""
    by = held[-1].select(pl.arg_sort_by(keys, maintain_order=True, nulls_last=nulls_last).alias("_by"))["_by"]
    if by.equals(pl.int_range(0, by.len(), dtype=by.dtype, eager=True), check_names=False):
        return held.pop()
    return _by_columns(held, lambda few: few[by])


def _in_one_piece(held: list[pl.DataFrame]) -> pl.DataFrame:
    """The frame ``held`` holds (taken out of it) with each column ``build`` works on in one chunk (those of
    ``timeline.CARRIED`` it takes as they come, and they stay so): put together a few columns at a time, so that
    it is not held twice (a frame read from Parquet comes in one chunk per row group; ``build`` copied its
    columns into one, while the group's rows were held as read)."""
    return _by_columns(held, pl.DataFrame.rechunk, leave=CARRIED)


def _by_columns(
    held: list[pl.DataFrame], copy: Callable[[pl.DataFrame], pl.DataFrame], leave: Collection[str] = ()
) -> pl.DataFrame:
    """``copy`` of the frame ``held`` holds (taken out of it), made a few columns at a time, each let go once
    copied: the work holds the frame and a few columns more, not two frames. Columns named in ``leave`` are
    kept as they are."""
    columns = held.pop().get_columns()
    names = [column.name for column in columns]
    done = {column.name: column for column in columns if column.name in leave}
    work = [column for column in columns if column.name not in leave]
    del columns
    while work:  # a few columns at a time (copied in parallel)
        few, work[:_FEW] = pl.DataFrame(work[:_FEW]), []
        done.update((column.name, column) for column in copy(few).get_columns())
        del few
    return pl.DataFrame([done[name] for name in names])


#: Columns copied at a time by ``_by_columns``.
_FEW = 8
