"""Reading an input: bytes on disk to decoded lines, with nothing dropped and memory bounded.

gzip, bzip2 and xz are detected by their magic bytes and inflated as they stream, in pieces of
at most 1 MiB (a decompression bomb costs time, not memory); a truncated or corrupt stream keeps
what was read. A zip archive is read member by member, in turn. A byte order mark selects
UTF-16 or UTF-32; otherwise each line is UTF-8, else GB18030 (Chinese terminals), else UTF-8
with replacement characters, and the input's notes say so. Line ends are LF, CRLF or a lone CR
(old Mac files); NUL bytes become U+FFFD. A line longer than the cap is cut while it is read: its
first bytes are kept and its full length is recorded in ``Reader.cuts`` for the unparsed reason.
"""

from __future__ import annotations

import bz2
import codecs
import hashlib
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import numpy as np
import polars as pl
import pyarrow as pa

from forensics.errors import InputError

_CHUNK = 1 << 20
#: Longest line kept, in bytes; a longer line is cut to this while it is read.
MAX_LINE = 1 << 20

_STREAMS = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class RawInput:
    """One input file as read: its decoded lines and what was noticed on the way."""

    path: str
    sha256: str
    size: int
    lines: list[str]
    notes: list[str] = field(default_factory=list)
    mtime: float = 0.0
    cuts: dict[int, str] = field(default_factory=dict)


class _Decompressor(Protocol):
    eof: bool
    needs_input: bool
    unused_data: bytes

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Gzip:
    """zlib's gzip inflater with the interface of bz2's and lzma's decompressors."""

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._inflater.eof

    @property
    def unused_data(self) -> bytes:
        return self._inflater.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._inflater.decompress(self._inflater.unconsumed_tail + data, max(max_length, 0))
        self.needs_input = not self._inflater.unconsumed_tail
        return out


def _decompressor(kind: str) -> _Decompressor:
    if kind == "gzip":
        return _Gzip()
    return bz2.BZ2Decompressor() if kind == "bzip2" else lzma.LZMADecompressor()


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n:,} bytes"


def cut_reason(length: int, cap: int = MAX_LINE) -> str:
    """The unparsed reason of a line of ``length`` bytes cut at ``cap``."""
    return f"line of {length:,} bytes cut at {_size(cap)}"


