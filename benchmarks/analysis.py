"""Timeline + diagnosis at scale: 10 million events on this machine.

Simulates one busy terminal (--lines of logcat, with its host log and settlement files),
ingests it once, then replicates its events as a fleet of distinct devices (own serial, TID,
cards, RRNs, paths) until the events table holds --events rows, and times the timeline and the
diagnosis on it as `forensics diagnose` runs them: one connected group of devices, TIDs and MIDs
at a time (`forensics.fleet.diagnose_by_group`, keeping the findings and the timeline's tables, not
its events), or with --whole in one build of the whole input (as before the grouping).
Prints the memory the events table holds and the peak RSS during the analysis.

    python benchmarks/analysis.py [--events 10000000] [--lines 1000000] [--work /tmp/forensics-bench] [--whole]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

import forensics
from forensics.diagnosis import diagnose_timeline
from forensics.fleet import diagnose_by_group
from forensics.fleet.groups import connect, group_of, identifiers
from forensics.ingest import Loaded
from forensics.timeline import build


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--work", default="/tmp/forensics-bench")
    parser.add_argument(
        "--whole", action="store_true", help="one build of the whole input (as before the grouping) instead of by group"
    )
    args = parser.parse_args()
    work = Path(args.work)
    cache = work / f"events-{args.lines}.parquet"
    if not cache.exists():
        folder = work / f"case-{args.lines}"
        if not folder.exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "forensics.cli",
                    "simulate",
                    "--lines",
                    str(args.lines),
                    "--seed",
                    "1",
                    "-o",
                    str(folder),
                ],
                check=True,
                capture_output=True,
            )
        logs = sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))
        started = time.perf_counter()
        forensics.load(logs).events.write_parquet(cache)
        print(f"ingested {len(logs)} files in {time.perf_counter() - started:.0f} s (cached in {cache})")
    base = pl.read_parquet(cache)
    copies = -(-args.events // base.height)
    events = pl.concat(
        [
            base.with_columns(
                device=pl.col("device") + f"-{i}",
                tid=pl.col("tid") + f"{i}",
                path=pl.col("path") + f".{i}",
                rrn=pl.col("rrn").str.slice(1) + f"{i}",
                card=pl.col("card") + f"-{i}",
                mid=pl.col("mid") + f"{i}",
                card_id=pl.col("card_id") + f"{i}",
            )
            for i in range(copies)
        ],
        rechunk=True,
    )
    del base
    inputs = pl.DataFrame({"path": [], "format": [], "tz": [], "tz_assumed": [], "notes": []})
    loaded = Loaded(events, pl.DataFrame(), pl.DataFrame(), inputs)
    groups = connect(identifiers(events))
    largest = events.select(group_of(groups))["group"].value_counts()["count"].max()
    held = _memory("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    if args.whole:
        tl = build(loaded)
        result = diagnose_timeline(tl)
    else:
        result = diagnose_by_group(loaded, events=False)  # as forensics diagnose: findings and tables
    t1 = time.perf_counter()
    peak = _memory("VmHWM")
    how = "one build of the whole input" if args.whole else f"group by group, the largest {largest:,} events"
    print(
        f"events {events.height:,} ({copies} devices, {groups['group'].n_unique()} groups), "
        f"transactions {result.timeline.transactions.height:,}, findings {len(result.findings)}"
    )
    print(
        f"timeline + diagnosis {t1 - t0:.1f} s (target < 15 s), {how}; events table held {held:,.0f} MiB; "
        f"peak RSS during the analysis {peak:,.0f} MiB (overall {_overall():,.0f} MiB)"
    )
    return 0 if t1 - t0 < 15 else 1


def _memory(field: str) -> float:
    """A figure of /proc/self/status in MiB (VmRSS now, VmHWM the peak since the last reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux >= 4.0), so the peak is the analysis', not the set-up's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # the peak then includes building the events table


def _overall() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
