"""Parsing: the records of one batch into event, unparsed and compliance rows.

Lines of a format with a fast path first go through it (``fastpath``: the grammar compiled to
one regular expression over the whole batch, or the format's block or row twin); the rest, and every
line of other formats, take Lark record by record (``parse_lines``), in worker processes for
long batches of formats without a fast path.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import polars as pl

from forensics.events import COMPLIANCE_SCHEMA, EVENTS_SCHEMA, UNPARSED_SCHEMA, conform
from forensics.ingest import embedded, fastpath
from forensics.ingest.cards import ROW_SCREEN, CardGuard, Sighting, hexdump_rows
from forensics.ingest.formats import Format, RecordError, Registry, registry_for
from forensics.ingest.framing import chunk_starts, frames
from forensics.ingest.wire import rewrite

#: Events rows per frame while records are gathered one by one.
_BATCH = 50_000
#: Runs of Lark rows a batch's fast rows take by slicing (``_merged``); beyond, a sort.
_RUNS = 256

#: What parsing gives: events, and the unparsed and compliance columns.
Parsed = tuple[pl.DataFrame, dict[str, list[Any]], dict[str, list[Any]]]


class _Columns:
    """Event columns accumulated in batches of plain lists, flushed to Polars frames."""

    def __init__(self, path: str, fmt: Format | None) -> None:
        self.path = path
        self.fmt, self.role = (fmt.name, fmt.role) if fmt else ("unknown", None)
        self.names = [n for n in EVENTS_SCHEMA.names() if n not in ("path", "format", "role", "ts")]
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
        # only the columns holding a value: a record fills few of them, and a column costs its build however
        # short (``frame`` gives the others, null)
        held = {n: v[:cut] for n, v in self.lists.items() if any(x is not None for x in v[:cut])}
        self.frames.append(pl.DataFrame(held, schema={n: EVENTS_SCHEMA[n] for n in held}))
        self.lists = {n: v[cut:] for n, v in self.lists.items()}

    def frame(self) -> pl.DataFrame:
        self._flush()
        body = pl.concat(self.frames, how="diagonal") if self.frames else pl.DataFrame(schema={"line": pl.Int64})
        return conform(
            body.with_columns(path=pl.lit(self.path), format=pl.lit(self.fmt), role=pl.lit(self.role, pl.String))
        )


def parse_lines(
    path: str,
    numbered: Iterable[tuple[int, str]],
    fmt: Format | None,
    reg: Registry,
    guard: CardGuard,
    cuts: dict[int, str] | None = None,
) -> Parsed:
    """Events, unparsed and compliance columns of (line number, line) pairs, parsed one by one."""
    if (fmt is not None and fmt.card_contexts) or reg.dialects.card_contexts:
        guard = guard.with_contexts(fmt.card_contexts if fmt is not None else {}, reg.dialects.card_contexts)
    cols = _Columns(path, fmt)
    unparsed: dict[str, list[Any]] = {n: [] for n in UNPARSED_SCHEMA.names()}
    compliance: dict[str, list[Any]] = {n: [] for n in COMPLIANCE_SCHEMA.names()}
    fmt_name = fmt.name if fmt else None
    wire = reg.dialects.wire
    reads_blocks = fmt is not None and fmt.framing == "line"  # pretty-printed messages inside its lines
    block: embedded.Block | None = None

    def unread(line: int, line_end: int, text: str, reason: str | None) -> None:
        for key, value in (
            ("path", path),
            ("line", line),
            ("line_end", line_end),
            ("format", fmt_name),
            ("text", text),
            ("reason", reason),
        ):
            unparsed[key].append(value)

    def finish(block: embedded.Block) -> None:
        """A block's event, or its lines unparsed with the reason; card data joined from wrapped
        lines masked (a compliance row at the block's first line)."""
        text, contents = block.joined()
        contents, sightings = guard.protect(contents)
        add_sightings(compliance, path, block.first, sightings)
        text, _ = guard.protect(text)
        got = embedded.record(block, contents, fmt.role if fmt is not None else None)
        if isinstance(got, str):
            unread(block.first, block.last, text, got)
            return
        record = reg.iso_columns(got)
        record.update(line=block.first, line_end=block.last, text=text)
        cols.append(record)

    for line, line_end, text, reason in frames(numbered, fmt, reg, cuts or {}):
        framed = reason is None
        kept: list[str] = []
        if wire:  # ISO 8583 dumps decoded first, so the guard masks their card data as in plain text
            text, undecoded, kept = rewrite(wire, text)
            reason = reason or undecoded
        text, sightings = guard.protect(text)
        add_sightings(compliance, path, line, sightings)
        record = None
        if reason is None and fmt is not None:
            try:
                record = reg.record(fmt, text)
            except RecordError as exc:
                reason = str(exc)
        if reads_blocks:
            content = text if record is None else (record.get("message") or "")
            if block is not None and framed and block.takes(content):
                block.add(line, text, content)
                continue
            if block is not None:
                finish(block)
                block = None
            form = embedded.opening(content) if framed else None
            if form is not None:
                # the log line that encloses it: the block's own when enveloped, else the record just before
                enclosing = record
                if enclosing is None and len(cols) and cols.last("line_end") == line - 1:
                    enclosing = {name: cols.last(name) for name in embedded.ENVELOPE}
                block = embedded.Block(form, enclosing or {})
                block.add(line, text, content)
                continue
        if kept:  # dumps left as written: why they do not decode, with the record or its reason
            if record is None:
                reason = "; ".join(filter(None, [reason, *kept]))
            else:
                attrs = json.loads(record["attrs"]) if record.get("attrs") else {}
                attrs["undecoded"] = "; ".join(kept)
                record["attrs"] = json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if record is None:
            if fmt is not None and _continues(cols, fmt, line, text):
                cols.extend_last(line, text, text.strip())
                continue
            unread(line, line_end, text, reason)
            continue
        if fmt is not None and _crash_continues(cols, fmt, line, record):
            cols.extend_last(line, text, record.get("message") or "")
            continue
        record.update(line=line, line_end=line_end, text=text)
        cols.append(record)
    if block is not None:
        finish(block)
    return cols.frame(), unparsed, compliance


def _parse_chunk(
    path: str,
    lines: list[str],
    offset: int,
    fmt_name: str | None,
    key: bytes,
    cuts: dict[int, str],
    sources: tuple[tuple[str, str], ...] | None,
) -> Parsed:
    """Worker-process entry: parse one chunk with the formats and the dialects of ``sources``
    (None: the installed ones), the registry built once per worker and set of sources."""
    reg = registry_for(sources)
    return parse_lines(
        path, enumerate(lines, start=offset + 1), reg.formats.get(fmt_name or ""), reg, CardGuard(key), cuts
    )


def parse_batch(
    path: str,
    lines: pl.Series,
    offset: int,
    cuts: dict[int, str],
    fmt: Format | None,
    reg: Registry,
    guard: CardGuard,
    pool: LazyPool | None,
    chunk_lines: int,
    fast: bool,
) -> Parsed:
    """Events, unparsed and compliance of one batch of whole records (line numbers after ``offset``;
    ``cuts``: the reasons of its lines cut while read, which the fast path leaves to Lark's)."""
    lines, across = dump_rows(lines, fmt, guard)
    return with_sightings(
        _parse_batch(path, lines, offset, cuts, fmt, reg, guard, pool, chunk_lines, fast), path, offset, across
    )


def dump_rows(lines: pl.Series, fmt: Format | None, guard: CardGuard) -> tuple[pl.Series, list[tuple[int, Sighting]]]:
    """``lines`` with the rows of hexdumps written one row to a record wiped where their bytes hold card data
    (``cards.hexdump_rows``; a format whose records are lines, or none), and the card data so found by line index."""
    if fmt is not None and fmt.framing != "line":
        return lines, []
    candidates = lines.str.contains(ROW_SCREEN)
    if not candidates.any():
        return lines, []
    at = candidates.arg_true()
    changed, across = hexdump_rows(zip(at.to_list(), lines.gather(at).to_list(), strict=True), guard)
    if changed:
        where = pl.Series(list(changed), dtype=pl.UInt32)
        lines = lines.scatter(where, pl.Series(list(changed.values()), dtype=pl.String))
    return lines, across


def with_sightings(parsed: Parsed, path: str, offset: int, across: list[tuple[int, Sighting]]) -> Parsed:
    """``parsed`` with the compliance rows of ``across`` (card data found by line index after ``offset``),
    all in line order."""
    if not across:
        return parsed
    events, unparsed, compliance = parsed
    rows = [dict(zip(compliance, values, strict=True)) for values in zip(*compliance.values(), strict=True)]
    mine: dict[str, list[Any]] = {name: [] for name in compliance}
    for index, sighting in across:
        add_sightings(mine, path, offset + index + 1, [sighting])
    rows += [dict(zip(mine, values, strict=True)) for values in zip(*mine.values(), strict=True)]
    rows.sort(key=lambda row: -1 if row["line"] is None else row["line"])
    return events, unparsed, {name: [row[name] for row in rows] for name in compliance}


def _parse_batch(
    path: str,
    lines: pl.Series,
    offset: int,
    cuts: dict[int, str],
    fmt: Format | None,
    reg: Registry,
    guard: CardGuard,
    pool: LazyPool | None,
    chunk_lines: int,
    fast: bool,
) -> Parsed:
    # a batch holding a pretty-printed message takes the record path: its block is read line by line
    fast = fast and not cuts and not (fmt is not None and fmt.framing == "line" and _opens_block(lines))
    fast_format = reg.fast_format(fmt) if fast else None
    fast_twin = (reg.fast_blocks(fmt) or reg.fast_rows(fmt)) if fast else None
    if (fast_format is not None or fast_twin is not None) and fmt is not None:
        # lines the card screen or the format's no_record finds are left to the record path, which decides them
        refused = fmt.no_record_screen
        if fast_format is not None:
            done, rest = fastpath.parse(lines, fast_format, reg.fast_dialects, *card_screens(reg, fmt, guard))
        else:
            done, rest = fast_twin.parse(lines, reg.card_screen)
            done = done.drop("_i")
        if refused:  # a pass of its own: joined to the card screen, it slowed that screen's every run
            done, rest = _refused(lines, refused, done, rest)
        numbered = zip((rest + offset + 1).to_list(), lines.gather(rest).to_list(), strict=False)
        events, unparsed, compliance = parse_lines(path, numbered, fmt, reg, guard)
        done = conform(
            done.with_columns(
                path=pl.lit(path),
                format=pl.lit(fmt.name),
                role=pl.lit(fmt.role),
                line=pl.col("line") + offset,
                line_end=pl.col("line_end") + offset,
            )
        )
        return _merged(done, events), unparsed, compliance
    text = lines.to_list()
    if pool is not None and fmt is not None and len(text) > chunk_lines:
        starts = chunk_starts(text, fmt, chunk_lines)
        bounds = list(zip(starts, [*starts[1:], len(text)], strict=False))
        sources = None if reg.dialects.sources == registry_for(None).dialects.sources else reg.dialects.sources
        jobs = [(path, text[a:b], offset + a, fmt.name, guard.key, cuts, sources) for a, b in bounds]
        results = pool.map(jobs)
        if results is not None:
            return merge(results)
    return parse_lines(path, enumerate(text, start=offset + 1), fmt, reg, guard, cuts)


def _refused(lines: pl.Series, refused: str, done: pl.DataFrame, rest: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """The fast path's rows and the other lines' indexes, with each row holding a line ``refused`` finds moved,
    all its lines, to the others."""
    hit = pl.Series(range(lines.len()), dtype=rest.dtype).filter(lines.str.contains(refused))
    if hit.is_empty():
        return done, rest
    first, last = (done[c].cast(rest.dtype) - 1 for c in ("line", "line_end"))
    after = hit.search_sorted(first)  # the first refused line at or after each row's first
    held = hit.gather(after.clip(upper_bound=hit.len() - 1)).cast(rest.dtype)
    bad = (after < hit.len()) & (held <= last)
    moved = pl.int_ranges(first.filter(bad), last.filter(bad) + 1, dtype=rest.dtype, eager=True).explode()
    return done.filter(~bad), pl.concat([rest, moved.drop_nulls()]).unique().sort()


def _merged(done: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``done`` and ``events`` (each in line order, no line in both) in line order.

    The runs of ``events`` (rows between the same two rows of ``done``) go between slices of ``done``: a batch
    holds few such runs, and Polars' ``merge_sorted`` gathers every column anew (four times the time). Beyond
    ``_RUNS`` runs, a sort."""
    if events.is_empty():
        return done
    runs = done["line"].search_sorted(events["line"]).rle()
    if runs.len() > _RUNS:
        return pl.concat([done, events]).sort("line")
    parts, start, taken = [], 0, 0
    for length, cut in runs.struct.unnest().iter_rows():
        parts += [done.slice(start, cut - start), events.slice(taken, length)]
        start, taken = cut, taken + length
    parts.append(done.slice(start))
    return pl.concat(parts, rechunk=True)


def _opens_block(lines: pl.Series) -> bool:
    """True when a line of ``lines`` may open a pretty-printed message (embedded.toml)."""
    hinted = lines.filter(lines.str.contains_any(embedded.hints()))
    return hinted.len() > 0 and hinted.str.contains(embedded.first_screen()).any()


def merge(results: list[Parsed]) -> Parsed:
    """One batch's results from its chunks' (in order)."""
    if len(results) == 1:
        return results[0]
    merged = [{k: [v for r in results for v in r[i][k]] for k in results[0][i]} for i in (1, 2)]
    return pl.concat([r[0] for r in results]), merged[0], merged[1]


def card_screens(reg: Registry, fmt: Format, guard: CardGuard) -> tuple[str, tuple[str, Callable[[str], bool]] | None]:
    """The fast path's card screens for lines of ``fmt``: lines that may hold card data; and the lines a dialect's
    card context matches (None: no dialect declares one) with the test that such a line holds none. For a line
    the first screen passes, only a dialect's card context can make ``guard.protect`` (with the contexts
    ``parse_lines`` adds) change it, so the test asks just that."""
    static, contexts = reg.card_screens
    if contexts is None:
        return static, None
    guarded = guard.with_contexts(fmt.card_contexts, reg.dialects.card_contexts)
    return static, (contexts, lambda text: not guarded.masks_card_fields(text))


class LazyPool:
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


def add_sightings(compliance: dict[str, list[Any]], path: str, line: int | None, sightings: list[Sighting]) -> None:
    """Compliance rows of ``sightings`` at ``path``:``line`` (None: the file name, no line)."""
    for s in sightings:
        for key, value in (("kind", s.kind), ("path", path), ("line", line), ("field", s.field), ("masked", s.masked)):
            compliance[key].append(value)


def _continues(cols: _Columns, fmt: Format, line: int, text: str) -> bool:
    """True when ``text`` continues the record just before it (format.toml ``continuation``)."""
    return (
        bool(fmt.continuation)
        and len(cols) > 0
        and cols.last("line_end") == line - 1
        and text.startswith(fmt.continuation)
    )


def _crash_continues(cols: _Columns, fmt: Format, line: int, record: dict[str, Any]) -> bool:
    """True when ``record`` goes on the crash trace just before it (format.toml ``crash_tags``)."""
    tag = record.get("tag")
    if tag not in fmt.crash_tags or len(cols) == 0 or cols.last("line_end") != line - 1:
        return False
    if (record.get("message") or "").startswith(fmt.crash_starts):
        return False
    return (cols.last("tag"), cols.last("pid"), cols.last("thread")) == (tag, record.get("pid"), record.get("thread"))