class Reader:
    """One input read in batches of whole lines: compressed data inflated as it streams, lines
    longer than ``max_line`` bytes cut as they are read, nothing dropped.

    ``batches()`` yields series of decoded lines; ``sha256``, ``size`` and ``notes`` are
    complete once it is exhausted, ``cuts`` (line number to unparsed reason) holds every cut
    line before the batch holding it is yielded.
    """

    def __init__(self, path: str | Path, batch_bytes: int = 64 << 20, max_line: int = MAX_LINE):
        self.path = str(path)
        self.batch_bytes = batch_bytes
        self.max_line = max_line
        p = Path(path)
        try:
            self._handle = p.open("rb")
            self.mtime = p.stat().st_mtime
        except FileNotFoundError as exc:
            raise InputError(f"{path}: no such file") from exc
        except IsADirectoryError as exc:
            raise InputError(f"{path}: is a directory") from exc
        except PermissionError as exc:
            raise InputError(f"{path}: permission denied") from exc
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
        self.sha256 = ""
        self.size = 0
        self.notes: list[str] = []
        self.lines = 0
        self.cuts: dict[int, str] = {}

    # ------------------------------------------------------------------ bytes

    def _raw(self, handle: IO[bytes]) -> Iterator[bytes]:
        """The file's bytes in pieces, hashed and counted on the way."""
        digest = hashlib.sha256()
        while piece := handle.read(_CHUNK):
            digest.update(piece)
            self.size += len(piece)
            yield piece
        self.sha256 = digest.hexdigest()

    def _bytes(self) -> Iterator[bytes]:
        """The file's content, inflated when it is compressed, in pieces of at most 1 MiB."""
        with self._handle as handle:
            head = handle.peek(8)[:8]
            if head.startswith(_ZIP):
                yield from self._zip(handle)
                return
            raw = self._raw(handle)
            kind = next((k for magic, k in _STREAMS.items() if head.startswith(magic)), None)
            if kind is None:
                yield from raw
            else:
                yield from self._inflate(raw, kind)
            for _ in raw:  # the rest of a corrupt stream, still hashed
                pass

    def _inflate(self, raw: Iterator[bytes], kind: str) -> Iterator[bytes]:
        """``raw`` inflated as ``kind`` (concatenated streams too; bytes after the last kept as they are)."""
        magic = next(m for m, k in _STREAMS.items() if k == kind)
        inflater = _decompressor(kind)
        inflated = 0
        for piece in raw:
            while True:
                if inflater.eof:  # one stream ended: another may follow, else the rest is kept as it is
                    if not piece:
                        break
                    if not piece.startswith(magic):
                        yield piece
                        yield from raw
                        return
                    inflater = _decompressor(kind)
                try:
                    out = inflater.decompress(piece, _CHUNK)
                except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
                    self.notes.append(f"{kind} data corrupt after {inflated} bytes ({exc}); kept what was read")
                    return
                inflated += len(out)
                if out:
                    yield out
                piece = inflater.unused_data if inflater.eof else b""
                if not inflater.eof and inflater.needs_input:
                    break
        if not inflater.eof:
            self.notes.append(f"{kind} stream truncated after {inflated} bytes; kept what was read")

    def _zip(self, handle: IO[bytes]) -> Iterator[bytes]:
        """Each member of a zip archive in turn (a line never runs from one member into the next)."""
        for _ in self._raw(handle):
            pass
        handle.seek(0)
        try:
            archive = zipfile.ZipFile(handle)
            members = [m for m in archive.infolist() if not m.is_dir()]
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            self.notes.append(f"zip archive unreadable ({exc}); read as it is")
            yield from iter(lambda: handle.read(_CHUNK), b"")
            return
        names = ", ".join(m.filename for m in members)
        self.notes.append(
            f"zip: its single member {names} read"
            if len(members) == 1
            else f"zip: {len(members)} members read in turn ({names})"
        )
        for member in members:
            last = b"\n"
            try:
                with archive.open(member) as stream:
                    while piece := stream.read(_CHUNK):
                        last = piece[-1:]
                        yield piece
            except (
                zipfile.BadZipFile,
                RuntimeError,
                NotImplementedError,
                OSError,
                EOFError,
                zlib.error,
                lzma.LZMAError,
            ) as exc:
                self.notes.append(f"zip member {member.filename} unreadable ({exc}); kept what was read")
            if last not in (b"\n", b"\r"):
                yield b"\n"

    def _text(self) -> Iterator[bytes]:
        """The content as bytes of an ASCII-compatible encoding: UTF-16 and UTF-32 (with a byte
        order mark) are decoded and given as UTF-8."""
        pieces = self._bytes()
        first = next(pieces, b"")
        while len(first) < 4 and (more := next(pieces, b"")):
            first += more
        encoding = next((enc for bom, enc in _BOMS if first.startswith(bom)), None)
        if encoding is None:
            if first:
                yield first
            yield from pieces
            return
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        replaced = 0
        for part in (first, *pieces, None):
            text = decoder.decode(b"", final=True) if part is None else decoder.decode(part)
            replaced += text.count("\ufffd")
            yield text.encode("utf-8", errors="surrogatepass")
        endian = "LE" if first.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF16_LE)) else "BE"
        self.notes.append(
            f"decoded as {encoding.upper()}-{endian} (byte order mark)"
            + (f"; {replaced} undecodable code units replaced by U+FFFD" if replaced else "")
        )

    def _newlines(self) -> Iterator[bytes]:
        """The text with every line end (LF, CRLF, lone CR) as LF."""
        held = b""
        for piece in self._text():
            piece = held + piece
            held = b""
            if b"\r" not in piece:
                yield piece
                continue
            if piece.endswith(b"\r"):  # its LF, if any, is in the next piece
                piece, held = piece[:-1], b"\r"
            yield piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if held:
            yield b"\n"

    # ------------------------------------------------------------------ lines

    def batches(self) -> Iterator[pl.Series]:
        """Decoded lines, about ``batch_bytes`` at a time, each batch ending at a line end."""
        counts = {"nul": 0, "gb18030": 0, "replaced": 0}
        splitter = _Splitter(self.max_line, self.cuts)
        for data in splitter.feed(self._newlines(), self.batch_bytes):
            lines = _decode_lines(data, counts)
            self.lines += len(lines)
            yield lines
        if counts["nul"]:
            self.notes.append("NUL bytes replaced by U+FFFD")
        if counts["gb18030"]:
            self.notes.append(f"{counts['gb18030']} line{'s' * (counts['gb18030'] != 1)} decoded as GB18030")
        if counts["replaced"]:
            self.notes.append(
                f"{counts['replaced']} line{'s' * (counts['replaced'] != 1)} with undecodable bytes replaced by U+FFFD"
            )


