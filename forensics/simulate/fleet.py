"""A simulated fleet: many merchants with several lanes each, one acquirer host, daily clearing files.

``simulate_fleet(out, merchants, seed)`` writes, deterministic from the seed whatever the number
of worker processes:

- ``terminals/M<merchant>/<serial>.log``: one log per terminal (Android logcat or Linux syslog, a
  mix of lane counts, models and app versions; the TMS identity line names the ``model``);
- ``host/acquirer-host.log``: the acquirer's jPOS log covering every terminal, in time order;
- ``settlement/settlement-<date>.csv``: the clearing file of each day, every merchant's rows;
- ``truth.json``: the injected findings (the form ``benchmarks/scoring.py`` scores), the devices,
  the files and their record counts; ``README.md``.

Most merchants trade clean days. A few are incident merchants: a scenario family of
``forensics/simulate/families.py`` scripts their day, so their truth is the family's own.
Identifiers are distinct across merchants (serials, TIDs, MIDs, RRNs); only an incident shares
them on purpose (a replacement terminal takes the old one's TID). Memory is bounded by one
merchant: each merchant is simulated alone (in a worker process when ``workers`` > 1), its logs
written as soon as it is done, its host blocks and clearing rows kept in sorted chunk files that
a heap merge then joins into the one host log and the daily clearing files.
"""

from __future__ import annotations

import heapq
import json
import multiprocessing
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from forensics.simulate import ROLES, _device_bytes, _lifecycle
from forensics.simulate import terminal as T
from forensics.simulate.families import FAMILIES
from forensics.simulate.world import Device, Host, World

__all__ = ["LANES", "MODELS", "FleetWorld", "simulate_fleet"]

# Lanes per merchant and how often: most shops have one or two, a few supermarkets a dozen.
LANES: dict[int, float] = {1: 0.30, 2: 0.25, 3: 0.15, 4: 0.10, 6: 0.10, 8: 0.06, 12: 0.04}
# Terminal models by platform, with their share of the platform.
MODELS: dict[str, dict[str, float]] = {
    "android": {"A920": 0.5, "A77": 0.2, "P2": 0.3},
    "linux": {"V400M": 0.6, "V240M": 0.4},
}
ANDROID_SHARE = 0.65
WIDE_SHARE = 0.25  # merchants whose days carry the noise of real shops (World.wide)
MAX_MERCHANTS = 9999  # merchant numbers are 4 digits in RRNs and serials
_FANIN = 200  # files a merge step holds open at once


class FleetHost(Host):
    """The acquirer host as one merchant sees it: RRNs carry the merchant number, so no two merchants share one."""

    def __init__(self, rng: random.Random, merchant: int) -> None:
        super().__init__(rng)
        self.merchant = merchant

    def rrn(self, t: datetime) -> str:
        """``YDDD`` + merchant (4 digits) + sequence (4 digits): 12 characters, unique within a day."""
        self.seq += 1
        return t.strftime("%y%j")[1:] + f"{self.merchant:04d}{self.seq % 10000:04d}"


class FleetWorld(World):
    """A merchant of the fleet: its own MID, RRN space, serials and TIDs, numbered by ``merchant``."""

    def __init__(self, seed: int, merchant: int, *, cur: str, tz: str, start: datetime, wide: bool = False) -> None:
        super().__init__(seed, cur=cur, tz=tz, start=start, wide=wide)
        self.merchant = merchant
        self.host = FleetHost(self.rng, merchant)
        self.mid = f"{merchant:015d}"  # a leading 0: no card number starts so, no MID a family draws is this small
        self.models: list[str] = []  # the models the next devices take, in order (clean merchants)

    def device(self, serial: str, *, android: bool = True, tid: str | None = None, **kw: Any) -> Device:
        """A terminal numbered in this merchant: serial ``<model>-<merchant><lane>``, TID ``T<merchant><lane>``
        unless the script gives one (a replacement under the old TID)."""
        lane = len(self.devices) + 1
        model = self.models.pop(0) if self.models else serial.split("-")[0]
        dev = super().device(
            f"{model}-{self.merchant:04d}{lane:02d}",
            android=android,
            tid=tid or f"T{self.merchant:05d}{lane:02d}",
            **kw,
        )
        dev.model = model
        return dev


