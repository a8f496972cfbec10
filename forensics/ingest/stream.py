"""Streaming: the two passes every ingest makes, in memory (``load``) or into Parquet
(``write_parquet``).

First pass: each input is read in batches of whole records (``framing``), ``workers`` batches
at a time in threads, parsed (``parse``) and its stamps noted (``finish.Times``); parsed
batches wait in a spool. Second pass, once every input is read: each batch gets its times
(year-less stamps anchored by the other inputs), devices and card ids (``finish``) and goes to
the sink in order.
"""

from __future__ import annotations

import bisect
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any

import polars as pl

from forensics.errors import ForensicsError, FormatError
from forensics.events import COMPLIANCE_SCHEMA, EVENTS_SCHEMA, INPUTS_SCHEMA, UNPARSED_SCHEMA, conform
from forensics.ingest import clock, fastpath
from forensics.ingest.cards import CardGuard, Sighting, mask_name
from forensics.ingest.dialect import Dialects, dialect_sources
from forensics.ingest.finish import (
    Serials,
    Times,
    Together,
    anchors_for,
    card_ids,
    device,
    input_row,
    setting_for,
    zone_for,
)
from forensics.ingest.formats import Format, Registry, registry_for
from forensics.ingest.framing import record_batches
from forensics.ingest.parse import (
    LazyPool,
    Parsed,
    add_sightings,
    card_screens,
    dump_rows,
    parse_batch,
    parse_lines,
    with_sightings,
)
from forensics.ingest.read import Reader
from forensics.outputs import check_outputs, scratch_folder, written_aside
from forensics.progress import Callback

#: Bytes of parsed batches ``write_parquet`` keeps in memory; beyond, they wait on disk.
_SPOOL_MEMORY = 128 << 20
#: Lines a worker process takes at once when streaming (formats without a fast path).
_STREAM_CHUNK = 50_000


@dataclass
class Loaded:
    """What ``load`` returns: the four tables of an ingest."""

    events: pl.DataFrame
    unparsed: pl.DataFrame
    compliance: pl.DataFrame
    inputs: pl.DataFrame

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return iter((self.events, self.unparsed, self.compliance, self.inputs))


@dataclass
class _Pending:
    """One input between the two passes."""

    reader: Reader
    times: Times
    fmt: Format | None = None
    spool: list[Path | pl.DataFrame] = field(default_factory=list)
    serials: Serials = field(default_factory=Serials)
    covered: int = 0
    uncovered: int = 0


