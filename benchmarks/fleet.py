"""Fleet sweep: speed, memory and recall of `forensics sweep` on a simulated fleet with known answers.

Simulates (once: the fleet is cached in ``--fleet-dir`` and reused while its truth.json is there) a fleet
of merchants with several lanes each, one acquirer host log and daily clearing files
(``forensics simulate --fleet``), then runs ``forensics sweep`` on it with each worker count of
``--workers`` (a fresh output folder each time, so nothing is resumed) and prints, per run, the wall
time, events and events/s, the peak RSS of the client and of each worker (from ``OUTDIR/run.json``),
and the findings' recall and precision against the injected answers (``benchmarks/scoring.py``: same
kind and one shared key). Target: peak RSS per worker under 2 GiB.

    python benchmarks/fleet.py [--merchants 650] [--days 8] [--seed 90017] [--incidents K] [--workers 1,2]
                               [--fleet-dir DIR] [--out DIR]
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
    rows = []
    met = True
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
    print(f"\ntarget (peak RSS per worker < 2 GiB): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
