"""Ingest: raw log files in, one typed events table out, every line accounted for.

``load(paths)`` reads each file in batches of whole records, detects its format
(grammars/formats.toml), frames records (one line; a jPOS block; syslog continuation lines; a
logcat crash trace), masks card data, parses each record with its Lark grammar and the
dialects, and resolves timestamps. Lines of a line format first try the fast path (the same
grammar compiled to one regular expression over the whole batch, ``fastpath``); the rest take
Lark. ``write_parquet`` does the same into a Parquet file with memory bounded by the batch.
Every input line ends either in ``events`` (``line``..``line_end``) or in ``unparsed`` with a
reason.
"""

from __future__ import annotations

import functools
import multiprocessing
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from forensics.events import (
    COMPLIANCE_SCHEMA,
    EVENTS_SCHEMA,
    INPUTS_SCHEMA,
    UNPARSED_SCHEMA,
    conform,
)
from forensics.ingest import clock, fastpath
from forensics.ingest.cards import CardGuard, Sighting, mask_shapes
from forensics.ingest.dialect import Dialects
from forensics.ingest.fastpath import CONTINUATION_STARTS, CRASH_TAGS
from forensics.ingest.formats import DETECT_HEAD, Format, RecordError, Registry
from forensics.ingest.read import InputError, Reader
from forensics.outputs import check_outputs, written_aside

__all__ = ["InputError", "Loaded", "load", "registry", "write_parquet"]

_BATCH = 50_000
_SPOOL_MEMORY = 128 << 20
_STREAM_CHUNK = 50_000  # lines a worker process takes at once (formats without a fast path)
_CRASH_STARTS = ("FATAL EXCEPTION", "*** ***")


@functools.cache
def registry() -> Registry:
    """The format registry with the installed dialects (loaded and self-checked once)."""
    return Registry()


@dataclass
class Loaded:
    """What ``load`` returns: the four tables of an ingest."""

    events: pl.DataFrame
    unparsed: pl.DataFrame
    compliance: pl.DataFrame
    inputs: pl.DataFrame

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return iter((self.events, self.unparsed, self.compliance, self.inputs))