class _Stream:
    """The two passes over the inputs of one ingest; ``spool_dir`` None keeps every batch in memory."""

    def __init__(
        self,
        reg: Registry,
        spool_dir: Path | None,
        tz: str | dict[str, str] | None,
        year: int | None,
        device: str | None,
        guard: CardGuard,
        workers: int,
        pool: LazyPool | None,
        progress: Callback | None = None,
        formats: str | dict[str, str] | None = None,
    ):
        self.formats = formats  # the format the user named for an input (or for all)
        self.reg, self.spool_dir, self.tz, self.year, self.device, self.guard = reg, spool_dir, tz, year, device, guard
        self.workers, self.pool, self.progress = workers, pool, progress
        self.in_memory = 0  # bytes of parsed batches kept in memory; beyond _SPOOL_MEMORY they go to disk
        self.unparsed: list[pl.DataFrame] = []
        self.compliance: list[pl.DataFrame] = []
        self.anchors: list[datetime] = []  # dated times of inputs beyond these (a fleet's)

    def parse(self, n: int, path: str | Path, batch_bytes: int, chunk_lines: int, fast: bool) -> _Pending:
        """First pass over one input."""
        reader, named = _open(path, batch_bytes)
        item = _Pending(reader, Times(None, zone_for(self.tz, reader.path), self.year, reader.mtime))
        total = _file_size(path)
        with ThreadPoolExecutor(self.workers) as threads:
            queue: deque[Future[Parsed]] = deque()
            name = setting_for(self.formats, reader.path)
            given = self.reg.formats[name] if name else None
            for fmt, offset, lines, cuts in record_batches(item.reader, self.reg, given):
                if self.progress is not None:
                    self.progress(reader.path, reader.size, total, reader.lines)
                item.fmt = item.times.fmt = fmt
                queue.append(
                    threads.submit(
                        parse_batch,
                        item.reader.path,
                        lines,
                        offset,
                        cuts,
                        fmt,
                        self.reg,
                        self.guard,
                        self.pool,
                        chunk_lines,
                        fast,
                    )
                )
                while len(queue) > self.workers:
                    self._keep(n, item, queue.popleft().result())
            while queue:
                self._keep(n, item, queue.popleft().result())
        if self.progress is not None:
            self.progress(reader.path, reader.size, total, reader.lines)
        self.name_sightings(reader.path, named)
        return item

    def name_sightings(self, path: str, named: list[Sighting]) -> None:
        """The compliance rows of the card numbers masked in an input's file name."""
        self.compliance += _named(path, named)

    def _keep(self, n: int, item: _Pending, result: Parsed) -> None:
        events, unparsed, compliance = result
        self.unparsed.append(pl.DataFrame(unparsed, schema=UNPARSED_SCHEMA))
        self.compliance.append(pl.DataFrame(compliance, schema=COMPLIANCE_SCHEMA))
        item.covered += _spanned(events)
        item.uncovered += _spanned(self.unparsed[-1])
        events = item.times.take(events)
        item.serials.add(events)
        size, parts = events.estimated_size(), item.times.parts.get(len(item.spool))
        if parts is not None and self.in_memory + size + parts.estimated_size() <= _SPOOL_MEMORY:
            size += parts.estimated_size()  # its stamp parts kept for the second pass, within the same budget
        else:
            item.times.forget(len(item.spool))  # read again from the events in the second pass
        if self.spool_dir is None or self.in_memory + size <= _SPOOL_MEMORY:
            self.in_memory += size
            item.spool.append(events)
        else:
            item.spool.append(self.spool_dir / f"{n}-{len(item.spool)}.arrow")
            events.write_ipc(item.spool[-1], compression="lz4")

    def finish(
        self, item: _Pending, anchors: list[Any], sink: Callable[[Any], None], prepare: Callable[[pl.DataFrame], Any]
    ) -> dict[str, Any]:
        """Second pass over one input: times, devices and card ids, given to ``sink`` in order (each batch
        through ``prepare`` first, in the worker threads); its inputs row."""
        base = item.times.base(anchors)
        starts = item.times.starts(base)

        def one(k: int) -> tuple[Any, clock.TimeInfo | None, list[str]]:
            part = item.spool[k]
            if isinstance(part, Path):
                events = pl.read_ipc(part)
                part.unlink()
            else:
                events = part
            item.spool[k] = pl.DataFrame()
            events, info = item.times.resolve(k, events, starts)
            events = device(events, item.fmt, item.reader.path, self.device, item.serials)
            events = conform(card_ids(events, self.guard))
            return prepare(events), info, events["device"].unique(maintain_order=True).drop_nulls().to_list()

        stamped, devices = clock.Stamped(), []
        for events, info, seen in _in_order(one, len(item.spool), self.workers):
            stamped = stamped.plus(info) if info is not None else stamped
            devices += [d for d in seen if d not in devices]
            sink(events)
        info = stamped.info(item.times.zone, base)
        return input_row(item.reader, item.fmt, info, item.covered, item.uncovered, devices)

    def read(self, paths: list[str | Path], batch_bytes: int, chunk_lines: int, fast: bool) -> list[_Pending]:
        """The first pass over every input."""
        try:
            return [self.parse(n, path, batch_bytes, chunk_lines, fast) for n, path in enumerate(paths)]
        finally:
            if self.pool is not None:
                self.pool.shutdown()

    def write(
        self,
        pending: list[_Pending],
        sink: Callable[[Any], None],
        prepare: Callable[[pl.DataFrame], Any] = lambda events: events,
    ) -> Loaded:
        """The second pass: the events go to ``sink`` (each batch through ``prepare``); the other tables are
        returned."""
        times = [item.times for item in pending]
        rows = [
            self.finish(item, anchors_for(n, times) + self.anchors, sink, prepare) for n, item in enumerate(pending)
        ]
        return Loaded(
            events=pl.DataFrame(schema=EVENTS_SCHEMA),
            unparsed=pl.concat(self.unparsed) if self.unparsed else pl.DataFrame(schema=UNPARSED_SCHEMA),
            compliance=pl.concat(self.compliance) if self.compliance else pl.DataFrame(schema=COMPLIANCE_SCHEMA),
            inputs=pl.DataFrame(rows, schema=INPUTS_SCHEMA),
        )


