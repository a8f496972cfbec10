"""Reading an input: bytes on disk to decoded lines, with nothing dropped.

gzip is detected by its magic bytes and a truncated stream keeps what was read; each line is
UTF-8, else GB18030 (Chinese terminals), else UTF-8 with replacement characters, and says so;
CRLF and lone CR line ends are removed; NUL bytes become U+FFFD.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

_CHUNK = 1 << 20
#: Longest line parsed; a longer one is kept whole in `unparsed`.
MAX_LINE = 1 << 20


class InputError(Exception):
    """An input cannot be read at all (missing, a directory, no permission)."""


@dataclass
class RawInput:
    """One input file as read: its decoded lines and what was noticed on the way."""

    path: str
    sha256: str
    size: int
    lines: list[str]
    notes: list[str] = field(default_factory=list)
    mtime: float = 0.0


class Reader:
    """One input read in batches of whole lines: gzip inflated as it streams, nothing dropped.

    ``batches()`` yields lists of decoded lines; ``sha256``, ``size`` and ``notes`` are complete
    once it is exhausted.
    """

    def __init__(self, path: str | Path, batch_bytes: int = 64 << 20):
        self.path = str(path)
        self.batch_bytes = batch_bytes
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

    def _bytes(self) -> Iterator[bytes]:
        """The file's content, inflated when it is gzip, in pieces."""
        digest = hashlib.sha256()
        inflater: Any = None
        inflated = 0
        broken = False
        with self._handle as handle:
            while piece := handle.read(_CHUNK):
                digest.update(piece)
                self.size += len(piece)
                if broken:
                    continue
                if self.size == len(piece) and piece[:2] == b"\x1f\x8b":
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                if inflater is None:
                    yield piece
                    continue
                while piece:
                    try:
                        out = inflater.decompress(piece)
                    except zlib.error as exc:
                        self.notes.append(f"gzip data corrupt after {inflated} bytes ({exc}); kept what was read")
                        broken = True
                        break
                    inflated += len(out)
                    yield out
                    piece = b""
                    if inflater.eof:  # concatenated gzip members
                        rest = inflater.unused_data
                        if rest[:2] == b"\x1f\x8b":
                            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                            piece = rest
                        elif rest:
                            inflater = None
                            yield rest
        if inflater is not None and not inflater.eof and not broken:
            self.notes.append(f"gzip stream truncated after {inflated} bytes; kept what was read")
        self.sha256 = digest.hexdigest()

    def batches(self) -> Iterator[pl.Series]:
        """Decoded lines, about ``batch_bytes`` at a time, each batch ending at a line end."""
        counts = {"nul": 0, "gb18030": 0, "replaced": 0}
        pending = b""
        buffer: list[bytes] = []
        held = 0
        for piece in self._bytes():
            buffer.append(piece)
            held += len(piece)
            if held < self.batch_bytes:
                continue
            data = pending + b"".join(buffer)
            cut = data.rfind(b"\n") + 1
            buffer, held = [], 0
            if cut == 0:
                pending = data
                continue
            pending = data[cut:]
            lines = _decode_lines(data[:cut], counts)
            self.lines += len(lines)
            yield lines
        data = pending + b"".join(buffer)
        if data:
            lines = _decode_lines(data, counts)
            self.lines += len(lines)
            yield lines
        if counts["nul"]:
            self.notes.append("NUL bytes replaced by U+FFFD")
        if counts["gb18030"]:
            self.notes.append(f"{counts['gb18030']} lines decoded as GB18030")
        if counts["replaced"]:
            self.notes.append(f"{counts['replaced']} lines with undecodable bytes replaced by U+FFFD")


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
    """Decode ``data`` into lines; a final line without newline counts, a final newline does not.

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
    text = pl.Series("text", ascii_lines).str.strip_suffix("\n").str.strip_suffix("\r")
    if high.any():
        where = np.flatnonzero(high)
        decoded = []
        for i in where.tolist():
            line, how = _decode(data[offsets[i]:offsets[i + 1]].rstrip(b"\n"))
            if how:
                counts[how] += 1
            decoded.append(line.removesuffix("\r"))
        text = text.scatter(where, pl.Series(decoded, dtype=pl.String))
    return text


def read_input(path: str | Path) -> RawInput:
    """Read and decode one whole file; raises InputError when it cannot be opened."""
    reader = Reader(path)
    lines = [line for batch in reader.batches() for line in batch.to_list()]
    return RawInput(reader.path, reader.sha256, reader.size, lines, reader.notes, reader.mtime)
