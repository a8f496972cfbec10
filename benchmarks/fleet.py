"""Fleet sweep: speed, memory and recall of `forensics sweep` on a simulated fleet with known answers.

Simulates (once: the fleet is cached in ``--fleet-dir`` and reused while its truth.json is there) a fleet
of merchants with several lanes each, one acquirer host log and daily clearing files
(``forensics simulate --fleet``), then runs ``forensics sweep`` on it with each worker count of
``--workers`` (a fresh output folder each time, so nothing is resumed) and prints, per run, the wall
time, events and events/s, the peak RSS of the client and of each worker (from ``OUTDIR/run.json``),
and the findings' recall and precision against the injected answers (``benchmarks/scoring.py``: same
kind and one shared key). First, with each worker count of ``--ratio-workers``, it times the sweep's parse
stage over the fleet's terminal logs (many small files) and over one simulated terminal log of the same line
count, back to back, and prints "fleet rate / single-file rate". Targets: peak RSS per worker under
2 GiB; that ratio at least 0.6.

    python benchmarks/fleet.py [--merchants 650] [--days 8] [--seed 90017] [--incidents K] [--workers 1,2]
                               [--fleet-dir DIR] [--out DIR] [--ratio-workers 1,2] [--ratio-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from accuracy import expected
from scoring import Run, Scoreboard

from forensics.simulate.fleet import simulate_fleet

GIB = 1 << 30
TARGET_WORKER_RSS = 2 * GIB
#: The parse rate of a fleet's small terminal logs against one terminal log of the same line count, at least.
TARGET_RATIO = 0.6


def fleet(folder: Path, merchants: int, days: int, seed: int, incidents: int | None) -> dict[str, Any]:
    """The fleet's truth, simulating it into ``folder`` unless it is already there."""
    truth_file = folder / "truth.json"
    if truth_file.exists():
        truth = json.loads(truth_file.read_text())
        f = truth["fleet"]
        if (f["merchants"], f["days"], f["seed"]) == (merchants, days, seed) and incidents in (
            None,
            len(f["incidents"]),
        ):
            print(f"fleet cached in {folder}", flush=True)
            return truth
        raise SystemExit(
            f"{folder} holds another fleet ({f['merchants']} merchants, {f['days']} days, seed {f['seed']})"
        )
    if folder.exists():
        shutil.rmtree(folder)  # a simulation that did not finish (no truth.json)
    started = time.perf_counter()
    truth = simulate_fleet(folder, merchants, seed, days=days, incidents=incidents, workers=os.cpu_count() or 1)
    print(f"fleet simulated into {folder} in {time.perf_counter() - started:.0f} s", flush=True)
    return truth