class _Splitter:
    """LF-separated bytes to batches of whole lines, each line at most ``cap`` bytes: a longer
    line keeps its first ``cap`` bytes (at a UTF-8 character boundary) and its reason goes to
    ``cuts`` under its line number. Only one partial line, of at most ``cap`` bytes, is held."""

    def __init__(self, cap: int, cuts: dict[int, str]):
        self.cap, self.cuts = cap, cuts
        self.done = 0  # lines completed
        self.partial: list[bytes] = []
        self.kept = 0  # bytes held in partial
        self.length = 0  # full length of the partial line
        self.batch: list[bytes] = []
        self.held = 0

    def feed(self, pieces: Iterator[bytes], batch_bytes: int) -> Iterator[bytes]:
        """Batches of about ``batch_bytes`` (each ending at an LF but the last, which may not)."""
        for piece in pieces:
            first = piece.find(b"\n")
            if first < 0:
                self._grow(piece)
                continue
            self._grow(piece[:first])
            self._end_line()
            last = piece.rfind(b"\n")
            if last > first:
                self._body(piece[first + 1 : last + 1])
            self._grow(piece[last + 1 :])
            if self.held >= batch_bytes:
                yield self._take()
        if self.length:
            self._end_line(final=True)
        if self.batch:
            yield self._take()

    def _take(self) -> bytes:
        data = b"".join(self.batch)
        self.batch, self.held = [], 0
        return data

    def _add(self, data: bytes, lines: int) -> None:
        self.batch.append(data)
        self.held += len(data)
        self.done += lines

    def _grow(self, data: bytes) -> None:
        if self.kept < self.cap and data:
            part = data[: self.cap - self.kept]
            self.partial.append(part)
            self.kept += len(part)
        self.length += len(data)

    def _end_line(self, final: bool = False) -> None:
        line = b"".join(self.partial)
        if self.length > self.cap:
            line = _utf8_cut(line)
            self.cuts[self.done + 1] = cut_reason(self.length, self.cap)
        self._add(line if final else line + b"\n", 1)
        self.partial, self.kept, self.length = [], 0, 0

    def _body(self, body: bytes) -> None:
        """Whole lines (``body`` ends with LF); any longer than the cap is cut."""
        if len(body) <= self.cap:
            self._add(body, body.count(b"\n"))
            return
        ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10)
        starts = np.concatenate([[0], ends[:-1] + 1])
        at = taken = 0  # bytes and lines of body added
        for i in np.flatnonzero(ends - starts > self.cap).tolist():
            start, end = int(starts[i]), int(ends[i])
            if start > at:
                self._add(body[at:start], i - taken)
            self._grow(body[start:end])
            self._end_line()
            at, taken = end + 1, i + 1
        if at < len(body):
            self._add(body[at:], len(ends) - taken)


def _utf8_cut(line: bytes) -> bytes:
    """``line`` without a UTF-8 character cut at its end."""
    back = 0
    while back < 3 and back < len(line) and 0x80 <= line[-1 - back] < 0xC0:
        back += 1
    if back == len(line) or line[-1 - back] < 0xC0:
        return line
    lead = line[-1 - back]
    needed = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return line if back + 1 >= needed else line[: len(line) - back - 1]


def _decode(raw: bytes) -> tuple[str, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), "replaced"


def _decode_lines(data: bytes, counts: dict[str, int]) -> pl.Series:
    """Decode LF-separated ``data`` into lines; a final line without LF counts, a final LF does not.

    ASCII lines become an Arrow string column without passing through Python; lines with
    other bytes are decoded one by one (UTF-8, else GB18030, else UTF-8 with replacements).
    """
    if not data:
        return pl.Series("text", [], dtype=pl.String)
    if b"\x00" in data:
        counts["nul"] += 1
        data = data.replace(b"\x00", "\ufffd".encode())
    raw = np.frombuffer(data, dtype=np.uint8)
    starts = np.flatnonzero(raw == 10) + 1
    starts = np.concatenate([[0], starts[starts < len(data)]]).astype(np.int64)
    offsets = np.append(starts, len(data)).astype(np.int64)
    high = np.zeros(len(starts), dtype=bool)  # lines holding a non-ASCII byte
    high[np.searchsorted(starts, np.flatnonzero(raw >= 0x80), side="right") - 1] = True
    valid = pa.py_buffer(np.packbits(~high, bitorder="little")) if high.any() else None
    ascii_lines = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data), valid)
    text = pl.Series("text", ascii_lines).str.strip_suffix("\n")
    if high.any():
        where = np.flatnonzero(high)
        decoded = []
        for i in where.tolist():
            line, how = _decode(data[offsets[i] : offsets[i + 1]].rstrip(b"\n"))
            if how:
                counts[how] += 1
            decoded.append(line)
        text = text.scatter(where, pl.Series(decoded, dtype=pl.String))
    return text


def read_input(path: str | Path, max_line: int = MAX_LINE) -> RawInput:
    """Read and decode one whole file; raises InputError when it cannot be opened."""
    reader = Reader(path, max_line=max_line)
    lines = [line for batch in reader.batches() for line in batch.to_list()]
    return RawInput(reader.path, reader.sha256, reader.size, lines, reader.notes, reader.mtime, reader.cuts)
