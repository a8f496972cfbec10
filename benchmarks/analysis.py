"""Timeline + diagnosis at scale: 10 million events on this machine.

Simulates one busy terminal (--lines of logcat, with its host log and settlement files),
ingests it once, then replicates its events as a fleet of distinct devices (own serial, TID,
cards, RRNs, paths) until the events table holds --events rows, and times the timeline and the
diagnosis on it as `forensics diagnose` runs them on a big input: from the events' Parquet file, one
connected group of devices, TIDs and MIDs at a time, each group's rows read when its turn comes
(`forensics.analysis.diagnose_parquet`, keeping the findings and the timeline's tables, not its
events), or with --whole in one build of the whole input, read in memory (as before the grouping).
The replicated events are cached in --work; a fresh process runs the analysis and prints its peak RSS
(with --whole, its RSS once the events are read too).

    python benchmarks/analysis.py [--events 10000000] [--lines 1000000] [--work /tmp/forensics-bench] [--whole]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

import forensics
from forensics.analysis import diagnose_parquet
from forensics.analysis.groups import connect, identifiers, labels
from forensics.diagnosis import diagnose_timeline
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
    parser.add_argument("--analyse", type=Path, help=argparse.SUPPRESS)  # the measuring process
    args = parser.parse_args()
    if args.analyse:
        return analyse(args.analyse, args.whole)
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
    fleet = work / f"fleet-{args.lines}-{args.events}-lz4.parquet"  # lz4: as forensics diagnose spills a big input
    if not fleet.exists():
        base = pl.scan_parquet(cache)
        copies = -(-args.events // base.select(pl.len()).collect().item())
        pl.concat(
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
            ]
        ).sink_parquet(fleet, compression="lz4")  # streamed: the set-up never holds the fleet
    # a fresh process (this one, replaced) reads the fleet's events: its memory holds them and the analysis
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, __file__, "--analyse", str(fleet), *(["--whole"] if args.whole else [])])


def analyse(fleet: Path, whole: bool) -> int:
    """Time the analysis of the events in ``fleet`` and print the memory it took."""
    inputs = pl.DataFrame({"path": [], "format": [], "tz": [], "tz_assumed": [], "notes": []})
    held = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    if whole:
        loaded = Loaded(pl.read_parquet(fleet), pl.DataFrame(), pl.DataFrame(), inputs)
        held = _memory("VmRSS")
        t0, c0 = time.perf_counter(), time.process_time()
        result = diagnose_timeline(build(loaded))
    else:  # as forensics diagnose on a big input: from its events' Parquet file, findings and tables
        result = diagnose_parquet(fleet, Loaded(pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), inputs), events=False)
    t1, cpu = time.perf_counter(), time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    scan = pl.scan_parquet(fleet)
    groups = connect(identifiers(scan))
    sizes = labels(scan, groups).value_counts()["count"]
    terminals = scan.filter(pl.col("role") == "terminal").select(pl.col("device").n_unique()).collect().item()
    print(
        f"events {sizes.sum():,} ({terminals} terminals, {groups['group'].n_unique()} groups, the largest "
        f"{sizes.max():,} events), transactions {result.timeline.transactions.height:,}, "
        f"findings {len(result.findings)}"
    )
    if whole:
        print(
            f"timeline + diagnosis {t1 - t0:.1f} s (target < 15 s; CPU {cpu:.1f} s), one build of the whole input; "
            f"RSS with the events table read {held:,.0f} MiB, peak RSS {peak:,.0f} MiB "
            f"(the analysis: {peak - held:,.0f} MiB)"
        )
    else:
        print(
            f"timeline + diagnosis {t1 - t0:.1f} s (target < 15 s; CPU {cpu:.1f} s), group by group from the Parquet "
            f"file (each group's rows read when its turn comes); peak RSS {peak:,.0f} MiB"
        )
    return 0 if t1 - t0 < 15 else 1


def _memory(field: str) -> float:
    """A figure of /proc/self/status in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    sys.exit(main())
