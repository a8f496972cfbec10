"""Timeline + diagnosis at scale: 10 million events on this machine.

Simulates one busy terminal (--lines of logcat, with its host log and settlement files),
ingests it once, then replicates its events as a fleet of distinct devices (own serial, TID,
cards, RRNs, paths) until the events table holds --events rows, and times
`forensics.timeline.build` and `forensics.diagnosis.diagnose_timeline` on it.

    python benchmarks/analysis.py [--events 10000000] [--lines 1000000] [--work /tmp/forensics-bench]
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
from forensics.ingest import Loaded
from forensics.timeline import build


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--work", default="/tmp/forensics-bench")
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
    t0 = time.perf_counter()
    tl = build(loaded)
    t1 = time.perf_counter()
    result = diagnose_timeline(tl)
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"events {events.height:,} ({copies} devices), transactions {tl.transactions.height:,}, "
        f"findings {len(result.findings)}"
    )
    print(
        f"timeline {t1 - t0:.1f} s + diagnosis {t2 - t1:.1f} s = {t2 - t0:.1f} s (target < 15 s); "
        f"peak RSS {rss:,.0f} MiB (events table held in memory)"
    )
    return 0 if t2 - t0 < 15 else 1


if __name__ == "__main__":
    sys.exit(main())