def _in_order(work: Callable[[int], Any], n: int, workers: int) -> Iterator[Any]:
    """``work(0)``, ..., ``work(n - 1)``, in order, ``workers`` at a time in threads, beside the caller's use of
    each result (one alone, a small input's single batch, in this thread: not worth a thread's start)."""
    if n == 1:
        yield work(0)
        return
    with ThreadPoolExecutor(workers) as threads:
        queue: deque[Future[Any]] = deque()
        for k in range(n):
            queue.append(threads.submit(work, k))
            while queue and (len(queue) > workers or k == n - 1):
                yield queue.popleft().result()


def load(
    paths: str | Path | Sequence[str | Path],
    *,
    year: int | None = None,
    tz: str | dict[str, str] | None = None,
    device: str | None = None,
    card_key: bytes | str | None = None,
    dialects: Dialects | Sequence[str | Path] | None = None,
    workers: int = 1,
    chunk_lines: int = 200_000,
    fast: bool = True,
    batch_bytes: int = 16 << 20,
    progress: Callback | None = None,
    formats: str | dict[str, str] | None = None,
) -> Loaded:
    """Ingest log files into the events, unparsed, compliance and inputs tables.

    ``tz`` is one zone for every input or {path: zone} ("*" for the rest); ``year`` anchors
    year-less stamps when no input holds a dated one; ``device`` names a device whose log
    does not say; ``card_key`` keys ``card_id`` (else $FORENSICS_CARD_KEY, else random).
    ``workers`` batches of a file (about ``batch_bytes`` each) are parsed at once in threads;
    in a format without a fast path, batches longer than ``chunk_lines`` are cut into chunks
    for ``workers`` processes (spawned: the caller's main module must be importable, as for
    any multiprocessing). ``fast=False`` parses every line with Lark (same tables).
    ``progress`` is called after each batch read (``forensics.progress.Callback``).
    ``dialects`` are dialect files (paths) read on top of the installed ones (a vendor's
    phrasing: docs/dialects.md), or a ``Dialects`` object; None: the files
    $FORENSICS_DIALECTS names (``os.pathsep``-separated), if any. ``formats`` names the format of
    every input or {path: format} ("*" for the rest) instead of detecting it: the only way to
    read a format detection never chooses (``logcat_raw``). Raises InputError for a file that
    cannot be read, ClockError for a bad zone, DialectError for a bad dialect file and
    FormatError for a format name no folder declares.
    """
    paths = _checked_inputs(paths, tz, year)
    reg = _registry(dialects)
    _check_formats(formats, reg)
    pool = LazyPool(workers) if workers > 1 else None
    stream = _Stream(reg, None, tz, year, device, CardGuard(card_key), workers, pool, progress, formats)
    frames: list[pl.DataFrame] = []
    loaded = stream.write(stream.read(paths, batch_bytes, chunk_lines, fast), frames.append)
    loaded.events = pl.concat(frames) if frames else pl.DataFrame(schema=EVENTS_SCHEMA)
    return loaded


