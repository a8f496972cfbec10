"""Scenario simulator: realistic terminal, host and settlement logs with known answers.

``simulate(family, seed)`` builds one case: a log per device (Android logcat or Linux syslog),
the acquirer's jPOS log, settlement files, ``truth.json`` (findings in the vocabulary of
../shared/spec/findings.md, malformed and duplicated lines) and a README story. Everything is
deterministic from the seed. ``simulate_volume(lines, seed)`` makes large inputs for
benchmarks. Logs hold only what a terminal or host would write: no cause, no verdict.

Which inputs a case has varies, as it does for an analyst: terminal logs always, plus the host
log, the settlement files, both or neither (``INPUT_SETS``). ``truth.json`` lists the files given
(``inputs``) and keeps only the findings those files can evidence. The rule: a finding holds a
``needs`` list of alternatives, each the inputs besides the terminal logs that together show the
fault (``[]``: the terminal logs alone do); it stays in ``findings`` when one alternative is
fully given, and otherwise moves to ``unsupported``. A transaction's ``cleared`` count is null
without a settlement file (unknown, not 0). For example, that a sale the terminal saw
time out was approved is known from the host log or from the settlement file (``[["host"],
["settlement"]]``); a settlement file that clears an approval twice needs that file
(``[["settlement"]]``); a re-run after paper-out shows in the terminal log alone (``[[]]``).

Seeds: below 1000 for the tests and the sample library (``sample_logs/catalog.toml``), rule
examples below ``HELD_OUT_SEED`` too; ``HELD_OUT_SEED`` (90000) and up are kept for
``benchmarks/accuracy.py`` only, out of every rule example and tuning run (a test checks the
rule examples and the catalog).
"""

from __future__ import annotations

import json
import random
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forensics.simulate import terminal as T
from forensics.simulate.families import FAMILIES, Family
from forensics.simulate.vendors import VENDORS, vendor
from forensics.simulate.world import Device, World

__all__ = [
    "FAMILIES",
    "HELD_OUT_SEED",
    "INPUT_SETS",
    "VENDORS",
    "Case",
    "Family",
    "build_library",
    "simulate",
    "simulate_volume",
]

HELD_OUT_SEED = 90000
# Which inputs a case gives besides the terminal logs, and how often a seeded choice draws each.
INPUT_SETS: dict[tuple[str, ...], float] = {
    ("host", "settlement"): 0.55,
    ("host",): 0.2,
    ("settlement",): 0.15,
    (): 0.10,
}
ROLES = ("host", "settlement")

