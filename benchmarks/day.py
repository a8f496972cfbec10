"""A simulated day in one `forensics.load`: the settlement files alone, then every file.

Times `forensics.load(files, workers=N)` on a volume folder (a terminal log, the acquirer's
jPOS host log and its settlement CSV files, as `forensics simulate --lines 1000000` writes
them): first the settlement files on their own, then the whole day. Prints seconds, rows and
how many rows the fast path left to Lark (`fast=False` also times the Lark path alone).

    python benchmarks/day.py [--folder /tmp/lead/vol] [--workers 2] [--repeat 1] [--lark]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

import forensics
from forensics.ingest import registry
from forensics.ingest.read import read_input


def timed(paths: list[Path], workers: int, repeat: int, fast: bool = True) -> tuple[float, forensics.Loaded]:
    """Best wall seconds of ``repeat`` loads, and the last load."""
    best, loaded = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        loaded = forensics.load(paths, card_key="bench", workers=workers, fast=fast)
        best = min(best, time.perf_counter() - start)
    assert loaded is not None
    return best, loaded


def left_to_lark(paths: list[Path]) -> tuple[int, int]:
    """(lines, lines the fast path leaves to Lark) over ``paths`` of a format with a row twin."""
    reg, total, rest = registry(), 0, 0
    for path in paths:
        lines = read_input(path).lines
        twin = reg.fast_rows(reg.detect(lines))
        if twin is None:
            return total, -1
        _, left = twin.parse(pl.Series(lines, dtype=pl.String), reg.card_screen)
        total, rest = total + len(lines), rest + left.len()
    return total, rest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="/tmp/lead/vol")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--lark", action="store_true", help="Also time the settlement files on the Lark path alone.")
    args = parser.parse_args()
    folder = Path(args.folder)
    settlement = sorted(folder.glob("settlement-*.csv"))
    day = sorted(p for p in folder.iterdir() if p.suffix in (".log", ".csv"))
    registry()  # formats loaded and self-checked once, outside the timings
    if args.lark:
        seconds, loaded = timed(settlement, args.workers, args.repeat, fast=False)
        print(f"settlement files, Lark path: {len(settlement)} files {loaded.events.height:>9} events {seconds:7.2f} s")
    seconds, loaded = timed(settlement, args.workers, args.repeat)
    lines, rest = left_to_lark(settlement)
    left = f", {rest} of {lines} lines left to Lark" if rest >= 0 else ", no row twin"
    print(
        f"settlement files:            {len(settlement)} files {loaded.events.height:>9} events {seconds:7.2f} s{left}"
    )
    seconds, loaded = timed(day, args.workers, args.repeat)
    print(
        f"whole day (workers={args.workers}):      {len(day)} files {loaded.events.height:>9} events {seconds:7.2f} s"
        f"  ({loaded.unparsed.height} unparsed, {loaded.compliance.height} compliance rows)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
