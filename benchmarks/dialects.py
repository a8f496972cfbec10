"""Parse time of each shipped dialect against the reference dialect's, in one run.

For each terminal platform (logcat, syslog) the simulator writes one volume log per vendor
(`forensics simulate --lines N --vendor V --terminal T --seed S`: the same case, its app lines
phrased as that vendor logs them), cached in --work. Then `forensics parse FILE -o x.parquet`
is timed on each, the vendors interleaved, best of --repeat, and each time is printed with its
ratio to the reference dialect's on the same platform (target: within 1.5x). The dialects a
file's events were read by are counted: iso8583.toml (the ISO field table) and system.toml
(clock lines) are read inside the reference and vendor logs, not as vendors of their own.

    python benchmarks/dialects.py [--lines 100000] [--work /tmp/forensics-dialects] [--repeat 2]
                                  [--terminals logcat,syslog]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import polars as pl

VENDORS = ("reference", "orbit", "quill")
TERMINALS = {"logcat": "threadtime", "syslog": "bsd"}


def generate(work: Path, lines: int, vendor: str, terminal: str, seed: int) -> Path:
    """The simulated volume log of ``vendor`` on ``terminal`` (written once)."""
    folder = work / f"{vendor}-{terminal}-{lines}-{seed}"
    log = next(folder.glob("[AV]*.log"), None) if folder.exists() else None
    if log is None:
        subprocess.run(
            [sys.executable, "-m", "forensics.cli", "simulate", "--lines", str(lines), "--vendor", vendor]
            + ["--terminal", terminal, "--style", TERMINALS[terminal], "--seed", str(seed), "-o", str(folder)],
            check=True,
            capture_output=True,
        )
        log = next(folder.glob("[AV]*.log"))
    return log


def parse_seconds(log: Path, out: Path) -> float:
    """Wall seconds of `forensics parse LOG -o OUT` in a fresh process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "forensics.cli", "parse", str(log), "-o", str(out), "-q"], check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--work", default="/tmp/forensics-dialects")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--terminals", default=",".join(TERMINALS), help="platforms, comma-separated")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    shipped = sorted(p.name for p in files("forensics.dialects").iterdir() if p.name.endswith(".toml"))
    print(f"shipped dialect files: {', '.join(shipped)}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'terminal':<8} {'vendor':<10} {'lines':>8} {'seconds':>8} {'vs reference':>13}   events by dialect")
    worst = 0.0
    for terminal in args.terminals.split(","):
        logs = {v: generate(work, args.lines, v, terminal, args.seed) for v in VENDORS}
        best = {v: float("inf") for v in VENDORS}
        for _ in range(args.repeat):  # interleaved, so the machine's load weighs on every vendor alike
            for vendor, log in logs.items():
                best[vendor] = min(best[vendor], parse_seconds(log, work / f"{vendor}-{terminal}.parquet"))
        for vendor, log in logs.items():
            ratio = best[vendor] / best["reference"]
            worst = max(worst, ratio)
            counts = (
                pl.read_parquet(work / f"{vendor}-{terminal}.parquet", columns=["dialect"])
                .get_column("dialect")
                .fill_null("-")
                .value_counts(sort=True)
            )
            by = ", ".join(f"{d} {n:,}" for d, n in counts.iter_rows())
            lines = sum(1 for _ in log.open("rb"))
            print(f"{terminal:<8} {vendor:<10} {lines:>8} {best[vendor]:>8.2f} {ratio:>12.2f}x   {by}", flush=True)
    print(f"worst ratio to the reference dialect: {worst:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