_CURRENCIES = ["USD", "USD", "EUR", "EUR", "CNY", "JPY", "GBP"]
_ZONES = ["UTC", "Europe/Berlin", "Asia/Shanghai", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
_GARBAGE = b"\x1b[0m\xff\xfe\x00\x07\x90\x91garbage\x00"


@dataclass
class Case:
    """One simulated case: file name -> bytes, and the truth."""

    family: str
    seed: int
    files: dict[str, bytes]
    truth: dict[str, Any]

    def write(self, out: str | Path) -> list[Path]:
        """Write the files into ``out`` (created); returns their paths."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, data in sorted(self.files.items()):
            (folder / name).write_bytes(data)
            written.append(folder / name)
        return written


def _world(seed: int, wide: bool = False, vendor_name: str = "reference") -> World:
    pick = random.Random(seed * 7919 + 17)
    return World(seed, cur=pick.choice(_CURRENCIES), tz=pick.choice(_ZONES), wide=wide, vendor=vendor(vendor_name).name)


def choose_inputs(seed: int) -> tuple[str, ...]:
    """The seeded choice of inputs besides the terminal logs (its own stream: the logs do not change)."""
    pick = random.Random(seed * 104729 + 3)
    sets = list(INPUT_SETS)
    return pick.choices(sets, weights=[INPUT_SETS[x] for x in sets])[0]


def _given(fam: Family, seed: int, inputs: str | Iterable[str] | None) -> tuple[str, ...]:
    policy = fam.inputs if inputs is None else inputs
    if policy == "all":
        return ROLES
    if policy == "seeded":
        return choose_inputs(seed)
    if isinstance(policy, str):
        raise ValueError(f"inputs must be 'all', 'seeded' or roles among {ROLES}, not {policy!r}")
    roles = tuple(r for r in ROLES if r in set(policy) - {"terminal"})
    unknown = set(policy) - set(ROLES) - {"terminal"}
    if unknown:
        raise ValueError(f"unknown input roles {sorted(unknown)}; known: terminal, {', '.join(ROLES)}")
    return roles


def _supported(finding: dict[str, Any], given: tuple[str, ...]) -> bool:
    return any(set(need) <= set(given) for need in finding["needs"])


def _lifecycle(txn: Any, w: World, given: tuple[str, ...]) -> dict[str, Any]:
    """A transaction's keys and fate; ``cleared`` is null (unknown) when no settlement file is given."""
    row = txn.lifecycle(w.host, w.exponent)
    if "settlement" not in given:
        row["cleared"] = None
    return row


def _device_bytes(
    dev: Device,
    rng: random.Random,
    name: str,
    messy: bool,
    wide: bool = False,
) -> tuple[bytes, list[dict[str, Any]], list[dict[str, Any]]]:
    """The device's log as bytes, with malformed and duplicated lines recorded (1-based).

    ``wide``: many duplicated lines (a second log listener) and, on some devices, CRLF line ends.
    """
    lines = [text for _, _, text in sorted(dev.lines, key=lambda x: (x[0], x[1]))]
    malformed: list[dict[str, Any]] = []
    duplicated: list[dict[str, Any]] = []
    if messy and len(lines) > 20:
        safe = [
            i
            for i in range(1, len(lines) - 1)
            if not lines[i].startswith("\t") and not lines[i + 1].startswith("\t") and "AndroidRuntime" not in lines[i]
        ]
        for _ in range(rng.randint(0, 2)):
            i = rng.choice(safe)
            lines.insert(i, "\x02TRUNC" + lines[i][: rng.randint(6, 14)])
            safe = [j + (j >= i) for j in safe]
        if rng.random() < 0.4:
            i = rng.choice(safe)
            lines.insert(i, "\x02GARBAGE")
            safe = [j + (j >= i) for j in safe]
        for _ in range(rng.randint(0, 2) if not wide else rng.choice([0, 2, 6, 20])):
            i = rng.choice(safe)
            lines.insert(i + 1, "\x02DUP" + lines[i])
            safe = [j + (j > i) for j in safe]
    end = b"\r\n" if wide and rng.random() < 0.2 else b"\n"
    out: list[bytes] = []
    for number, text in enumerate(lines, start=1):
        if text.startswith("\x02TRUNC"):
            malformed.append({"file": name, "line": number, "what": "truncated line"})
            out.append(text[6:].encode())
        elif text == "\x02GARBAGE":
            malformed.append({"file": name, "line": number, "what": "binary garbage"})
            out.append(_GARBAGE)
        elif text.startswith("\x02DUP"):
            duplicated.append({"file": name, "line": number, "of": number - 1})
            out.append(_encode(text[4:]))
        else:
            out.append(_encode(text))
    return end.join(out) + end, malformed, duplicated


def _encode(text: str) -> bytes:
    return text.replace("\x01", "").encode("gb18030") if "\x01" in text else text.encode("utf-8")


def _host_bytes(w: World) -> bytes:
    blocks = [text for _, _, text in sorted(w.host.lines, key=lambda x: (x[0], x[1]))]
    return ("\n".join(blocks) + "\n").encode() if blocks else b""


def _render(
    w: World,
    fam: Family,
    findings: list[dict[str, Any]],
    story: str,
    messy: bool = True,
    given: tuple[str, ...] = ROLES,
) -> Case:
    rng = random.Random(w.seed * 31 + 5)
    files: dict[str, bytes] = {}
    malformed: list[dict[str, Any]] = []
    duplicated: list[dict[str, Any]] = []
    devices = []
    for dev in w.devices:
        name = f"{dev.serial}.log"
        data, bad, dups = _device_bytes(dev, rng, name, messy, w.wide)
        files[name] = data
        malformed += bad
        duplicated += dups
        devices.append(
            {
                "serial": dev.serial,
                "tid": dev.tid,
                "mid": dev.mid,
                "file": name,
                "format": "logcat" if dev.android else "syslog",
                "style": dev.style,
                "app": dev.app,
                "tz": dev.tz,
                "skew_s": round(dev.skew_s, 3),
                "clock_steps": [{"at": when.isoformat(), "step_s": round(step, 3)} for when, step in dev.clock_steps],
            }
        )
    if "host" in given:
        files["acquirer-host.log"] = _host_bytes(w)
    dates = sorted({d for d, _ in w.host.cleared}) if "settlement" in given else []
    for date in dates:
        files[f"settlement-{date}.csv"] = ("\n".join(w.host.settlement_rows(date)) + "\n").encode()
    findings = [{**f, "transactions": [_lifecycle(t, w, given) for t in f["transactions"]]} for f in findings]
    truth = {
        "family": fam.name,
        "seed": w.seed,
        **({"vendor": w.vendor} if w.vendor != "reference" else {}),
        "currency": w.cur,
        "story": story,
        "devices": devices,
        "host": {"file": "acquirer-host.log", "tz": "UTC"} if "host" in given else None,
        "settlement": [f"settlement-{d}.csv" for d in dates],
        "inputs": sorted(files),
        "findings": [f for f in findings if _supported(f, given)],
        "malformed": malformed,
        "duplicated": duplicated,
    }
    unsupported = [f for f in findings if not _supported(f, given)]
    if unsupported:
        truth["unsupported"] = unsupported
    files["truth.json"] = (json.dumps(truth, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    files["README.md"] = _readme(fam, w, story, devices, dates, "host" in given, unsupported).encode()
    return Case(fam.name, w.seed, files, truth)


def _readme(
    fam: Family,
    w: World,
    story: str,
    devices: list[dict[str, Any]],
    dates: list[str],
    host: bool = True,
    unsupported: list[dict[str, Any]] | None = None,
) -> str:
    rows = "\n".join(
        f"| `{d['file']}` | {d['serial']} ({d['format']}), TID {d['tid']}, local time {d['tz']} |" for d in devices
    )
    settle = "\n".join(f"| `settlement-{d}.csv` | acquirer clearing file of {d} |" for d in dates)
    logs = " ".join(d["file"] for d in devices)
    zones = " ".join(f"--tz {d['file']}={d['tz']}" for d in devices)
    verdict = (
        f"{fam.kind}, cause {fam.cause}"
        + (f" (contributing: {', '.join(fam.contributing)})" if fam.contributing else "")
        if fam.kind
        else "no faulty charge"
    )
    host_row = "| `acquirer-host.log` | acquirer host (jPOS), UTC |\n" if host else ""
    missing = [name for name, there in (("host log", host), ("settlement file", bool(dates))) if not there]
    note = ""
    if missing:
        note = f"\n\nThis case has no {' and no '.join(missing)}."
        if unsupported:
            note += " Without them the incident cannot be shown, so `truth.json` lists it under `unsupported`."
    given = " ".join([logs] + (["acquirer-host.log"] if host else []) + ["settlement-" + d + ".csv" for d in dates])
    return (
        f"# {fam.name}\n\n{story}\n\nExpected: {verdict}. `truth.json` has the details.{note}\n\n"
        f"| file | what |\n|---|---|\n{rows}\n{host_row}{settle}\n\n"
        f"Terminal clocks are local time ({w.tz}); the host logs UTC:\n\n"
        f"    forensics timeline {given} {zones}\n\n"
        f"Made by `forensics simulate --family {fam.name} --seed {w.seed}"
        + (f" --vendor {w.vendor}" if w.vendor != "reference" else "")
        + "`.\n"
    )


def simulate(
    family: str,
    seed: int,
    *,
    messy: bool = True,
    inputs: str | Iterable[str] | None = None,
    wide: bool | None = None,
    vendor: str = "reference",
) -> Case:
    """Simulate one case of ``family`` from ``seed``; raises KeyError for an unknown family.

    ``inputs``: "all" (terminal, host, settlement), "seeded" (drawn from ``INPUT_SETS`` by the seed),
    or the roles to give (terminal logs are always given); default: the family's own policy.
    ``wide``: run the family in a wide world (wider timings and the noise of real shops, see
    ``World``); default: the family's own setting (the first 28 families keep their narrow world,
    so their rule examples and sample cases stay as they were).
    ``vendor``: the terminal app's logging style (``VENDORS``: reference, orbit, quill); the world, and so
    the truth, is the same in every style, only the app lines are phrased differently. ValueError for an
    unknown one.
    """
    if family not in FAMILIES:
        raise KeyError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    fam = FAMILIES[family]
    given = _given(fam, seed, inputs)
    w = _world(seed, fam.wide if wide is None else wide, vendor)
    findings, story = fam.script(w)
    return _render(w, fam, findings, story, messy, given)


def simulate_volume(
    lines: int, seed: int = 1, *, android: bool = True, style: str | None = None, vendor: str = "reference"
) -> Case:
    """A busy terminal day after day until its log holds ``lines`` lines (benchmarks).

    ``style`` fixes the log style (logcat: threadtime, year; syslog: bsd, bsd_pri, bsd_program);
    ``vendor`` the app's logging style (``VENDORS``).
    """
    w = _world(seed, vendor_name=vendor)
    dev = w.device(f"{'A920' if android else 'V400'}-{seed:04d}", android=android, style=style)
    t = T.identify(dev, w.start)
    while len(dev.lines) < lines:
        _, t = T.busy_hours(dev, t, 12, per_hour=400)
        t = T.settle(dev, t)
        w.host.clear(t)
        t = T.s(t, 12 * 3600)
    dev.lines = sorted(dev.lines, key=lambda x: (x[0], x[1]))[:lines]
    fam = Family("volume", None, None, (), "benchmark volume", lambda _: ([], ""))
    return _render(w, fam, [], f"{lines} lines of ordinary trade on {dev.serial}.", messy=False)


def build_library(root: str | Path) -> list[Path]:
    """(Re)build the sample library in ``root`` from its ``catalog.toml``; returns the folders."""
    base = Path(root)
    catalog = tomllib.loads((base / "catalog.toml").read_text(encoding="utf-8"))
    folders = []
    for entry in catalog["case"]:
        folder = base / entry["folder"]
        if folder.exists():
            for old in folder.iterdir():
                old.unlink()
        simulate(entry["family"], entry["seed"], inputs=entry.get("inputs")).write(folder)
        folders.append(folder)
    return folders
