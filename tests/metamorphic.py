"""Transformations of a case's inputs that must not change its findings, for the metamorphic tests.

A ``CaseInputs`` is what an analyst is handed: files (name -> bytes, in the order given), the
role of each (terminal, host or settlement) and, for simulated samples, each terminal log's
zone. Each transformation returns new inputs and, where it renames devices, the mapping back,
so findings before and after compare as ``fingerprint``s: kind, cause and the set of
(device, STAN as a number) and RRN keys of every finding.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from forensics.analysis import diagnose

ROLES = ("terminal", "host", "settlement")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# the timestamp at the start of a terminal log line, in the envelopes of spec/terminal-logs.md
_LOGCAT = re.compile(rb"^(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?=\.\d)")
_LOGCAT_YEAR = re.compile(rb"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?=\.\d)")
_SYSLOG = re.compile(
    rb"^(<\d{1,3}>)?(" + b"|".join(m.encode() for m in MONTHS) + rb") ([ 0]\d|\d\d) "
    rb"(\d\d):(\d\d):(\d\d)(?=[. ])"
)
# a line of the payment app that carries a transaction key (reference dialect, spec section 2)
_TXN_LINE = re.compile(rb"\b(stan|inv)=\d")
# a line of payment activity: a transaction key, an ISO 8583 message or a host connection (spec 2.2)
_ACTIVITY = re.compile(rb"\b(stan|inv)=\d|\b[TR]X \d{4} |\bCONNECT host=")
# the year of a case's dated anchor: a settlement date, a jPOS ISO `at` or a Date.toString()+.ms stamp
_ANCHOR = re.compile(
    rb"^(\d{4})-\d\d-\d\d,|at=\"(\d{4})-\d\d-\d\dT|at=\"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d [\d:]{8} "
    rb"\S+ (\d{4})",
    re.M,
)


@dataclass(frozen=True)
class CaseInputs:
    """A case's input files, in the order given, with their roles and zones."""

    files: dict[str, bytes]
    roles: dict[str, str]
    zones: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: Path) -> CaseInputs:
        """A labelled case (../shared/cases layout) or a simulated sample (sample_logs/, zones from truth.json)."""
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        if "devices" in truth:  # a simulated sample
            roles = {d["file"]: "terminal" for d in truth["devices"]}
            roles[truth["host"]["file"]] = "host"
            roles.update({name: "settlement" for name in truth["settlement"]})
            zones = {d["file"]: d["tz"] for d in truth["devices"]}
        else:
            names = truth["files"]
            roles = {
                n: "host" if n == "host.log" else "settlement" if n.endswith(".csv") else "terminal" for n in names
            }
            zones = {}
        order = sorted(roles, key=lambda n: (ROLES.index(roles[n]), n))
        return cls({n: (folder / n).read_bytes() for n in order}, roles, zones)

    def year(self) -> int:
        """The year of the case's first dated anchor (settlement or host log); 2001 when it has none."""
        for name in self.named("settlement") + self.named("host"):
            if m := _ANCHOR.search(self.files[name]):
                return int(next(g for g in m.groups() if g))
        return 2001

    def named(self, role: str) -> list[str]:
        """File names of one role, in the order given."""
        return [n for n in self.files if self.roles[n] == role]

    def write(self, folder: Path) -> list[Path]:
        """Write the files into ``folder``; their paths in the order given."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (folder / name).write_bytes(data)
        return [folder / n for n in self.files]


def findings(case: CaseInputs, folder: Path) -> list[dict[str, Any]]:
    """Diagnose the case's files (written into ``folder``) through the library; the findings."""
    paths = case.write(folder)
    document = json.loads(diagnose([str(p) for p in paths], tz=case.zones or None, card_key="metamorphic").to_json())
    return document["findings"]


Fingerprint = tuple[str, str, frozenset[tuple[str, ...]]]


def fingerprint(
    found: list[dict[str, Any]], *, devices: dict[str, str] | None = None, rrn: bool = True
) -> Counter[Fingerprint]:
    """The findings as a multiset of (kind, cause, keys); keys are ("ds", DEVICE, STAN number) and,
    with ``rrn``, ("rrn", RRN); ``devices`` maps device names back (after a rename)."""
    devices = devices or {}
    out: Counter[Fingerprint] = Counter()
    for f in found:
        keys: set[tuple[str, ...]] = set()
        for t in f["transactions"]:
            if t.get("device") and t.get("stan") and str(t["stan"]).isdigit():
                device = devices.get(t["device"], t["device"])
                keys.add(("ds", device.upper(), str(int(t["stan"]))))
            if rrn and t.get("rrn"):
                keys.add(("rrn", str(t["rrn"])))
        out[(f["kind"], f["cause"], frozenset(keys))] += 1
    return out


# -- transformations ----------------------------------------------------------------------


def drop(case: CaseInputs, role: str) -> CaseInputs:
    """Without the inputs of one role (host or settlement)."""
    return replace(case, files={n: d for n, d in case.files.items() if case.roles[n] != role})


def reorder(case: CaseInputs) -> CaseInputs:
    """The same files given in the reverse order."""
    return replace(case, files=dict(reversed(case.files.items())))


def _lines(data: bytes) -> list[bytes]:
    """Lines with their endings (CRLF kept)."""
    return data.splitlines(keepends=True)