def sweep(folder: Path, out: Path, workers: int) -> tuple[dict[str, Any], dict[str, Any], float]:
    """(run.json, findings.json, wall seconds seen from outside) of one fresh sweep of the fleet."""
    if out.exists():
        shutil.rmtree(out)
    command = [
        shutil.which("forensics") or "forensics",
        "sweep",
        *(str(folder / part) for part in ("terminals", "host", "settlement")),
        "-o",
        str(out),
        "--workers",
        str(workers),
        "--card-key",
        "benchmark",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    return json.loads((out / "run.json").read_text()), json.loads((out / "findings.json").read_text()), wall


def parse_rates(folder: Path, workers: int, scratch: Path, repeat: int = 2) -> tuple[int, int, float, float]:
    """(logs, lines, fleet seconds, one-log seconds): the sweep's parse stage (``forensics.fleet.sweep.parse_stage``)
    on ``workers`` local workers over the fleet's terminal logs as they are (many small files), and over one
    simulated terminal log of the same line count (``forensics simulate --lines``), back to back in this run;
    each the best of ``repeat``. The workers are started and warmed up (imports, registry) once, before both."""
    from distributed import Client, LocalCluster

    from forensics.fleet.sweep import Options, discover, parse_stage
    from forensics.ingest.dialect import dialect_sources

    files = [str(f) for f in discover([folder / "terminals"])]
    total = 0
    for f in files:
        with open(f, "rb") as handle:
            total += sum(piece.count(b"\n") for piece in iter(lambda h=handle: h.read(1 << 20), b""))
    shutil.rmtree(scratch, ignore_errors=True)
    simulated = scratch / "one"
    command = [shutil.which("forensics") or "forensics", "simulate", "--lines", str(total), "--seed", "1"]
    subprocess.run([*command, "-o", str(simulated)], check=True, stdout=subprocess.DEVNULL)
    one = next(p for p in sorted(simulated.glob("*.log")) if p.name != "acquirer-host.log")
    options = Options(dialects=tuple(dialect_sources(None)))
    seconds: dict[str, float] = {}
    lines = 0
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            for attempt in range(repeat + 1):  # the first round warms the workers up and is not counted
                for name, jobs in (("fleet", [(f, ()) for f in files]), ("one", [(str(one), ())])):
                    work = scratch / f"work-{name}"
                    shutil.rmtree(work, ignore_errors=True)
                    work.mkdir()
                    started = time.perf_counter()
                    records = parse_stage(client, jobs if attempt else jobs[:2], work, options, b"benchmark", workers)
                    if attempt:
                        seconds[name] = min(seconds.get(name, float("inf")), time.perf_counter() - started)
                        lines = sum(r["row"]["lines"] for r in records) if name == "fleet" else lines
    shutil.rmtree(scratch, ignore_errors=True)
    return len(files), lines, seconds["fleet"], seconds["one"]


def score(truth: dict[str, Any], document: dict[str, Any], seconds: float) -> Scoreboard:
    """The sweep's findings scored against the injected ones, one case per merchant (its family, or "clean"):
    a finding goes to the merchant of its devices (else of its TID)."""
    owner = {d["serial"].upper(): d["merchant"] for d in truth["devices"]}
    owner.update({d["tid"]: d["merchant"] for d in truth["devices"]})
    predicted: dict[int | None, list[dict[str, Any]]] = {}
    for f in document["findings"]:
        keys = [str(d).upper() for d in f.get("devices") or []] + [f.get("tid")]
        merchant = next((owner[k] for k in keys if k in owner), None)
        predicted.setdefault(merchant, []).append(f)
    families = {int(m): family for m, family in truth["fleet"]["incidents"].items()}
    board = Scoreboard()
    for merchant in range(1, truth["fleet"]["merchants"] + 1):
        mine = {**truth, "findings": [f for f in truth["findings"] if f["merchant"] == merchant]}
        found = {"findings": predicted.get(merchant, [])}
        run = Run(found, json.dumps(found), None, False, seconds / truth["fleet"]["merchants"])
        board.add(f"M{merchant:04d}", families.get(merchant, "clean"), "T+H+S", expected(mine), run)
    if None in predicted:  # findings on no known terminal: all false
        found = {"findings": predicted[None]}
        board.add("unknown", "unknown", "T+H+S", {"expected": []}, Run(found, json.dumps(found), None, False, 0.0))
    return board


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _gib(value: float) -> str:
    return f"{value / GIB:.2f} GiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merchants", type=int, default=650)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--seed", type=int, default=90017, help="benchmark seeds are 90000 and up")
    parser.add_argument("--incidents", type=int, help="merchants with an injected incident (default: 1 in 40)")
    parser.add_argument("--workers", default="1,2", help="worker counts to sweep with, comma separated")
    parser.add_argument("--fleet-dir", type=Path, help="where the fleet is (cached); default under the temp folder")
    parser.add_argument("--out", type=Path, help="where the sweeps write; default under the temp folder")
    parser.add_argument(
        "--ratio-workers",
        default="1,2",
        help="worker counts to measure the parse rate of the terminal logs with, against one simulated log of "
        "their line count (comma separated; empty: none)",
    )
    parser.add_argument("--ratio-only", action="store_true", help="measure the parse rates only, sweep nothing")
    args = parser.parse_args()
    tmp = Path(tempfile.gettempdir())
    folder = args.fleet_dir or tmp / f"forensics-fleet-{args.merchants}x{args.days}-s{args.seed}"
    out_root = args.out or tmp / "forensics-fleet-sweeps"
    truth = fleet(folder, args.merchants, args.days, args.seed, args.incidents)
    f = truth["fleet"]
    print(
        f"fleet: {f['merchants']} merchants, {f['terminals']} terminals, {f['days']} days, {f['records']:,} records "
        f"({f['terminal_lines']:,} terminal lines, {f['host_blocks']:,} host blocks, {f['clearing_rows']:,} clearing "
        f"rows), {len(truth['findings'])} injected findings in {len(f['incidents'])} incident merchants"
    )
    met = True
    for workers in [int(w) for w in args.ratio_workers.split(",") if w]:
        logs, lines, fleet_s, one_s = parse_rates(folder, workers, out_root / "rates")
        fleet_rate, one_rate = lines / fleet_s, lines / one_s
        met &= fleet_rate / one_rate >= TARGET_RATIO
        print(
            f"parse stage, {workers} worker(s), {lines:,} terminal lines: {logs} logs "
            f"{fleet_s:.1f} s ({fleet_rate:,.0f} lines/s), one simulated log {one_s:.1f} s ({one_rate:,.0f} lines/s); "
            f"fleet rate / single-file rate {fleet_rate / one_rate:.2f} (target >= {TARGET_RATIO})",
            flush=True,
        )
    if args.ratio_only:
        return 0 if met else 1
    rows = []
    for workers in [int(w) for w in args.workers.split(",")]:
        run, document, wall = sweep(folder, out_root / f"w{workers}", workers)
        board = score(truth, document, wall)
        s = board.summary()
        per_worker = sorted(run["peak_rss_workers"].values())
        met &= max(per_worker) < TARGET_WORKER_RSS
        rows.append((workers, run, wall, s, per_worker, board))
    print(
        f"\n{'workers':>7} {'wall s':>8} {'events':>12} {'events/s':>10} {'client RSS':>11} {'worker RSS (peak)':>30}"
    )
    for workers, run, wall, _, per_worker, _ in rows:
        print(
            f"{workers:>7} {wall:>8.0f} {run['events']:>12,} {run['events_per_s']:>10,.0f} "
            f"{_gib(run['peak_rss_client']):>11} {', '.join(_gib(v) for v in per_worker):>30}"
        )
    for workers, run, _, _, _, _ in rows:
        stages = ", ".join(f"{name} {seconds:,.0f} s" for name, seconds in run.get("stages_s", {}).items())
        print(f"{workers} worker(s), seconds per stage: {stages}")
    for workers, run, _, s, _, _ in rows:
        print(
            f"\n{workers} worker(s): {run['groups']} groups, {run['findings']} findings; injected "
            f"{s['expected_findings']}: recall {_pct(s['finding_recall'])}, precision {_pct(s['finding_precision'])}, "
            f"cause accuracy {_pct(s['cause_accuracy'])}, false positives {s['false_positives']}"
        )
    print()
    print(rows[-1][5].report(f"findings of the sweep with {rows[-1][0]} worker(s), per merchant"), end="")
    targets = f"peak RSS per worker < 2 GiB, fleet / single-file parse rate >= {TARGET_RATIO}"
    print(f"\ntargets ({targets}): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