def write_parquet(
    paths: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    year: int | None = None,
    tz: str | dict[str, str] | None = None,
    device: str | None = None,
    card_key: bytes | str | None = None,
    dialects: Dialects | Sequence[str | Path] | None = None,
    batch_bytes: int = 8 << 20,
    fast: bool = True,
    workers: int = 1,
    progress: Callback | None = None,
    anchors: Sequence[datetime] = (),
    formats: str | dict[str, str] | None = None,
    compression: str = "snappy",
) -> Loaded:
    """Ingest log files straight into a Parquet events file, in batches of about ``batch_bytes``.

    Memory follows the batch size, not the input size (gzip inputs stream too). The events in
    ``output`` are the rows ``load`` would give, in the same order; ``output`` appears only
    when every row is written (a failed or interrupted run leaves an earlier file as it was).
    An ``output`` that is one of the inputs raises OutputError before any work.
    The returned ``Loaded`` holds the unparsed, compliance and inputs tables and an empty
    ``events``. ``workers`` batches are worked on at once (threads: the column work runs
    outside the GIL). Parsed batches wait for the second pass in memory up to 128 MB, then in
    compressed Arrow IPC files in a temporary folder. ``dialects`` as for ``load``. ``anchors``: times
    of dated logs beyond ``paths`` (the other inputs of a fleet, ``forensics.fleet``) that year-less
    stamps may take their year from, as from a dated input among ``paths``. ``formats`` as for ``load``.
    ``compression``: the file's Parquet codec, by pyarrow's name (the analysis's temporary file of a big input
    is written with ``"lz4"``, which Polars reads back faster than ``"snappy"`` at about the same size).
    """
    paths = _checked_inputs(paths, tz, year)
    reg = _registry(dialects)
    _check_formats(formats, reg)
    check_outputs(paths, [output])
    pool = LazyPool(workers) if workers > 1 else None  # for formats without a fast path
    with scratch_folder("forensics-") as spool_dir:
        stream = _Stream(reg, spool_dir, tz, year, device, CardGuard(card_key), workers, pool, progress, formats)
        stream.anchors = list(anchors)
        return _write_events(stream, stream.read(paths, batch_bytes, _STREAM_CHUNK, fast), output, compression)


def _write_events(stream: _Stream, pending: list[_Pending], output: str | Path, compression: str = "snappy") -> Loaded:
    """The second pass of ``stream`` into the Parquet file ``output`` (its codec ``compression``)."""
    with _parquet_sink(output, compression) as sink:
        # each batch made Arrow in the worker threads: the writer, in this one, is the second pass's longest step
        return stream.write(pending, sink, lambda events: events.to_arrow())


@contextmanager
def _parquet_sink(output: str | Path, compression: str = "snappy") -> Iterator[Callable[[Any], None]]:
    """A writer of Arrow tables of events into the Parquet file ``output``, which appears only once it is closed
    (a closed Parquet writer leaves a valid file that looks complete)."""
    import pyarrow.parquet as pq

    arrow_schema = pl.DataFrame(schema=EVENTS_SCHEMA).to_arrow().schema
    dictionary = [name for name in EVENTS_SCHEMA if name not in _ROW_UNIQUE]
    with (
        written_aside(output) as partial,
        pq.ParquetWriter(str(partial), arrow_schema, compression=compression, use_dictionary=dictionary) as out,
    ):
        yield out.write_table


#: Event columns whose values nearly always differ from row to row: Parquet dictionary encoding is not tried on
#: them (tried, a dictionary grows past its page limit and is dropped, at a cost: a tenth of the writer's time on
#: 1M syslog lines, and the file a tenth larger).
_ROW_UNIQUE = frozenset({"line", "line_end", "ts", "ts_raw", "message", "text"})


#: What one input of ``write_many`` is: its path, its output and the anchors of its year-less stamps.
Job = tuple[str | Path, str | Path, Sequence[datetime]]
#: What ``write_many`` gives for an input that cannot be ingested (the others go on).
FAILURES = (ForensicsError, OSError, ValueError, pl.exceptions.PolarsError)


@dataclass
class _Small:
    """An input of ``write_many`` read whole (its lines, one batch), waiting to be parsed with others of
    its format."""

    n: int
    stream: _Stream
    item: _Pending
    lines: pl.Series
    named: list[Sighting]
    output: str | Path

    def size(self) -> int:
        return self.lines.estimated_size()


