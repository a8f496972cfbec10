"""What an analysis could see: per input its format and counts, and which sides of a charge were checked.

A charge has three witnesses: the terminal (what the merchant saw), the acquirer host (what it
answered) and the clearing file (what was settled). An answer is only as good as the witnesses
it heard, so every command states them: "no fault found" with no clearing file means settlement
was not checked, not that it matched. An input that yields no event at all (an empty file, a
binary, a README given as a log) is named, never silently counted as checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from forensics.timeline import HOST_ZONE_SOURCE, Timeline, utc_offset

#: the clock note ingest writes for a log without a zone; coverage says it once for all inputs
_ASSUMED_UTC = "no time zone in the log"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 boot``, ``2 boots``; ``many`` for an irregular plural."""
    return f"{count} {word if count == 1 else many or word + 's'}"


#: names of files that are documents about a case rather than logs of it
_DOCUMENT = re.compile(r"(?i)^(readme|truth|notes?|license|changelog)\b|\.(md|rst|json|html?|pdf|docx?|xlsx?)$")
_UNDECODABLE = re.compile(r"(\d+) lines? with undecodable bytes")
_SNIFF = 64 * 1024


def _sniffed_binary(path: str) -> bool | None:
    """Whether the start of the file at ``path`` is binary (a NUL byte, or not UTF-8 in most of it);
    None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF)
    except OSError:
        return None
    if b"\0" in head:
        return True
    text = head.decode("utf-8", errors="replace")
    return text.count("\ufffd") > len(text) / 10


def no_event_reason(path: str, size: int | None, lines: int | None, notes: str | None = None) -> str:
    """What an input that yielded no event is, in words: ``an empty file (0 bytes)``, ``a binary file, not
    text``, ``text with no line in a log format this tool reads (377 lines; README.md is a document, not a
    log)``. ``notes`` are ingest's notes on its decoding; without them the file's start is read."""
    if size == 0:
        return "an empty file (0 bytes)"
    if not lines:
        return f"no line in it ({plural(size or 0, 'byte')})"
    if notes is not None:
        undecodable = _UNDECODABLE.search(notes)
        binary = "NUL bytes" in notes or (undecodable is not None and int(undecodable.group(1)) * 2 >= lines)
    else:
        binary = bool(_sniffed_binary(path))
    if binary:
        return "a binary file, not text"
    name = Path(path).name
    document = f"; {name} looks like a document, not a log" if _DOCUMENT.search(name) else ""
    return f"text with no line in a log format this tool reads ({plural(lines, 'line')}{document})"


def input_lines(inputs: pl.DataFrame) -> list[str]:
    """One line per row of an inputs table (``Loaded.inputs``): its format, lines parsed and
    unparsed and notes; an input that yielded no event says so as a warning, naming what it is
    (``no_event_reason``)."""
    out = []
    for row in inputs.iter_rows(named=True):
        counts = f"{plural(row['lines'], 'line')}: {row['parsed']} parsed, {row['unparsed']} unparsed"
        line = f"{Path(row['path']).name}: {row['format'] or 'unknown format'}, {counts}"
        if row["parsed"] == 0:
            what = no_event_reason(row["path"], row.get("bytes"), row["lines"], row["notes"] or "")
            line += f"; warning: no events in it: {what}; nothing checked from it"
        elif row["notes"]:
            line += f" ({row['notes']})"
        out.append(line)
    return out


@dataclass(frozen=True)
class Coverage:
    """The inputs of an analysis and what they allowed it to check.

    ``inputs``: path, bytes, format (null: unknown), lines, parsed, unparsed, notes (ingest's notes
    without the assumed-zone note, which ``assumed_utc`` lists once). ``checked`` and
    ``not_checked`` are phrases such as "settlement (no clearing file)"; ``zones``: (path, zone)
    of the inputs whose local times were read in a zone other than UTC.
    """

    inputs: pl.DataFrame
    checked: tuple[str, ...]
    not_checked: tuple[str, ...]
    assumed_utc: tuple[str, ...]
    zones: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> list[str]:
        """Paths of the inputs that yielded no event."""
        return self.inputs.filter(pl.col("parsed") == 0)["path"].to_list()

    def input_lines(self) -> list[str]:
        """One line per input (see `input_lines`)."""
        return input_lines(self.inputs)

    def sentence(self) -> str:
        """What was checked and what was not, in one sentence."""
        said = "Checked: " + ("; ".join(self.checked) if self.checked else "nothing") + "."
        if self.not_checked:
            said += " Not checked: " + "; ".join(self.not_checked) + "."
        return said

    def zone_note(self) -> str | None:
        """The one note on logs read as UTC for want of a zone, or None."""
        if not self.assumed_utc:
            return None
        names = ", ".join(Path(p).name for p in self.assumed_utc)
        return f"no time zone in {names}: local times read as UTC (give --tz FILE=ZONE if they are not)"


def coverage(tl: Timeline) -> Coverage:
    """What the inputs of ``tl`` allowed an analysis to check (see the module docstring)."""
    inputs = tl.loaded.inputs
    inferred = {
        path: (offset, items)
        for path, offset, items in tl.clocks.filter(
            pl.col("segment").is_null(), pl.col("source").str.starts_with(HOST_ZONE_SOURCE)
        )
        .select("path", "skew_s", "matches")
        .unique("path", keep="first", maintain_order=True)
        .iter_rows()
    }
    assumed = [p for p in inputs.filter(pl.col("tz_assumed").fill_null(False))["path"] if p not in inferred]
    notes = [
        "; ".join(
            [part for part in (row or "").split("; ") if part and not part.startswith(_ASSUMED_UTC)]
            + ([_zone_from_clearing(*inferred[path])] if path in inferred else [])
        )
        or None
        for path, row in inputs.select("path", "notes").iter_rows()
    ]
    table = inputs.select("path", "bytes", "format", "lines", "parsed", "unparsed").with_columns(
        notes=pl.Series(notes, dtype=pl.String)
    )
    checked: list[str] = []
    not_checked: list[str] = []
    devices, txns = tl.devices.height, tl.transactions.height
    if devices:
        checked.append(f"the terminal side ({plural(txns, 'transaction')} on {plural(devices, 'device')})")
    else:
        not_checked.append("the terminal side (no terminal log)")
    if tl.host.height:
        checked.append(f"the host side ({plural(tl.host.height, 'host request')})")
    else:
        not_checked.append("the host side (no host log)")
    if tl.settlement.height:
        checked.append(f"settlement ({plural(tl.settlement.height, 'cleared item')})")
    else:
        not_checked.append("settlement (no clearing file)")
    for path in table.filter(pl.col("parsed") == 0)["path"]:
        not_checked.append(f"{Path(path).name} (no events in it)")
    zoned = inputs.filter(~pl.col("tz_assumed").fill_null(False), pl.col("tz").is_not_null(), pl.col("tz") != "UTC")
    zones = tuple(zoned.select("path", "tz").iter_rows()) + tuple(
        (path, f"UTC{utc_offset(offset)}") for path, (offset, _) in inferred.items()
    )
    return Coverage(table, tuple(checked), tuple(not_checked), tuple(assumed), zones)


def _zone_from_clearing(offset: float, items: int) -> str:
    """The input note of a host log whose zone the clearing file gave."""
    return (
        f"no time zone in the log: UTC{utc_offset(offset)}, from the capture times of {plural(items, 'online item')}"
        " in the clearing file (give --tz to override)"
    )