def stamp(line: bytes, year: int) -> datetime | None:
    """The time of a line's leading logcat (threadtime or ``-v year``) or BSD syslog stamp (``year`` for year-less
    ones); None for a line without one."""
    if m := _LOGCAT_YEAR.match(line):
        return datetime(*map(int, m.groups()))
    if m := _LOGCAT.match(line):
        return datetime(year, *map(int, m.groups()))
    if m := _SYSLOG.match(line):
        _, month, day, hh, mm, ss = m.groups()
        return datetime(year, MONTHS.index(month.decode()) + 1, int(day), int(hh), int(mm), int(ss))
    return None


def shift_stamp(line: bytes, delta: timedelta, year: int) -> bytes:
    """``line`` with its leading stamp (as ``stamp``) moved by ``delta`` in the same layout; months, days and years
    roll over; a line without a stamp is returned as is."""
    t = stamp(line, year)
    if t is None:
        return line
    t += delta
    if m := _LOGCAT_YEAR.match(line):
        return t.strftime("%Y-%m-%d %H:%M:%S").encode() + line[m.end() :]
    if m := _LOGCAT.match(line):
        return t.strftime("%m-%d %H:%M:%S").encode() + line[m.end() :]
    m = _SYSLOG.match(line)
    assert m is not None
    pri, _, day = m.group(1, 2, 3)
    pad = b"0" if day.startswith(b"0") else b" "
    text = f"{MONTHS[t.month - 1]} ".encode() + (b"%2d" % t.day).replace(b" ", pad) + t.strftime(" %H:%M:%S").encode()
    return (pri or b"") + text + line[m.end() :]


def shift_clock(case: CaseInputs, minutes: int) -> CaseInputs:
    """The first terminal's clock ``minutes`` off: every stamp of its log moved (the host clock is the reference)."""
    name = case.named("terminal")[0]
    delta = timedelta(minutes=minutes)
    year = case.year()
    data = b"".join(shift_stamp(line, delta, year) for line in _lines(case.files[name]))
    return replace(case, files={**case.files, name: data})


def duplicate_lines(case: CaseInputs) -> CaseInputs:
    """Every transaction line (one carrying a STAN or invoice number) of every terminal log written twice in a row."""
    files = dict(case.files)
    for name in case.named("terminal"):
        files[name] = b"".join(line + line if _TXN_LINE.search(line) else line for line in _lines(files[name]))
    return replace(case, files=files)


def _cut(lines: list[bytes]) -> int:
    """A line index near the middle where a rotation can cut: not inside a multi-line record."""
    middle = len(lines) // 2
    for i in range(middle, len(lines)):
        if (
            lines[i][:1] not in (b" ", b"\t")
            and (i + 1 == len(lines) or lines[i + 1][:1] not in (b" ", b"\t"))
            and lines[i - 1][:1] not in (b" ", b"\t")
        ):
            return i
    return middle


def split_rotated(case: CaseInputs) -> CaseInputs:
    """The first terminal's log rotated in two, as logrotate leaves it: ``X.log.1`` the older half, ``X.log`` the
    newer (the device is named by its TMS line in the older half, else by its syslog HOST or the file stem)."""
    name = case.named("terminal")[0]
    lines = _lines(case.files[name])
    cut = _cut(lines)
    older = f"{name}.1"
    files: dict[str, bytes] = {}
    for n, d in case.files.items():
        if n == name:
            files[older] = b"".join(lines[:cut])
            files[n] = b"".join(lines[cut:])
        else:
            files[n] = d
    zones = {**case.zones, older: case.zones[name]} if name in case.zones else case.zones
    return CaseInputs(files, {**case.roles, older: "terminal"}, zones)


def quiet_day_before(case: CaseInputs) -> CaseInputs:
    """Two days in one log: the log of the terminal in service first (earliest stamp) preceded by a day on which it
    booted and took no payment (its own lines before its first payment activity, one day earlier)."""
    year = case.year()

    def first(name: str) -> datetime:
        return next((t for line in _lines(case.files[name]) if (t := stamp(line, year))), datetime.max)

    name = min(case.named("terminal"), key=first)
    lines = _lines(case.files[name])
    start = next((i for i, line in enumerate(lines) if _ACTIVITY.search(line)), len(lines))
    boot = [line for line in lines[:start] if stamp(line, year)]
    day_before = b"".join(shift_stamp(line, timedelta(days=-1), year) for line in boot)
    if day_before and not day_before.endswith(b"\n"):
        day_before += b"\n"
    return replace(case, files={**case.files, name: day_before + case.files[name]})


def rename_devices(case: CaseInputs) -> tuple[CaseInputs, dict[str, str]]:
    """Every terminal serial (its log's file stem) renamed in file names and contents; (inputs, new -> old)."""
    old = [Path(n).name.split(".")[0] for n in case.named("terminal")]
    new = {s: f"RN{zlib.crc32(s.encode()) % 100:02d}-{i:04d}" for i, s in enumerate(old, start=1)}
    pattern = re.compile(
        rb"(?<![A-Za-z0-9])("
        + b"|".join(re.escape(s.encode()) for s in sorted(old, key=len, reverse=True))
        + rb")(?![A-Za-z0-9])"
    )

    def renamed(name: str) -> str:
        stem, dot, rest = name.partition(".")
        return new.get(stem, stem) + dot + rest

    files = {renamed(n): pattern.sub(lambda m: new[m.group(1).decode()].encode(), d) for n, d in case.files.items()}
    roles = {renamed(n): r for n, r in case.roles.items()}
    zones = {renamed(n): z for n, z in case.zones.items()}
    return CaseInputs(files, roles, zones), {v: k for k, v in new.items()}