def write_many(
    jobs: Sequence[Job],
    *,
    year: int | None = None,
    tz: str | dict[str, str] | None = None,
    card_key: bytes | str | None = None,
    dialects: Dialects | Sequence[str | Path] | None = None,
    batch_bytes: int = 8 << 20,
    fast: bool = True,
) -> list[Loaded | Exception]:
    """``write_parquet(path, output, anchors=anchors, ...)`` for each (path, output, anchors) of ``jobs``,
    the small inputs parsed together: one stream for many files.

    Each output holds the rows that call would write, and each result is what it would return, or the
    exception it would raise (one of ``FAILURES``; the other inputs go on). An input of less than
    ``batch_bytes`` whose format has a line fast path waits for others of its format, up to
    ``batch_bytes`` of lines, and their lines go through the fast path at once (a blank line between
    two inputs: no record spans them; an input's batches are one there); the rest of each input's lines
    take Lark as in ``write_parquet``. Other inputs are parsed batch by batch as there. Memory is bounded by
    ``batch_bytes`` (one input being read, one group waiting), not by the number of inputs.
    """
    clock.check_year(year)
    reg = _registry(dialects)
    guard = CardGuard(card_key)
    results: list[Loaded | Exception | None] = [None] * len(jobs)
    waiting: dict[str, list[_Small]] = {}
    with scratch_folder("forensics-") as spool_dir:
        for n, (path, output, anchors) in enumerate(jobs):
            try:
                small = _read_alone(n, path, output, anchors, reg, guard, spool_dir, batch_bytes, fast, tz, year)
            except FAILURES as exc:
                results[n] = exc
                continue
            if isinstance(small, Loaded):
                results[n] = small
                continue
            name = small.item.fmt.name  # type: ignore[union-attr]
            waiting.setdefault(name, []).append(small)
            if sum(s.size() for s in waiting[name]) >= batch_bytes:
                _parse_together(waiting.pop(name), reg, guard, results)
        for group in waiting.values():
            _parse_together(group, reg, guard, results)
    return [r if r is not None else RuntimeError("input not ingested") for r in results]


def _read_alone(
    n: int,
    path: str | Path,
    output: str | Path,
    anchors: Sequence[datetime],
    reg: Registry,
    guard: CardGuard,
    spool_dir: Path,
    batch_bytes: int,
    fast: bool,
    tz: str | dict[str, str] | None,
    year: int | None,
) -> Loaded | _Small:
    """Input ``n`` of ``write_many`` ingested on its own (its ``Loaded``), or its lines when it waits
    for others (``_Small``)."""
    _checked_inputs(path, tz, None)
    check_outputs([path], [output])
    stream = _Stream(reg, spool_dir, tz, year, None, guard, 1, None)
    stream.anchors = list(anchors)
    reader, named = _open(path, batch_bytes)
    item = _Pending(reader, Times(None, zone_for(tz, reader.path), year, reader.mtime))
    batches = record_batches(reader, reg)
    read: list[tuple[Format | None, int, pl.Series, dict[int, str]]] = []
    size = 0
    for batch in batches:
        read.append(batch)
        fmt, _, lines, cuts = batch
        size += lines.estimated_size()
        if cuts or size >= batch_bytes or not fast or reg.fast_format(fmt) is None:
            break
    else:
        if read:
            # its batches as one: they are cut where a record starts, so their lines together give the same
            # rows, and a small input is finished and written once, not once per batch (its last batch is
            # usually its last record alone)
            item.fmt = item.times.fmt = read[0][0]
            lines = pl.concat([lines for _, _, lines, _ in read]) if len(read) > 1 else read[0][2]
            return _Small(n, stream, item, lines, named, output)
    for fmt, offset, lines, cuts in itertools.chain(read, batches):
        item.fmt = item.times.fmt = fmt
        stream._keep(n, item, parse_batch(reader.path, lines, offset, cuts, fmt, reg, guard, None, _STREAM_CHUNK, fast))
    stream.name_sightings(reader.path, named)
    return _write_events(stream, [item], output)


