"""Ingest speed: `forensics parse` beside lnav and a plain per-line Lark baseline.

Generates (once, cached in --work) a syslog file in the plain BSD form lnav indexes and a
logcat file, both of the reference dialect, with `forensics simulate --lines N`. Then times,
on the same files: lnav (`lnav -n -c ';SELECT count(*) FROM syslog_log'`), per-line Lark LALR
parsing of the envelope grammar (no transformer; a sample, extrapolated), and
`forensics parse FILE -o events.parquet` (all columns). Prints lines/s, MB/s, peak RSS and
the ratios the performance issue asks for.

    python benchmarks/ingest.py [--lines 1000000] [--work /tmp/forensics-bench] [--lark-sample 100000]
                                [--big-gb 5]

It then times `forensics parse --workers 1` against one worker per core, on the syslog
file and its jPOS host log. With --big-gb N it also writes an N GB syslog file (the 1M-line file repeated) and a gzip of
the 1M-line file, and parses both to Parquet for their peak RSS (memory must follow the batch
size, not the input).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lark import Lark
from lark.exceptions import LarkError

from forensics.ingest import registry


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of a command, via GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True, check=False)
    seconds, rss_kb = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(rss_kb) / 1024, out.stdout


def generate(work: Path, lines: int) -> dict[str, Path]:
    files = {}
    for name, args in (("syslog", ["--terminal", "syslog", "--style", "bsd", "--seed", "2"]),
                       ("logcat", ["--terminal", "logcat", "--style", "threadtime", "--seed", "1"])):
        folder = work / f"{name}-{lines}"
        log = next(folder.glob("[AV]*.log"), None) if folder.exists() else None
        if log is None:
            subprocess.run([sys.executable, "-m", "forensics.cli", "simulate", "--lines", str(lines), *args, "-o",
                            str(folder)], check=True, capture_output=True)
            log = next(folder.glob("[AV]*.log"))
        files[name] = log
    return files


def lark_baseline(path: Path, fmt: str, sample: int) -> float:
    """Lines per second of plain per-line Lark LALR parsing (tree building, no transformer)."""
    grammar = registry().formats[fmt]
    parser = Lark((Path(__file__).resolve().parents[1] / "grammars" / grammar.grammar).read_text(), parser="lalr")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[:sample]
    start = time.perf_counter()
    for line in lines:
        try:
            parser.parse(line)
        except LarkError:
            pass
    return len(lines) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--work", default="/tmp/forensics-bench")
    parser.add_argument("--lark-sample", type=int, default=100_000)
    parser.add_argument("--big-gb", type=float, default=0, help="Also parse an N GB file and a gzip (peak RSS).")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    files = generate(work, args.lines)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"lnav: {'yes' if shutil.which('lnav') else 'not installed (apt-get install lnav)'}")
    print(f"{'input':<8} {'tool':<18} {'lines':>9} {'seconds':>8} {'lines/s':>10} {'MB/s':>7} {'peak RSS MiB':>13}")
    for fmt, path in files.items():
        size_mb = path.stat().st_size / 1e6
        lines = sum(1 for _ in path.open("rb"))
        results: dict[str, float] = {}
        if shutil.which("lnav") and fmt == "syslog":
            seconds, rss, out = measure(["lnav", "-n", "-c", ";SELECT count(*) FROM syslog_log", str(path)])
            results["lnav"] = seconds
            print(f"{fmt:<8} {'lnav 0.11':<18} {lines:>9} {seconds:>8.2f} {lines / seconds:>10,.0f} "
                  f"{size_mb / seconds:>7.1f} {rss:>13.0f}   (rows indexed: {out.split()[-1]})")
        rate = lark_baseline(path, fmt, args.lark_sample)
        results["lark"] = lines / rate
        print(f"{fmt:<8} {'Lark per line':<18} {lines:>9} {lines / rate:>8.2f} {rate:>10,.0f} "
              f"{size_mb / (lines / rate):>7.1f} {'-':>13}   (extrapolated from {args.lark_sample} lines)")
        out_file = work / f"{fmt}.parquet"
        seconds, rss, _ = measure([sys.executable, "-m", "forensics.cli", "parse", str(path), "-o", str(out_file), "-q"])
        results["forensics"] = seconds
        print(f"{fmt:<8} {'forensics parse':<18} {lines:>9} {seconds:>8.2f} {lines / seconds:>10,.0f} "
              f"{size_mb / seconds:>7.1f} {rss:>13.0f}")
        ratios = f"x{results['lark'] / seconds:.2f} vs Lark per line"
        if "lnav" in results:
            ratios = f"{results['lnav'] / seconds:.3f} of lnav's speed, " + ratios
        print(f"{fmt:<8} ratios: {ratios}   (targets: >= 1.0 of lnav, >= 25x Lark)")
    scaling(work, files["syslog"])
    if args.big_gb:
        big_inputs(work, files["syslog"], args.big_gb)
    return 0


def scaling(work: Path, log: Path) -> None:
    """`forensics parse --workers 1` against all cores: the device log (fast path, threads) and
    its jPOS host log (Lark, worker processes)."""
    host = log.with_name("acquirer-host.log")
    for path, what in ((log, "syslog"), (host, "jPOS host")):
        lines = sum(1 for _ in path.open("rb"))
        times = {}
        for workers in sorted({1, os.cpu_count() or 1}):
            times[workers], rss, _ = measure([sys.executable, "-m", "forensics.cli", "parse", str(path), "-o",
                                              str(work / "scaling.parquet"), "-q", "--workers", str(workers)])
            print(f"{'cores':<8} {what:<12} --workers {workers}  {lines:>9} lines {times[workers]:>7.2f} s "
                  f"{lines / times[workers]:>10,.0f} lines/s   peak RSS {rss:,.0f} MiB")
        if len(times) > 1:
            print(f"{'cores':<8} {what:<12} speed-up x{times[1] / times[max(times)]:.2f} on {max(times)} cores")


def big_inputs(work: Path, log: Path, gigabytes: float) -> None:
    """Peak RSS of `forensics parse` on an N GB file and on a gzip (both streamed)."""
    big = work / f"syslog-{gigabytes:g}GB.log"
    if not big.exists() or big.stat().st_size < gigabytes * 1e9:
        data = log.read_bytes()
        with big.open("wb") as out:
            written = 0
            while written < gigabytes * 1e9:
                out.write(data)
                written += len(data)
    packed = work / (log.name + ".gz")
    if not packed.exists():
        subprocess.run(["gzip", "-k", "-f", "-1", str(log)], check=True)
        log.with_name(log.name + ".gz").rename(packed)
    for path in (packed, big):
        lines = sum(1 for _ in path.open("rb")) if path.suffix != ".gz" else sum(1 for _ in log.open("rb"))
        seconds, rss, _ = measure([sys.executable, "-m", "forensics.cli", "parse", str(path), "-o",
                                   str(work / "big.parquet"), "-q"])
        size_gb = path.stat().st_size / 1e9
        print(f"{'big':<8} {path.name:<26} {lines:>10} lines {size_gb:>6.2f} GB {seconds:>8.1f} s "
              f"{lines / seconds:>10,.0f} lines/s   peak RSS {rss:,.0f} MiB   (target < 2048 MiB)")


if __name__ == "__main__":
    sys.exit(main())