@dataclass
class _Merchant:
    """What a merchant's simulation hands back to the parent: metadata and the chunk files."""

    index: int
    devices: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    malformed: list[dict[str, Any]]
    duplicated: list[dict[str, Any]]
    family: str | None
    terminal_lines: int
    host_blocks: int
    clearing_rows: int
    host_chunk: str
    clearing_chunk: str


def _weighted(rng: random.Random, table: dict[Any, float]) -> Any:
    keys = list(table)
    return rng.choices(keys, weights=[table[k] for k in keys])[0]


def _clean_days(w: FleetWorld, lanes: int, days: int) -> None:
    """``days`` ordinary trading days on ``lanes`` terminals: open, trade, settle each lane, then clearing."""
    rng = w.rng
    platforms = [rng.random() < ANDROID_SHARE for _ in range(lanes)]
    w.models = [_weighted(rng, MODELS["android" if a else "linux"]) for a in platforms]
    devices = [w.device("", android=a) for a in platforms]
    zone = ZoneInfo(w.tz)
    first = w.start.astimezone(zone)
    for day in range(days):
        date = first + timedelta(days=day)
        opening = datetime(date.year, date.month, date.day, 8, rng.randint(0, 45), tzinfo=zone).astimezone(UTC)
        hours = rng.uniform(8, 12)
        closed = opening
        for dev in devices:
            t = T.s(opening, rng.uniform(0, 600))
            if day == 0 or rng.random() < 0.3:  # switched on that morning
                t = T.identify(dev, t)
            _, t = T.busy_hours(dev, t, hours, per_hour=w.traffic)
            t = T.settle(dev, T.s(t, rng.uniform(30, 600)), upload_first=w.wide and rng.random() < 0.2)
            closed = max(closed, t)
        w.host.clear(T.s(closed, 60))


def _merchant(job: tuple[int, int, int, str | None, str, str, str, str]) -> _Merchant:
    """Simulate merchant ``index`` (clean days, or ``family``'s incident day) and write its files."""
    index, seed, days, family, cur, tz, start_iso, out = job
    rng = random.Random(f"fleet:{seed}:{index}")
    start = datetime.fromisoformat(start_iso)
    root = Path(out)
    findings: list[dict[str, Any]] = []
    if family is None:
        w = FleetWorld(rng.randrange(2**32), index, cur=cur, tz=tz, start=start, wide=rng.random() < WIDE_SHARE)
        _clean_days(w, _weighted(rng, LANES), days)
    else:
        fam = FAMILIES[family]
        day = T.s(start, 86400 * rng.randrange(max(1, days - 1)))
        w = FleetWorld(rng.randrange(2**32), index, cur=cur, tz=tz, start=day, wide=fam.wide)
        raw, _story = fam.script(w)
        findings = [
            {
                **f,
                "merchant": index,
                "family": family,
                "transactions": [_lifecycle(t, w, ROLES) for t in f["transactions"]],
            }
            for f in raw
        ]
    folder = root / "terminals" / f"M{index:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    noise = random.Random(w.seed * 31 + 5)
    devices: list[dict[str, Any]] = []
    malformed: list[dict[str, Any]] = []
    duplicated: list[dict[str, Any]] = []
    terminal_lines = 0
    for dev in w.devices:
        name = f"terminals/M{index:04d}/{dev.serial}.log"
        data, bad, dups = _device_bytes(dev, noise, name, True, w.wide)
        (root / name).write_bytes(data)
        terminal_lines += data.count(b"\n")
        malformed += bad
        duplicated += dups
        devices.append(
            {
                "merchant": index,
                "serial": dev.serial,
                "tid": dev.tid,
                "mid": dev.mid,
                "model": dev.model,
                "app": dev.app,
                "file": name,
                "format": "logcat" if dev.android else "syslog",
                "style": dev.style,
                "tz": dev.tz,
                "skew_s": round(dev.skew_s, 3),
            }
        )
    chunks = root / ".chunks"
    host_chunk = chunks / f"host-{index:04d}.jsonl"
    blocks = sorted(w.host.lines, key=lambda x: (x[0], x[1]))
    with host_chunk.open("w", encoding="utf-8") as fh:
        for t, n, text in blocks:
            fh.write(json.dumps([t.astimezone(UTC).isoformat(), index, n, text]) + "\n")
    clearing_chunk = chunks / f"clearing-{index:04d}.jsonl"
    rows = 0
    with clearing_chunk.open("w", encoding="utf-8") as fh:
        for date in sorted({d for d, _ in w.host.cleared}):
            for row in w.host.settlement_rows(date)[1:]:
                fh.write(json.dumps([date, row]) + "\n")
                rows += 1
    return _Merchant(
        index,
        devices,
        findings,
        malformed,
        duplicated,
        family,
        terminal_lines,
        len(blocks),
        rows,
        str(host_chunk),
        str(clearing_chunk),
    )