def _parse_together(group: list[_Small], reg: Registry, guard: CardGuard, results: list[Any]) -> None:
    """The inputs of ``group`` (one format) through the fast path at once, each then finished and
    written as ``write_parquet`` does; their results into ``results``."""
    fmt = group[0].item.fmt
    assert fmt is not None
    pieces = [(s.item.reader.path, s.lines) for s in group]
    try:
        parsed: list[Parsed | None] = list(_fast_together(pieces, fmt, reg, guard))
    except FAILURES:  # one of them fails: each on its own, so that the failure lands on its input
        parsed = [None] * len(pieces)
    if all(one is not None for one in parsed) and len({s.item.times.zone for s in group}) == 1:
        try:
            finished = _finish_together(group, parsed, guard)  # type: ignore[arg-type]
        except FAILURES:  # each on its own below, so that the failure lands on its input
            finished = None
        if finished is not None:
            for small, (events, loaded) in zip(group, finished, strict=True):
                try:
                    with _parquet_sink(small.output) as sink:
                        sink(events.to_arrow())
                    results[small.n] = loaded
                except FAILURES as exc:
                    results[small.n] = exc
            return
    for small, one in zip(group, parsed, strict=True):
        path = small.item.reader.path
        try:
            if one is None:
                one = parse_batch(path, small.lines, 0, {}, fmt, reg, guard, None, _STREAM_CHUNK, True)
            small.stream._keep(small.n, small.item, one)
            small.stream.name_sightings(path, small.named)
            results[small.n] = _write_events(small.stream, [small.item], small.output)
        except FAILURES as exc:
            results[small.n] = exc


def _spanned(rows: pl.DataFrame) -> int:
    """Lines the ``rows`` (events or unparsed lines, with ``line`` and ``line_end``) span in all."""
    return int((rows["line_end"] - rows["line"] + 1).sum()) if rows.height else 0


def _named(path: str, named: list[Sighting]) -> list[pl.DataFrame]:
    """The compliance rows of the card numbers masked in an input's file name (none: no frame)."""
    if not named:
        return []
    compliance: dict[str, list[Any]] = {n: [] for n in COMPLIANCE_SCHEMA.names()}
    add_sightings(compliance, path, None, named)
    return [pl.DataFrame(compliance, schema=COMPLIANCE_SCHEMA)]


def _finish_together(group: list[_Small], parsed: list[Parsed], guard: CardGuard) -> list[tuple[pl.DataFrame, Loaded]]:
    """Each input of ``group`` (one format and zone, its rows ``parsed``) finished as ``_keep`` then
    ``_Stream.write`` would finish it alone: its events and its tables. The stamps, devices and card ids of all
    their rows are worked out at once."""
    together = Together(
        pl.concat([events.with_columns(_n=pl.lit(k, pl.Int32)) for k, (events, _, _) in enumerate(parsed)]),
        [s.item.times for s in group],
        [s.item.reader.path for s in group],
        [s.stream.anchors for s in group],
    )
    stamped = together.resolve()
    together.devices()
    events = card_ids(together.events, guard)
    parts = conform(events).with_columns(_n=events["_n"]).partition_by("_n", as_dict=True, include_key=False)
    seen = events.select("_n", "device").drop_nulls("device").unique(maintain_order=True)
    devices: dict[int, list[str]] = {}
    for k, name in seen.iter_rows():
        devices.setdefault(k, []).append(name)
    out = []
    for k, (small, (mine, unparsed, compliance)) in enumerate(zip(group, parsed, strict=True)):
        lines = pl.DataFrame(unparsed, schema=UNPARSED_SCHEMA)
        found = pl.DataFrame(compliance, schema=COMPLIANCE_SCHEMA)
        info = stamped[k].info(small.item.times.zone, together.bases[k])
        row = input_row(small.item.reader, small.item.fmt, info, _spanned(mine), _spanned(lines), devices.get(k, []))
        loaded = Loaded(
            events=pl.DataFrame(schema=EVENTS_SCHEMA),
            unparsed=lines,
            compliance=pl.concat([found, *_named(small.item.reader.path, small.named)]),
            inputs=pl.DataFrame([row], schema=INPUTS_SCHEMA),
        )
        out.append((parts.get((k,), pl.DataFrame(schema=EVENTS_SCHEMA)), loaded))
    return out