class _Columns:
    """Event columns accumulated in batches of plain lists, flushed to Polars frames."""

    def __init__(self, path: str, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self.names = [n for n in EVENTS_SCHEMA.names() if n not in ("path", "format", "ts")]
        self.lists: dict[str, list[Any]] = {n: [] for n in self.names}
        self.frames: list[pl.DataFrame] = []

    def __len__(self) -> int:
        return len(self.lists["line"])

    def append(self, record: dict[str, Any]) -> None:
        if len(self) >= _BATCH:
            self._flush(keep_last=True)
        for name in self.names:
            self.lists[name].append(record.get(name))

    def last(self, name: str) -> Any:
        return self.lists[name][-1] if self.lists[name] else None

    def extend_last(self, line: int, text: str, message: str) -> None:
        self.lists["line_end"][-1] = line
        self.lists["text"][-1] += "\n" + text
        self.lists["message"][-1] = (self.lists["message"][-1] or "") + "\n" + message

    def _flush(self, keep_last: bool = False) -> None:
        cut = len(self) - 1 if keep_last else len(self)
        if cut <= 0:
            return
        schema = {n: EVENTS_SCHEMA[n] for n in self.names}
        self.frames.append(pl.DataFrame({n: v[:cut] for n, v in self.lists.items()}, schema=schema))
        self.lists = {n: v[cut:] for n, v in self.lists.items()}

    def frame(self) -> pl.DataFrame:
        self._flush()
        body = pl.concat(self.frames) if self.frames else pl.DataFrame(schema={n: EVENTS_SCHEMA[n] for n in self.names})
        return conform(body.with_columns(path=pl.lit(self.path), format=pl.lit(self.fmt)))


def _frames(
    numbered: Iterable[tuple[int, str]], fmt: Format | None, reg: Registry, cuts: dict[int, str]
) -> Iterator[tuple[int, int, str, str | None]]:
    """(first line, last line, text, reason-if-unparsed) for each record of (number, line) pairs;
    ``cuts`` gives the reason of each line cut while it was read (never part of a record)."""
    tried = ", ".join(reg.formats)
    block: list[str] = []
    start = i = 0
    for i, line in numbered:
        if i in cuts:
            if block:
                yield start, i - 1, "\n".join(block), None
                block = []
            yield i, i, line, cuts[i]
        elif block:
            block.append(line)
            if "</log>" in line:
                yield start, i, "\n".join(block), None
                block = []
            continue
        elif not line.strip():
            yield i, i, line, "blank line"
        elif fmt is None:
            yield i, i, line, f"no known format (tried {tried})"
        elif fmt.framing == "block":
            at = reg.block_start(line)
            if at < 0:
                yield i, i, line, f"outside a {fmt.name} block"
                continue
            block, start = [line], i
            if "</log>" in line[at:]:
                yield i, i, line, None
                block = []
        else:
            yield i, i, line, None
    if block:
        yield start, i, "\n".join(block), None


def _parse_lines(
    path: str,
    numbered: Iterable[tuple[int, str]],
    fmt: Format | None,
    reg: Registry,
    guard: CardGuard,
    cuts: dict[int, str] | None = None,
) -> tuple[pl.DataFrame, dict[str, list[Any]], dict[str, list[Any]]]:
    """Events, unparsed and compliance columns of (line number, line) pairs, parsed one by one."""
    if fmt is not None and fmt.card_contexts:
        guard = guard.with_contexts(fmt.card_contexts)
    cols = _Columns(path, fmt.name if fmt else "unknown")
    unparsed: dict[str, list[Any]] = {n: [] for n in UNPARSED_SCHEMA.names()}
    compliance: dict[str, list[Any]] = {n: [] for n in COMPLIANCE_SCHEMA.names()}
    fmt_name = fmt.name if fmt else None
    for line, line_end, text, reason in _frames(numbered, fmt, reg, cuts or {}):
        text, sightings = guard.protect(text)
        _add_sightings(compliance, path, line, sightings)
        record = None
        if reason is None and fmt is not None:
            try:
                record = reg.record(fmt, text)
            except RecordError as exc:
                reason = str(exc)
        if record is None:
            if fmt is not None and fmt.continuation and _continues(cols, line, text):
                cols.extend_last(line, text, text.strip())
                continue
            for key, value in (
                ("path", path),
                ("line", line),
                ("line_end", line_end),
                ("format", fmt_name),
                ("text", text),
                ("reason", reason),
            ):
                unparsed[key].append(value)
            continue
        if _crash_continues(cols, line, record):
            cols.extend_last(line, text, record.get("message") or "")
            continue
        record.update(line=line, line_end=line_end, text=text)
        cols.append(record)
    return cols.frame(), unparsed, compliance


def _parse_chunk(
    path: str, lines: list[str], offset: int, fmt_name: str | None, key: bytes, cuts: dict[int, str]
) -> tuple[pl.DataFrame, dict[str, list[Any]], dict[str, list[Any]]]:
    """Worker-process entry: parse one chunk with the installed formats and dialects."""
    reg = registry()
    return _parse_lines(
        path, enumerate(lines, start=offset + 1), reg.formats.get(fmt_name or ""), reg, CardGuard(key), cuts
    )


def _safe_start(lines: list[str], i: int, fmt: Format | None, reg: Registry) -> bool:
    """True when a record starts at ``lines[i]`` whatever came before (a cut may go there)."""
    line = lines[i]
    if fmt is not None and fmt.framing == "block":
        return reg.block_start(line) >= 0 and i > 0 and "</log>" in lines[i - 1]
    return bool(line) and not line.startswith(CONTINUATION_STARTS) and not any(t in line for t in CRASH_TAGS)


def _chunk_starts(lines: list[str], fmt: Format, reg: Registry, size: int) -> list[int]:
    """Indexes where a chunk may start: a record's own first line, never inside a multi-line record."""
    starts = [0]
    i = size
    while i < len(lines):
        if _safe_start(lines, i, fmt, reg):
            starts.append(i)
            i += size
        else:
            i += 1
    return starts


def _record_batches(reader: Reader, reg: Registry) -> Iterator[tuple[Format | None, int, pl.Series, dict[int, str]]]:
    """(format, lines before, lines, cut lines' reasons) batches of whole records.

    A multi-line record is never split, unless no record starts in four batches' worth of
    lines: then they go on as they are (memory stays bounded; the pieces are accounted for).
    """
    fmt: Format | None = None
    held: pl.Series | None = None
    offset = 0
    first = True
    for lines in reader.batches():
        lines = pl.concat([held, lines]) if held is not None and held.len() else lines
        if first:
            fmt, first = reg.detect(lines.head(DETECT_HEAD).to_list()), False
        cut = _last_safe_start(lines, fmt, reg)
        if cut <= 0:
            if lines.estimated_size() < 4 * reader.batch_bytes:
                held = lines
                continue
            cut = lines.len()
        held = lines.slice(cut)
        yield fmt, offset, lines.slice(0, cut), _cuts_in(reader.cuts, offset, cut)
        offset += cut
    if held is not None and held.len():
        yield fmt, offset, held, _cuts_in(reader.cuts, offset, held.len())


def _cuts_in(cuts: dict[int, str], offset: int, count: int) -> dict[int, str]:
    """The cut lines among lines ``offset + 1`` to ``offset + count``."""
    return {line: reason for line, reason in cuts.items() if offset < line <= offset + count}


def _last_safe_start(lines: pl.Series, fmt: Format | None, reg: Registry) -> int:
    """Index of the last line (but the first) where a record starts whatever came before; 0 if none."""
    window = 64
    while True:
        start = max(0, lines.len() - window)
        tail = lines.slice(start).to_list()
        for j in range(len(tail) - 1, 0, -1):
            if _safe_start(tail, j, fmt, reg):
                return start + j
        if start == 0:
            return 0
        window *= 8


Parsed = tuple[pl.DataFrame, dict[str, list[Any]], dict[str, list[Any]]]


def _parse_batch(
    path: str,
    lines: pl.Series,
    offset: int,
    cuts: dict[int, str],
    fmt: Format | None,
    reg: Registry,
    guard: CardGuard,
    pool: _LazyPool | None,
    chunk_lines: int,
    fast: bool,
) -> Parsed:
    """Events, unparsed and compliance of one batch of whole records (line numbers after ``offset``;
    ``cuts``: the reasons of its lines cut while read, which the fast path leaves to Lark's)."""
    fast = fast and not cuts
    fast_format = reg.fast_format(fmt) if fast else None
    fast_blocks = reg.fast_blocks(fmt) if fast else None
    if (fast_format is not None or fast_blocks is not None) and fmt is not None:
        if fast_format is not None:
            done, rest = fastpath.parse(lines, fast_format, reg.fast_dialects, reg.card_screen)
        else:
            done, rest = fast_blocks.parse(lines, reg.card_screen)  # type: ignore[union-attr]
            done = done.drop("_i")
        numbered = zip((rest + offset + 1).to_list(), lines.gather(rest).to_list(), strict=False)
        events, unparsed, compliance = _parse_lines(path, numbered, fmt, reg, guard)
        done = conform(
            done.with_columns(
                path=pl.lit(path),
                format=pl.lit(fmt.name),
                line=pl.col("line") + offset,
                line_end=pl.col("line_end") + offset,
            )
        )
        return pl.concat([done, events]).sort("line"), unparsed, compliance
    text = lines.to_list()
    if pool is not None and fmt is not None and len(text) > chunk_lines:
        starts = _chunk_starts(text, fmt, reg, chunk_lines)
        bounds = list(zip(starts, [*starts[1:], len(text)], strict=False))
        results = pool.map([(path, text[a:b], offset + a, fmt.name, guard.key, cuts) for a, b in bounds])
        if results is not None:
            return _merge(results)
    return _parse_lines(path, enumerate(text, start=offset + 1), fmt, reg, guard, cuts)


def _merge(results: list[Parsed]) -> Parsed:
    if len(results) == 1:
        return results[0]
    merged = [{k: [v for r in results for v in r[i][k]] for k in results[0][i]} for i in (1, 2)]
    return pl.concat([r[0] for r in results]), merged[0], merged[1]


class _LazyPool:
    """Worker processes, spawned on first use (formats with a fast path never need them).

    If they cannot start (a main module that cannot be re-imported, as with stdin scripts),
    ``map`` says so once and the caller parses in its own process from then on.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self.broken = False
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # batches call from several threads

    def map(self, jobs: list[tuple[Any, ...]]) -> list[Parsed] | None:
        """``_parse_chunk(*job)`` for each job, in order; None when the pool is broken."""
        if self.broken:
            return None
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            return [future.result() for future in [self._pool.submit(_parse_chunk, *job) for job in jobs]]
        except BrokenProcessPool:
            self.broken = True
            return None

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _parse_input(
    path: str | Path,
    reg: Registry,
    guard: CardGuard,
    pool: _LazyPool | None,
    chunk_lines: int,
    fast: bool,
    batch_bytes: int = 16 << 20,
    threads: int = 1,
) -> tuple[pl.DataFrame, dict[str, list[Any]], dict[str, list[Any]], Format | None, Reader]:
    """One input parsed whole, ``threads`` batches at a time (the fast path's column work
    runs outside the GIL; slow formats use ``pool``'s processes); no more raw lines are read
    ahead than the threads have batches."""
    reader, named = _open(path, batch_bytes)
    fmt: Format | None = None
    results: list[Parsed] = []
    with ThreadPoolExecutor(threads) as executor:
        jobs: deque[Future[Parsed]] = deque()
        for fmt, offset, lines, cuts in _record_batches(reader, reg):
            jobs.append(
                executor.submit(
                    _parse_batch, reader.path, lines, offset, cuts, fmt, reg, guard, pool, chunk_lines, fast
                )
            )
            while len(jobs) > threads:
                results.append(jobs.popleft().result())
        results += [job.result() for job in jobs]
    if not results:
        results.append(_parse_lines(reader.path, [], None, reg, guard))
    events, unparsed, compliance = _merge(results)
    _add_sightings(compliance, reader.path, None, named)
    return events, unparsed, compliance, fmt, reader


def _open(path: str | Path, batch_bytes: int) -> tuple[Reader, list[Sighting]]:
    """A reader of ``path`` whose recorded path (every table, message and report shows it) has
    any card number in it masked, and what was masked."""
    reader = Reader(path, batch_bytes)
    named: list[Sighting] = []
    reader.path = mask_shapes(reader.path, named)
    return reader, [Sighting(s.kind, "file name", s.masked) for s in named]


def _add_sightings(compliance: dict[str, list[Any]], path: str, line: int | None, sightings: list[Sighting]) -> None:
    """Compliance rows of ``sightings`` at ``path``:``line`` (None: the file name, no line)."""
    for s in sightings:
        for key, value in (("kind", s.kind), ("path", path), ("line", line), ("field", s.field), ("masked", s.masked)):
            compliance[key].append(value)


def _continues(cols: _Columns, line: int, text: str) -> bool:
    return len(cols) > 0 and cols.last("line_end") == line - 1 and text.startswith(CONTINUATION_STARTS)


def _crash_continues(cols: _Columns, line: int, record: dict[str, Any]) -> bool:
    tag = record.get("tag")
    if tag not in CRASH_TAGS or len(cols) == 0 or cols.last("line_end") != line - 1:
        return False
    if (record.get("message") or "").startswith(_CRASH_STARTS):
        return False
    return (cols.last("tag"), cols.last("pid"), cols.last("thread")) == (tag, record.get("pid"), record.get("thread"))


@dataclass
class _Serials:
    """TMS serials seen in an input: the first per syslog host and the first overall."""

    by_host: dict[str | None, str]
    first: str | None = None

    def add(self, events: pl.DataFrame) -> None:
        serials = events.filter(pl.col("kind") == "tms.device", pl.col("serial").is_not_null())
        for host, serial in zip(serials["host"].to_list(), serials["serial"].to_list(), strict=False):
            self.by_host.setdefault(host, serial)
            self.first = self.first or serial


def _device(events: pl.DataFrame, fmt: Format | None, path: str, device: str | None, serials: _Serials) -> pl.DataFrame:
    """device: TMS serial (per syslog host), else syslog HOST, else --device, else file stem."""
    fallback = mask_shapes(device) if device else Path(path).name.split(".")[0]  # the path is masked already
    if fmt is not None and fmt.device_from_host:
        mapping = {h: v for h, v in serials.by_host.items() if h is not None}
        expr = pl.coalesce(
            pl.col("host").replace_strict(mapping, default=None, return_dtype=pl.String),
            pl.col("host"),
            pl.lit(fallback),
        )
    else:
        expr = pl.lit(serials.first or fallback, pl.String)
    return events.with_columns(device=expr)


def _card_ids(events: pl.DataFrame, guard: CardGuard) -> pl.DataFrame:
    cards = events["card"].drop_nulls().unique()
    ids = {card: guard.card_id(card) for card in cards.to_list()}
    return events.with_columns(card_id=pl.col("card").replace_strict(ids, default=None, return_dtype=pl.String))


def _checked_inputs(
    paths: str | Path | Sequence[str | Path], tz: str | dict[str, str] | None, year: int | None
) -> list[str | Path]:
    """The inputs as a list, once every zone in ``tz`` is known and ``year`` is plausible
    (ClockError otherwise)."""
    clock.check_year(year)
    for zone in tz.values() if isinstance(tz, dict) else [tz] if tz else []:
        clock.check_zone(zone)
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def _zone_for(tz: str | dict[str, str] | None, path: str) -> str | None:
    if isinstance(tz, dict):  # ``path`` is as recorded (card numbers masked): so are the keys
        zones = {mask_shapes(k): v for k, v in tz.items()}
        return zones.get(path) or zones.get(Path(path).name) or zones.get("*")
    return tz


def load(
    paths: str | Path | Sequence[str | Path],
    *,
    year: int | None = None,
    tz: str | dict[str, str] | None = None,
    device: str | None = None,
    card_key: bytes | str | None = None,
    dialects: Dialects | None = None,
    workers: int = 1,
    chunk_lines: int = 200_000,
    fast: bool = True,
) -> Loaded:
    """Ingest log files into the events, unparsed, compliance and inputs tables.

    ``tz`` is one zone for every input or {path: zone} ("*" for the rest); ``year`` anchors
    year-less stamps when no input holds a dated one; ``device`` names a device whose log
    does not say; ``card_key`` keys ``card_id`` (else $FORENSICS_CARD_KEY, else random).
    ``workers`` batches of a file are parsed at once in threads; in a format without a fast
    path, files longer than ``chunk_lines`` are cut into chunks for ``workers`` processes
    (spawned: the caller's main module must be importable, as for any multiprocessing).
    ``fast=False`` parses every line with Lark (same tables). Raises
    InputError for a file that cannot be read and ClockError for a bad zone.
    """
    paths = _checked_inputs(paths, tz, year)
    reg = registry() if dialects is None else Registry(dialects)
    guard = CardGuard(card_key)
    pool = _LazyPool(workers) if workers > 1 and dialects is None else None
    try:
        parsed = [_parse_input(p, reg, guard, pool, chunk_lines, fast, threads=workers) for p in paths]
    finally:
        if pool is not None:
            pool.shutdown()
    raws = [r[4] for r in parsed]

    def resolve(i: int, anchors: list[datetime]) -> tuple[pl.DataFrame, clock.TimeInfo]:
        events, _, _, fmt, _ = parsed[i]
        return clock.resolve(
            events,
            fmt.time if fmt else [],
            tz=_zone_for(tz, raws[i].path),
            anchors=anchors,
            year=year,
            mtime=raws[i].mtime,
        )

    first_pass = [resolve(i, []) for i in range(len(raws))]
    anchors_of = []
    for events, info in first_pass:
        dated = events["ts"].drop_nulls() if info.year_source is None else pl.Series([], dtype=EVENTS_SCHEMA["ts"])
        anchors_of.append([dated.min(), dated.max()] if dated.len() else [])
    events_frames, unparsed_frames, compliance_frames, input_rows = [], [], [], []
    for i, raw in enumerate(raws):
        events, info = first_pass[i]
        if info.year_source in ("--year", "file mtime"):
            others = [a for j, group in enumerate(anchors_of) if j != i for a in group]
            if others:
                events, info = resolve(i, others)
        _, unparsed, compliance, fmt, _ = parsed[i]
        serials = _Serials({})
        serials.add(events)
        events = _device(events, fmt, raw.path, device, serials)
        events = _card_ids(events, guard)
        events_frames.append(events)
        unparsed_frames.append(pl.DataFrame(unparsed, schema=UNPARSED_SCHEMA))
        compliance_frames.append(pl.DataFrame(compliance, schema=COMPLIANCE_SCHEMA))
        covered = int((events["line_end"] - events["line"] + 1).sum()) if events.height else 0
        uncovered = (
            int((pl.Series(unparsed["line_end"]) - pl.Series(unparsed["line"]) + 1).sum()) if unparsed["line"] else 0
        )
        devices = events["device"].unique(maintain_order=True).drop_nulls().to_list()
        input_rows.append(_input_row(raw, fmt, info, covered, uncovered, devices))
    return Loaded(
        events=pl.concat(events_frames) if events_frames else pl.DataFrame(schema=EVENTS_SCHEMA),
        unparsed=pl.concat(unparsed_frames) if unparsed_frames else pl.DataFrame(schema=UNPARSED_SCHEMA),
        compliance=pl.concat(compliance_frames) if compliance_frames else pl.DataFrame(schema=COMPLIANCE_SCHEMA),
        inputs=pl.DataFrame(input_rows, schema=INPUTS_SCHEMA),
    )


@dataclass
class _Pending:
    """One input between the two passes of ``write_parquet``."""

    reader: Reader
    fmt: Format | None = None
    spool: list[Path | pl.DataFrame] = field(default_factory=list)
    months: list[tuple[int | None, int | None, int]] = field(default_factory=list)  # per batch
    years: clock.Years = field(default_factory=clock.Years)
    serials: _Serials = field(default_factory=lambda: _Serials({}))
    anchors: list[datetime] = field(default_factory=list)
    covered: int = 0
    resolved: dict[int, clock.TimeInfo] = field(default_factory=dict)  # spool index -> times already final


class _Stream:
    """``write_parquet``'s two passes: parse batches into a spool, then finish them in order."""

    def __init__(
        self,
        spool_dir: str,
        tz: str | dict[str, str] | None,
        year: int | None,
        device: str | None,
        guard: CardGuard,
        workers: int,
    ):
        self.spool_dir, self.tz, self.year, self.device, self.guard = spool_dir, tz, year, device, guard
        self.workers = workers
        self.pool = _LazyPool(workers) if workers > 1 else None  # for formats without a fast path
        self.in_memory = 0  # bytes of parsed batches kept in memory; beyond _SPOOL_MEMORY they go to disk
        self.unparsed: list[pl.DataFrame] = []
        self.compliance: list[pl.DataFrame] = []

    def parse(self, n: int, path: str | Path, reg: Registry, batch_bytes: int, fast: bool) -> _Pending:
        """First pass over one input."""
        reader, named = _open(path, batch_bytes)
        item = _Pending(reader)
        if named:
            compliance: dict[str, list[Any]] = {n: [] for n in COMPLIANCE_SCHEMA.names()}
            _add_sightings(compliance, reader.path, None, named)
            self.compliance.append(pl.DataFrame(compliance, schema=COMPLIANCE_SCHEMA))
        with ThreadPoolExecutor(self.workers) as threads:
            queue: deque[Future[Parsed]] = deque()
            for fmt, offset, lines, cuts in _record_batches(item.reader, reg):
                item.fmt = fmt
                queue.append(
                    threads.submit(
                        _parse_batch,
                        item.reader.path,
                        lines,
                        offset,
                        cuts,
                        fmt,
                        reg,
                        self.guard,
                        self.pool,
                        _STREAM_CHUNK,
                        fast,
                    )
                )
                while len(queue) > self.workers:
                    self._keep(n, item, queue.popleft().result())
            while queue:
                self._keep(n, item, queue.popleft().result())
        return item

    def _keep(self, n: int, item: _Pending, result: Parsed) -> None:
        events, unparsed, compliance = result
        self.unparsed.append(pl.DataFrame(unparsed, schema=UNPARSED_SCHEMA))
        self.compliance.append(pl.DataFrame(compliance, schema=COMPLIANCE_SCHEMA))
        item.covered += int((events["line_end"] - events["line"] + 1).sum()) if events.height else 0
        fmt = item.fmt
        steps: tuple[int | None, int | None, int] = (None, None, 0)
        if fmt is not None and fmt.time and events.height:
            parts = clock.stamp_parts(events, fmt.time)
            item.years.add(parts)
            steps = clock.month_steps(parts)
            if not (parts["_yr"].is_null() & parts["_month"].is_not_null()).any():
                # every stamp has its year: the times do not wait for the whole file
                events, info = clock.resolve(
                    events,
                    fmt.time,
                    tz=_zone_for(self.tz, item.reader.path),
                    anchors=[],
                    year=self.year,
                    mtime=item.reader.mtime,
                    parts=parts,
                )
                item.resolved[len(item.spool)] = info
                ts = events["ts"].drop_nulls()
                if item.years.first is None and ts.len():
                    item.anchors = [min([*item.anchors, ts.min()]), max([*item.anchors, ts.max()])]
        item.months.append(steps)
        item.serials.add(events)
        if self.in_memory + events.estimated_size() <= _SPOOL_MEMORY:
            self.in_memory += events.estimated_size()
            item.spool.append(events)
        else:
            item.spool.append(Path(self.spool_dir) / f"{n}-{len(item.spool)}.arrow")
            events.write_ipc(item.spool[-1], compression="lz4")

    def finish(self, item: _Pending, anchors: list[datetime], out: Any) -> dict[str, Any]:
        """Second pass over one input: times, devices and card ids, written in order; its inputs row."""
        base = item.years.base(anchors, self.year, item.reader.mtime) if item.years.first is not None else None
        zone = _zone_for(self.tz, item.reader.path)
        starts, rolled, prev = [], 0, None
        for first, last, drops in item.months:  # each batch's start year and the month before it
            starts.append(((base[0] + rolled, base[1]) if base else None, prev))
            rolled += drops + int(prev is not None and first is not None and prev - first > clock.ROLLOVER_MONTHS)
            prev = last if last is not None else prev

        def one(k: int) -> tuple[pl.DataFrame, clock.TimeInfo | None]:
            part = item.spool[k]
            if isinstance(part, Path):
                events = pl.read_ipc(part)
                part.unlink()
            else:
                events = part
            item.spool[k] = pl.DataFrame()
            info = item.resolved.get(k)
            if item.fmt is not None and info is None:
                events, info = clock.resolve(
                    events,
                    item.fmt.time,
                    tz=zone,
                    anchors=[],
                    year=self.year,
                    mtime=item.reader.mtime,
                    base=starts[k][0],
                    prev_month=starts[k][1],
                )
            events = _card_ids(_device(events, item.fmt, item.reader.path, self.device, item.serials), self.guard)
            return conform(events), info

        unreadable, assumed, devices, names = 0, False, [], set()
        with ThreadPoolExecutor(self.workers) as threads:
            queue: deque[Future[tuple[pl.DataFrame, clock.TimeInfo | None]]] = deque()
            for k in range(len(item.spool)):
                queue.append(threads.submit(one, k))
                while queue and (len(queue) > self.workers or k == len(item.spool) - 1):
                    events, info = queue.popleft().result()
                    if info is not None:
                        unreadable += info.unreadable
                        assumed = assumed or info.tz_assumed
                        names.update(info.zone_names)
                    devices += [
                        d
                        for d in events["device"].unique(maintain_order=True).drop_nulls().to_list()
                        if d not in devices
                    ]
                    out.write_table(events.to_arrow())
        uncovered = sum(
            int((f["line_end"] - f["line"] + 1).sum())
            for f in self.unparsed
            if f.height and f["path"][0] == item.reader.path
        )
        info = clock.TimeInfo(
            zone or "UTC", assumed, base[1] if base else None, unreadable, zone_names=tuple(sorted(names))
        )
        return _input_row(item.reader, item.fmt, info, item.covered, uncovered, devices)


def write_parquet(
    paths: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    year: int | None = None,
    tz: str | dict[str, str] | None = None,
    device: str | None = None,
    card_key: bytes | str | None = None,
    batch_bytes: int = 8 << 20,
    fast: bool = True,
    workers: int = 1,
) -> Loaded:
    """Ingest log files straight into a Parquet events file, in batches of about ``batch_bytes``.

    Memory follows the batch size, not the input size (gzip inputs stream too). The events in
    ``output`` are the rows ``load`` would give, in the same order; ``output`` appears only
    when every row is written (a failed or interrupted run leaves an earlier file as it was).
    An ``output`` that is one of the inputs raises OutputError before any work.
    The returned ``Loaded`` holds the unparsed, compliance and inputs tables and an empty
    ``events``. ``workers`` batches are worked on at once (threads: the column work runs
    outside the GIL). Parsed batches wait for the second pass in memory up to 128 MB, then in
    compressed Arrow IPC files in a temporary folder.
    """
    import tempfile

    import pyarrow.parquet as pq

    paths = _checked_inputs(paths, tz, year)
    check_outputs(paths, [output])
    reg, guard = registry(), CardGuard(card_key)
    arrow_schema = pl.DataFrame(schema=EVENTS_SCHEMA).to_arrow().schema
    with tempfile.TemporaryDirectory(prefix="forensics-") as spool_dir:
        stream = _Stream(spool_dir, tz, year, device, guard, workers)
        try:
            pending = [stream.parse(n, path, reg, batch_bytes, fast) for n, path in enumerate(paths)]
        finally:
            if stream.pool is not None:
                stream.pool.shutdown()
        # aside: a closed writer leaves a valid file that looks complete
        with written_aside(output) as partial, pq.ParquetWriter(str(partial), arrow_schema) as out:
            rows = []
            for n, item in enumerate(pending):
                anchors = [
                    a for j, other in enumerate(pending) if j != n and other.years.first is None for a in other.anchors
                ]
                rows.append(stream.finish(item, anchors, out))
    return Loaded(
        events=pl.DataFrame(schema=EVENTS_SCHEMA),
        unparsed=pl.concat(stream.unparsed) if stream.unparsed else pl.DataFrame(schema=UNPARSED_SCHEMA),
        compliance=pl.concat(stream.compliance) if stream.compliance else pl.DataFrame(schema=COMPLIANCE_SCHEMA),
        inputs=pl.DataFrame(rows, schema=INPUTS_SCHEMA),
    )


def _input_row(
    reader: Reader, fmt: Format | None, info: clock.TimeInfo, covered: int, uncovered: int, devices: list[str]
) -> dict[str, Any]:
    notes = list(reader.notes) + info.notes()
    return {
        "path": reader.path,
        "sha256": reader.sha256,
        "bytes": reader.size,
        "lines": reader.lines,
        "parsed": covered,
        "unparsed": uncovered,
        "format": fmt.name if fmt else None,
        "device": ",".join(devices) if devices else None,
        "tz": info.tz,
        "tz_assumed": info.tz_assumed,
        "year_source": info.year_source,
        "notes": "; ".join(notes) if notes else None,
    }
