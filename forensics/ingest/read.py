"""Reading an input: bytes on disk to decoded lines, with nothing dropped.

gzip is detected by its magic bytes and a truncated stream keeps what was read; each line is
UTF-8, else GB18030 (Chinese terminals), else UTF-8 with replacement characters, and says so;
CRLF and lone CR line ends are removed; NUL bytes become U+FFFD.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

_CHUNK = 1 << 20


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


def _decompress(data: bytes, notes: list[str]) -> bytes:
    out: list[bytes] = []
    rest = data
    while rest[:2] == b"\x1f\x8b":  # concatenated gzip members
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out.append(inflater.decompress(rest))
        except zlib.error as exc:
            notes.append(f"gzip data corrupt after {sum(map(len, out))} bytes ({exc}); kept what was read")
            break
        if not inflater.eof:
            notes.append(f"gzip stream truncated after {sum(map(len, out))} bytes; kept what was read")
            break
        rest = inflater.unused_data
    return b"".join(out)


def _decode(raw: bytes) -> tuple[str, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), "replaced"


def read_input(path: str | Path) -> RawInput:
    """Read and decode one file; raises InputError when it cannot be opened."""
    p = Path(path)
    try:
        data = p.read_bytes()
        mtime = p.stat().st_mtime
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    notes: list[str] = []
    sha = hashlib.sha256(data).hexdigest()
    size = len(data)
    if data[:2] == b"\x1f\x8b":
        data = _decompress(data, notes)
    lines = split_lines(data, notes)
    return RawInput(str(path), sha, size, lines, notes, mtime)


def split_lines(data: bytes, notes: list[str]) -> list[str]:
    """Decode ``data`` into lines; a final line without newline counts, a final newline does not."""
    if not data:
        return []
    if b"\x00" in data:
        notes.append("NUL bytes replaced by U+FFFD")
        data = data.replace(b"\x00", "\ufffd".encode())
    try:
        text = data.decode("utf-8")
        lines = text.split("\n")
    except UnicodeDecodeError:
        lines = []
        fallback = {"gb18030": 0, "replaced": 0}
        for raw in data.split(b"\n"):
            line, how = _decode(raw)
            if how:
                fallback[how] += 1
            lines.append(line)
        if fallback["gb18030"]:
            notes.append(f"{fallback['gb18030']} lines decoded as GB18030")
        if fallback["replaced"]:
            notes.append(f"{fallback['replaced']} lines with undecodable bytes replaced by U+FFFD")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