def _fast_together(pieces: list[tuple[str, pl.Series]], fmt: Format, reg: Registry, guard: CardGuard) -> list[Parsed]:
    """What ``parse_batch`` gives for each (path, lines) of ``pieces`` (whole inputs without a cut line),
    from one fast-path pass over all their lines."""
    fast_format = reg.fast_format(fmt)
    assert fast_format is not None
    wiped = [dump_rows(lines, fmt, guard) for _, lines in pieces]
    pieces = [(path, lines) for (path, _), (lines, _) in zip(pieces, wiped, strict=True)]
    starts = list(itertools.accumulate((lines.len() + 1 for _, lines in pieces[:-1]), initial=0))
    blank = pl.Series([""], dtype=pl.String)
    done, rest = fastpath.parse(
        pl.concat([piece for _, lines in pieces for piece in (lines, blank)]),
        fast_format,
        reg.fast_dialects,
        *card_screens(reg, fmt, guard),
    )
    bounds = pl.Series(starts, dtype=pl.Int64)
    owner = bounds.search_sorted(done["line"] - 1, side="right").cast(pl.Int64) - 1
    shift = bounds.gather(owner)
    done = done.with_columns(
        _n=owner,
        path=owner.replace_strict(dict(enumerate(p for p, _ in pieces)), return_dtype=pl.String),
        format=pl.lit(fmt.name),
        role=pl.lit(fmt.role),
        line=pl.col("line") - shift,
        line_end=pl.col("line_end") - shift,
    ).sort("_n", "line")
    parts = conform(done).with_columns(_n=done["_n"]).partition_by("_n", as_dict=True, include_key=False)
    left: dict[int, list[int]] = {}
    for i in rest.to_list():  # the lines the fast path left, by piece (a separator is no piece's line)
        k = bisect.bisect_right(starts, i) - 1
        if i - starts[k] < pieces[k][1].len():
            left.setdefault(k, []).append(i - starts[k])
    out: list[Parsed] = []
    for k, (path, lines) in enumerate(pieces):
        mine = parts.get((k,), pl.DataFrame(schema=EVENTS_SCHEMA))
        if k not in left:
            none: Parsed = (mine, {n: [] for n in UNPARSED_SCHEMA.names()}, {n: [] for n in COMPLIANCE_SCHEMA.names()})
            out.append(with_sightings(none, path, 0, wiped[k][1]))
            continue
        numbered = zip([i + 1 for i in left[k]], lines.gather(left[k]).to_list(), strict=True)
        events, unparsed, compliance = parse_lines(path, numbered, fmt, reg, guard)
        out.append(with_sightings((pl.concat([mine, events]).sort("line"), unparsed, compliance), path, 0, wiped[k][1]))
    return out


def _registry(dialects: Dialects | Sequence[str | Path] | None) -> Registry:
    """The format registry with these dialects (see ``load``); worker processes rebuild it from
    the same sources."""
    if isinstance(dialects, Dialects):
        return registry_for(dialects.sources)
    if isinstance(dialects, (str, Path)):
        dialects = [dialects]
    return registry_for(tuple(dialect_sources(dialects)))


def _check_formats(formats: str | dict[str, str] | None, reg: Registry) -> None:
    """FormatError for a format name (``load``'s ``formats``) that no format folder declares."""
    for name in formats.values() if isinstance(formats, dict) else [formats] if formats else []:
        if name not in reg.formats:
            raise FormatError(f"unknown format {name!r} (formats: {', '.join(reg.formats)})")


def _file_size(path: str | Path) -> int:
    """Bytes in ``path`` as stored (0 for a pipe or a file that cannot be measured)."""
    try:
        stat = os.stat(path)
    except OSError:
        return 0
    return stat.st_size if S_ISREG(stat.st_mode) else 0


def _open(path: str | Path, batch_bytes: int) -> tuple[Reader, list[Sighting]]:
    """A reader of ``path`` whose recorded path (every table, message and report shows it) has
    any card number in it masked, and what was masked."""
    reader = Reader(path, batch_bytes)
    named: list[Sighting] = []
    reader.path = mask_name(reader.path, named)
    return reader, [Sighting(s.kind, "file name", s.masked) for s in named]


def _checked_inputs(
    paths: str | Path | Sequence[str | Path], tz: str | dict[str, str] | None, year: int | None
) -> list[str | Path]:
    """The inputs as a list, once every zone in ``tz`` is known and ``year`` is plausible
    (ClockError otherwise)."""
    clock.check_year(year)
    for zone in tz.values() if isinstance(tz, dict) else [tz] if tz else []:
        clock.check_zone(zone)
    return [paths] if isinstance(paths, (str, Path)) else list(paths)