def _records(path: str) -> Iterator[tuple[str, int, int, str]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            ts, merchant, n, text = json.loads(line)
            yield ts, merchant, n, text


def _merge(paths: list[str], target: Path, scratch: Path) -> None:
    """Heap-merge time-sorted chunk files into the host log, at most ``_FANIN`` files open at once."""
    level = 0
    while len(paths) > _FANIN:
        merged = []
        for i in range(0, len(paths), _FANIN):
            part = scratch / f"merge-{level}-{i // _FANIN}.jsonl"
            with part.open("w", encoding="utf-8") as fh:
                for record in heapq.merge(*(_records(p) for p in paths[i : i + _FANIN])):
                    fh.write(json.dumps(list(record)) + "\n")
            merged.append(str(part))
        paths, level = merged, level + 1
    with target.open("w", encoding="utf-8") as fh:
        for _, _, _, text in heapq.merge(*(_records(p) for p in paths)):
            fh.write(text + "\n")


def simulate_fleet(
    out: str | Path,
    merchants: int,
    seed: int = 1,
    *,
    days: int = 7,
    incidents: int | None = None,
    currency: str = "EUR",
    tz: str = "UTC",
    start: datetime | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Simulate ``merchants`` merchants over ``days`` days into ``out`` (created, must be empty); returns the truth.

    ``incidents``: how many merchants run an incident family instead of clean days (default one in 40,
    at least one); ``tz``: the zone every terminal logs in; ``workers``: processes simulating merchants
    (the bytes do not depend on it).
    """
    if not 1 <= merchants <= MAX_MERCHANTS:
        raise ValueError(f"merchants must be between 1 and {MAX_MERCHANTS}, not {merchants}")
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    root = Path(out)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root}: not empty; a fleet is written into a new folder")
    count = max(1, merchants // 40) if incidents is None else incidents
    if not 0 <= count <= merchants:
        raise ValueError(f"incidents must be between 0 and the merchants ({merchants}), not {count}")
    rng = random.Random(f"fleet:{seed}")
    faulty = sorted(name for name, fam in FAMILIES.items() if fam.kind is not None)
    chosen = dict(zip(sorted(rng.sample(range(1, merchants + 1), count)), _cycle(rng, faulty, count), strict=True))
    begin = start or datetime(2026, 3, 2, 7, tzinfo=UTC)
    (root / ".chunks").mkdir(parents=True)
    jobs = [(i, seed, days, chosen.get(i), currency, tz, begin.isoformat(), str(root)) for i in range(1, merchants + 1)]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            done = list(pool.imap(_merchant, jobs, chunksize=4))
    else:
        done = [_merchant(job) for job in jobs]
    (root / "host").mkdir()
    _merge([m.host_chunk for m in done], root / "host" / "acquirer-host.log", root / ".chunks")
    settlement = _clearing_files(done, root)
    shutil.rmtree(root / ".chunks")
    truth = _truth(done, seed, days, currency, tz, settlement)
    (root / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (root / "README.md").write_text(_readme(truth), encoding="utf-8")
    return truth


def _cycle(rng: random.Random, names: list[str], count: int) -> list[str]:
    """``count`` families, each once before any twice, in a seeded order."""
    out: list[str] = []
    while len(out) < count:
        out += rng.sample(names, len(names))
    return out[:count]


def _clearing_files(done: list[_Merchant], root: Path) -> dict[str, int]:
    """Append each merchant's clearing rows to the day's file, merchant by merchant; rows per file."""
    folder = root / "settlement"
    folder.mkdir()
    header = "settle_date,tid,mid,batch,stan,rrn,auth,proc,amount,currency,pan,atc,capture_ts\n"
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}
    try:
        for m in done:
            with open(m.clearing_chunk, encoding="utf-8") as fh:
                for line in fh:
                    date, row = json.loads(line)
                    name = f"settlement/settlement-{date}.csv"
                    if name not in handles:
                        handles[name] = (root / name).open("w", encoding="utf-8")
                        handles[name].write(header)
                        counts[name] = 0
                    handles[name].write(row + "\n")
                    counts[name] += 1
    finally:
        for fh in handles.values():
            fh.close()
    return dict(sorted(counts.items()))


def _truth(
    done: list[_Merchant], seed: int, days: int, currency: str, tz: str, settlement: dict[str, int]
) -> dict[str, Any]:
    devices = [d for m in done for d in m.devices]
    host_blocks = sum(m.host_blocks for m in done)
    terminal_lines = sum(m.terminal_lines for m in done)
    rows = sum(settlement.values())
    return {
        "fleet": {
            "seed": seed,
            "merchants": len(done),
            "terminals": len(devices),
            "days": days,
            "currency": currency,
            "tz": tz,
            "terminal_lines": terminal_lines,
            "host_blocks": host_blocks,
            "clearing_rows": rows,
            "records": terminal_lines + host_blocks + rows,
            "incidents": {str(m.index): m.family for m in done if m.family},
        },
        "devices": devices,
        "host": {"file": "host/acquirer-host.log", "tz": "UTC"},
        "settlement": list(settlement),
        "inputs": sorted([d["file"] for d in devices] + ["host/acquirer-host.log", *settlement]),
        "findings": [f for m in done for f in m.findings],
        "malformed": [x for m in done for x in m.malformed],
        "duplicated": [x for m in done for x in m.duplicated],
    }


def _readme(truth: dict[str, Any]) -> str:
    fleet = truth["fleet"]
    incidents = "\n".join(f"| M{int(m):04d} | {family} |" for m, family in sorted(fleet["incidents"].items()))
    return (
        f"# Simulated fleet (seed {fleet['seed']})\n\n"
        f"{fleet['merchants']} merchants, {fleet['terminals']} terminals, {fleet['days']} days; "
        f"{fleet['records']:,} records ({fleet['terminal_lines']:,} terminal lines, {fleet['host_blocks']:,} host "
        f"blocks, {fleet['clearing_rows']:,} clearing rows). Terminals log {fleet['tz']} time; the host logs UTC.\n\n"
        f"`terminals/M<merchant>/<serial>.log`, `host/acquirer-host.log`, `settlement/settlement-<date>.csv`; "
        f"`truth.json` lists the injected findings.\n\n| merchant | incident family |\n|---|---|\n{incidents}\n\n"
        "    forensics sweep terminals host settlement -o OUTDIR\n"
    )
