"""Ingest speed: `forensics parse` beside lnav and a plain per-line Lark baseline.

Generates (once, cached in --work) a syslog file in the plain BSD form lnav indexes and a
logcat file, both of the reference dialect, with `forensics simulate --lines N`. Then times,
on the same files: lnav (`lnav -n -c ';SELECT count(*) FROM syslog_log'`, the issue's reference,
and once more with a query that reads every field), per-line Lark LALR
parsing of the envelope grammar (no transformer; a sample, extrapolated), and
`forensics parse FILE -o events.parquet` (all columns). Prints lines/s, MB/s, peak RSS and
the ratios the performance issue asks for.

    python benchmarks/ingest.py [--lines 1000000] [--work /tmp/forensics-bench] [--lark-sample 100000]
                                [--big-gb 5]

It then times `forensics parse --workers 1` against one worker per core, on the syslog
file and its jPOS host log. With --big-gb N it also writes an N GB syslog file (the 1M-line file repeated) and a gzip of
the 1M-line file, and parses both to Parquet for their peak RSS (memory must follow the batch
size, not the input).

Last, the floor: what any `forensics parse` on this stack pays before it parses a line
(interpreter and imports, reading the file, writing the output table to Parquet with each
writer's fastest settings) and what the grammar's own regular expression costs on the lines
with and without capture groups in the two vectorized engines at hand (Rust regex in Polars,
RE2 in pyarrow). The best wall time those allow on all cores is printed beside lnav's.
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

import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq
from lark import Lark
from lark.exceptions import LarkError
from lark.load_grammar import FromPackageLoader

from forensics import formats as format_folders
from forensics.ingest import registry
from forensics.ingest.fastpath import compile_grammar
from forensics.ingest.read import Reader

#: An lnav query that makes it extract every syslog field of every line.
_LNAV_FIELDS = "count(*), count(log_procname), count(log_pid), max(length(log_body)), max(log_hostname)"


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of a command, via GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True, check=False)
    seconds, rss_kb = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(rss_kb) / 1024, out.stdout


def generate(work: Path, lines: int) -> dict[str, Path]:
    files = {}
    for name, args in (
        ("syslog", ["--terminal", "syslog", "--style", "bsd", "--seed", "2"]),
        ("logcat", ["--terminal", "logcat", "--style", "threadtime", "--seed", "1"]),
    ):
        folder = work / f"{name}-{lines}"
        log = next(folder.glob("[AV]*.log"), None) if folder.exists() else None
        if log is None:
            subprocess.run(
                [sys.executable, "-m", "forensics.cli", "simulate", "--lines", str(lines), *args, "-o", str(folder)],
                check=True,
                capture_output=True,
            )
            log = next(folder.glob("[AV]*.log"))
        files[name] = log
    return files


def lark_baseline(path: Path, fmt: str, sample: int) -> float:
    """Lines per second of plain per-line Lark LALR parsing (tree building, no transformer)."""
    grammar = registry().formats[fmt]
    text = format_folders.folder(fmt).joinpath(grammar.grammar).read_text(encoding="utf-8")
    parser = Lark(text, parser="lalr", import_paths=[FromPackageLoader(format_folders.__name__)])
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
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"lnav: {'yes' if shutil.which('lnav') else 'not installed (apt-get install lnav)'}"
    )
    print(f"{'input':<8} {'tool':<18} {'lines':>9} {'seconds':>8} {'lines/s':>10} {'MB/s':>7} {'peak RSS MiB':>13}")
    lnav_seconds: dict[str, float | None] = {}
    lark_seconds: dict[str, float] = {}
    for fmt, path in files.items():
        size_mb = path.stat().st_size / 1e6
        lines = sum(1 for _ in path.open("rb"))
        results: dict[str, float] = {}
        if shutil.which("lnav") and fmt == "syslog":
            seconds, rss, out = measure(["lnav", "-n", "-c", ";SELECT count(*) FROM syslog_log", str(path)])
            results["lnav"] = seconds
            print(
                f"{fmt:<8} {'lnav 0.11':<18} {lines:>9} {seconds:>8.2f} {lines / seconds:>10,.0f} "
                f"{size_mb / seconds:>7.1f} {rss:>13.0f}   (rows indexed: {out.split()[-1]})"
            )
            seconds, rss, _ = measure(["lnav", "-n", "-c", f";SELECT {_LNAV_FIELDS} FROM syslog_log", str(path)])
            print(
                f"{fmt:<8} {'lnav, fields read':<18} {lines:>9} {seconds:>8.2f} {lines / seconds:>10,.0f} "
                f"{size_mb / seconds:>7.1f} {rss:>13.0f}   (for scale: count(*) does not extract fields)"
            )
        rate = lark_baseline(path, fmt, args.lark_sample)
        results["lark"] = lines / rate
        print(
            f"{fmt:<8} {'Lark per line':<18} {lines:>9} {lines / rate:>8.2f} {rate:>10,.0f} "
            f"{size_mb / (lines / rate):>7.1f} {'-':>13}   (extrapolated from {args.lark_sample} lines)"
        )
        out_file = work / f"{fmt}.parquet"
        seconds, rss, _ = measure(
            [sys.executable, "-m", "forensics.cli", "parse", str(path), "-o", str(out_file), "-q"]
        )
        results["forensics"] = seconds
        print(
            f"{fmt:<8} {'forensics parse':<18} {lines:>9} {seconds:>8.2f} {lines / seconds:>10,.0f} "
            f"{size_mb / seconds:>7.1f} {rss:>13.0f}"
        )
        ratios = f"x{results['lark'] / seconds:.2f} vs Lark per line"
        if "lnav" in results:
            ratios = f"{results['lnav'] / seconds:.3f} of lnav's speed, " + ratios
        print(f"{fmt:<8} ratios: {ratios}   (targets: >= 1.0 of lnav, >= 25x Lark)")
        lnav_seconds.setdefault(fmt, results.get("lnav"))
        lark_seconds[fmt] = results["lark"]
    scaling(work, files["syslog"])
    if args.big_gb:
        big_inputs(work, files["syslog"], args.big_gb)
    for fmt, path in files.items():
        floor(path, work / f"{fmt}.parquet", fmt, lnav_seconds[fmt], lark_seconds[fmt])
    return 0


def scaling(work: Path, log: Path) -> None:
    """`forensics parse --workers 1` against all cores: the device log (fast path, threads) and
    its jPOS host log (Lark, worker processes)."""
    host = log.with_name("acquirer-host.log")
    for path, what in ((log, "syslog"), (host, "jPOS host")):
        lines = sum(1 for _ in path.open("rb"))
        times = {}
        for workers in sorted({1, os.cpu_count() or 1}):
            times[workers], rss, _ = measure(
                [
                    sys.executable,
                    "-m",
                    "forensics.cli",
                    "parse",
                    str(path),
                    "-o",
                    str(work / "scaling.parquet"),
                    "-q",
                    "--workers",
                    str(workers),
                ]
            )
            print(
                f"{'cores':<8} {what:<12} --workers {workers}  {lines:>9} lines {times[workers]:>7.2f} s "
                f"{lines / times[workers]:>10,.0f} lines/s   peak RSS {rss:,.0f} MiB"
            )
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
        seconds, rss, _ = measure(
            [sys.executable, "-m", "forensics.cli", "parse", str(path), "-o", str(work / "big.parquet"), "-q"]
        )
        size_gb = path.stat().st_size / 1e9
        print(
            f"{'big':<8} {path.name:<26} {lines:>10} lines {size_gb:>6.2f} GB {seconds:>8.1f} s "
            f"{lines / seconds:>10,.0f} lines/s   peak RSS {rss:,.0f} MiB   (target < 2048 MiB)"
        )


def _best(step, repeat: int = 3) -> float:
    """Shortest wall time of ``repeat`` runs of ``step()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def floor(path: Path, parquet: Path, fmt: str, lnav: float | None, lark: float) -> None:
    """The costs no parser on this stack avoids, and the best wall time they allow."""
    cores = os.cpu_count() or 1
    start = min(measure([sys.executable, "-c", "import forensics.cli, polars, pyarrow.parquet"])[0] for _ in range(3))
    read = _best(lambda: [batch for batch in Reader(path, 1 << 40).batches()], 1)
    lines = next(iter(Reader(path, 1 << 40).batches()))
    grammar = registry().detect(lines.head(50).to_list())
    if grammar is None:
        return
    pattern, bare = (compile_grammar(grammar.parser, captures=c).pattern for c in (True, False))
    text = pl.DataFrame({"text": lines})
    arrow = lines.to_arrow()
    match = {
        "Polars": _best(lambda: text.select(pl.col("text").str.contains(bare)), 1),
        "pyarrow": _best(lambda: pc.match_substring_regex(arrow, bare), 1),
    }
    capture = {
        "Polars": _best(lambda: text.select(pl.col("text").str.extract_groups(pattern)), 1),
        "pyarrow": _best(lambda: pc.extract_regex(arrow, pattern), 1),
    }
    table = pq.read_table(parquet)
    frame = pl.from_arrow(table)
    out = parquet.with_name("floor.parquet")
    write = {
        "pyarrow": _best(
            lambda: pq.write_table(table, out, compression="none", use_dictionary=False, write_statistics=False), 2
        ),
        "Polars": _best(lambda: frame.write_parquet(out, compression="uncompressed", statistics=False), 2),
    }
    out.unlink()
    bound = start + (read + min(write.values())) / cores  # all but the start split perfectly over the cores
    test, fields = min(match.values()) / cores, min(capture.values()) / cores
    print(
        f"{'floor':<8} {fmt}: start {start:.2f} s, read {read:.2f} s, Parquet write of the "
        f"{frame.height:,} x {frame.width} table " + ", ".join(f"{k} {v:.2f} s" for k, v in write.items())
    )
    print(
        f"{'floor':<8} {fmt}: grammar regex on {lines.len():,} lines, match only "
        + ", ".join(f"{k} {v:.2f} s" for k, v in match.items())
        + "; with capture groups "
        + ", ".join(f"{k} {v:.2f} s" for k, v in capture.items())
    )
    versus = f"lnav {lnav:.2f} s, " if lnav else ""
    print(
        f"{'floor':<8} {fmt}: lower bound on {cores} cores: start + (read + write) / {cores} = {bound:.2f} s "
        f"before any parsing; {bound + test:.2f} s testing each line against the grammar; {bound + fields:.2f} s "
        f"with the capture groups   ({versus}Lark per line / 25 = {lark / 25:.2f} s)"
    )


if __name__ == "__main__":
    sys.exit(main())
