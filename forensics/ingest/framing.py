"""Framing: a file's lines into records, and batches of whole records.

A line format's record is one line (a continuation or crash-trace line may join the one
before it later, when parsed); a block format's record runs from a line where its declared
open terminal matches to one where its close terminal does (format.toml ``block``). Batches
are cut only where a record starts whatever came before, so no record is split.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import polars as pl

from forensics.ingest.cards import continues_hexdump
from forensics.ingest.embedded import member_screen
from forensics.ingest.formats import DETECT_HEAD, Format, Registry
from forensics.ingest.read import Reader

#: Lines held, before a block format's first opening, to learn whether they end a cut block.
_HELD = 10_000
#: Longest line looked at as part of a pretty-printed message (pyiso8583 wraps at ``line_width``).
_MEMBER_MAX = 8192


def frames(
    numbered: Iterable[tuple[int, str]], fmt: Format | None, reg: Registry, cuts: dict[int, str]
) -> Iterator[tuple[int, int, str, str | None]]:
    """(first line, last line, text, reason-if-unparsed) for each record of (number, line) pairs;
    ``cuts`` gives the reason of each line cut while it was read (never part of a record).

    Of a block format, the lines before the first opening that end at a closing line are the
    rest of a block cut by the excerpt's start, and their reason says so."""
    tried = ", ".join(name for name, f in reg.formats.items() if f.detect)
    block: list[str] = []
    held: list[tuple[int, str, str | None]] = []  # lines before a block format's first opening
    holding = fmt is not None and fmt.framing == "block"

    def release(reason: str) -> Iterator[tuple[int, int, str, str | None]]:
        for n, text, own in held:
            yield n, n, text, own or ("blank line" if not text.strip() else header(text) or reason)
        held.clear()

    def header(line: str) -> str | None:
        return f"a {fmt.name} logger header, no record" if fmt is not None and fmt.is_furniture(line) else None

    start = i = 0
    for i, line in numbered:
        if holding and fmt is not None:
            at = fmt.block_start(line) if i not in cuts else -1
            if at < 0:
                held.append((i, line, cuts.get(i)))
                if i not in cuts and fmt.closes(line):
                    yield from release(f"the end of a {fmt.name} block that opens before the file starts")
                    holding = False
                elif len(held) >= _HELD:
                    yield from release(f"outside a {fmt.name} block")
                    holding = False
                continue
            yield from release(f"outside a {fmt.name} block")
            holding = False
        if i in cuts:
            if block:
                yield start, i - 1, "\n".join(block), None
                block = []
            yield i, i, line, cuts[i]
            continue
        if block:
            if fmt is None or not (fmt.opens_record(line) or fmt.is_furniture(line)):
                block.append(line)
                if fmt is not None and fmt.closes(line):
                    yield start, i, "\n".join(block), None
                    block = []
                continue
            # the block never closes: another opens, or the writer restarted, before its end
            yield start, i - 1, "\n".join(block), None
            block = []
        if not line.strip():
            yield i, i, line, "blank line"
        elif fmt is None:
            yield i, i, line, f"no known format (tried {tried})"
        elif fmt.framing == "block":
            at = fmt.block_start(line)
            if at < 0:
                yield i, i, line, header(line) or f"outside a {fmt.name} block"
                continue
            block, start = [line], i
            if fmt.closes(line[at:]):
                yield i, i, line, None
                block = []
        else:
            yield i, i, line, None
    if fmt is not None:
        yield from release(f"outside a {fmt.name} block")
    if block:
        yield start, i, "\n".join(block), None


def safe_start(lines: list[str], i: int, fmt: Format | None) -> bool:
    """True when a record starts at ``lines[i]`` whatever came before (a cut may go there)."""
    line = lines[i]
    if fmt is None:
        return bool(line) and not _in_dump(lines, i)
    if fmt.framing == "block":
        return fmt.block_start(line) >= 0 and i > 0 and fmt.closes(lines[i - 1])
    return (
        bool(line)
        and not line.startswith(fmt.continuation)
        and not any(t in line for t in fmt.crash_tags)
        # a line of a pretty-printed message: its block is never split (no such line is that long)
        and (len(line) > _MEMBER_MAX or member_screen().search(line) is None)
        and not _in_dump(lines, i)
    )


#: other records that may stand between two rows of a hexdump written one row to a record
_DUMP_GAP = 8


def _in_dump(lines: list[str], i: int) -> bool:
    """Whether a hexdump row past the first is among ``lines[i]`` and the ``_DUMP_GAP`` lines after it: a batch
    is not cut there, so that ``cards.hexdump_rows`` sees a dump's rows together."""
    return any(continues_hexdump(line) for line in lines[i : i + _DUMP_GAP + 1])


def chunk_starts(lines: list[str], fmt: Format, size: int) -> list[int]:
    """Indexes where a chunk may start: a record's own first line, never inside a multi-line record."""
    starts = [0]
    i = size
    while i < len(lines):
        if safe_start(lines, i, fmt):
            starts.append(i)
            i += size
        else:
            i += 1
    return starts


def record_batches(
    reader: Reader, reg: Registry, named: Format | None = None
) -> Iterator[tuple[Format | None, int, pl.Series, dict[int, str]]]:
    """(format, lines before, lines, cut lines' reasons) batches of whole records; the format is
    ``named`` when the user named it for this file, else detected from the first lines.

    A multi-line record is never split, unless no record starts in four batches' worth of
    lines: then they go on as they are (memory stays bounded; the pieces are accounted for).
    """
    fmt: Format | None = None
    held: pl.Series | None = None
    offset = 0
    first = True
    for lines in reader.batches():
        lines = pl.concat([held, lines]) if held is not None and held.len() else lines
        if first and named is not None:
            fmt, first = named, False
            reader.notes.append(f"format {named.name}: named for this file")
        if first:
            choice, first = reg.choose(lines.head(DETECT_HEAD).to_list()), False
            fmt = choice.format
            if choice.why:  # the sample was not unanimous: the input's notes say how it was decided
                reader.notes.append(choice.why)
        cut = _last_safe_start(lines, fmt)
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


def _last_safe_start(lines: pl.Series, fmt: Format | None) -> int:
    """Index of the last line (but the first) where a record starts whatever came before; 0 if none."""
    window = 64
    while True:
        start = max(0, lines.len() - window)
        tail = lines.slice(start).to_list()
        for j in range(len(tail) - 1, 0, -1):
            if safe_start(tail, j, fmt):
                return start + j
        if start == 0:
            return 0
        window *= 8
