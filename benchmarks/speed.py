"""Speed in one run: forensics beside lnav and plaso on single files, every shipped dialect beside the
reference one, a fleet of small logs beside one big file, and the 10.5M-event analysis (issue 27).

Each figure that decides a target is a ratio of two runs made back to back in this run, so that the
machine's load weighs on both sides; the seconds are printed as context. Each side is timed in its own
process (GNU time: wall seconds and peak RSS) and the best of ``--repeat`` runs is kept.

1. Single files (``benchmarks/ingest.py`` generates them, cached in ``--work``): a 1M-line syslog file,
   ``forensics parse FILE -o x.parquet`` against lnav reading every field of every line (target: forensics'
   rate >= 0.5 of lnav's); the first ``--plaso-lines`` lines of the same file against plaso
   (``log2timeline --parsers text/syslog_traditional`` then ``psort -o json_line``: plaso's extraction and
   its output of every event), when plaso is installed (``--plaso-bin``: the folder of its commands, e.g. a
   virtual environment's ``bin`` after ``pip install plaso``).
2. Dialects (``benchmarks/dialects.py``): the same simulated day phrased by each shipped vendor dialect
   on logcat, parsed against the reference dialect's (target: each within 1.5x of the reference's time).
3. Fleet (``benchmarks/fleet.py --ratio-only``): the sweep's parse stage over a simulated fleet's small
   terminal logs on 2 workers, against one simulated log of the same line count (target: >= 0.6).
4. Analysis (``benchmarks/analysis.py``, skipped with ``--no-analysis``): timeline and diagnosis of
   10.5M events from their Parquet file (targets: < 15 s, peak RSS < 3 GiB).

    python benchmarks/speed.py [--work /tmp/forensics-bench] [--repeat 2] [--plaso-bin DIR]
                               [--plaso-lines 20000] [--merchants 30] [--days 2] [--no-analysis]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ingest import _LNAV_FIELDS, generate, measure

HERE = Path(__file__).parent


def best(run: Callable[[], tuple[float, float]], repeat: int) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of the fastest of ``repeat`` runs."""
    return min((run() for _ in range(repeat)), key=lambda r: r[0])


def forensics_parse(path: Path, out: Path) -> tuple[float, float]:
    seconds, rss, _ = measure([sys.executable, "-m", "forensics.cli", "parse", str(path), "-o", str(out), "-q"])
    return seconds, rss


def lnav_fields(path: Path) -> tuple[float, float]:
    seconds, rss, _ = measure(["lnav", "-n", "-c", f";SELECT {_LNAV_FIELDS} FROM syslog_log", str(path)])
    return seconds, rss


def plaso(path: Path, folder: Path, bin_dir: Path) -> tuple[float, float]:
    """plaso's extraction of ``path`` with its syslog parser, then the output of every event as JSON lines."""
    storage, output = folder / "run.plaso", folder / "events.jsonl"
    for stale in (storage, output):
        stale.unlink(missing_ok=True)
    extract = [
        str(bin_dir / "log2timeline"),
        "--parsers",
        "text/syslog_traditional",
        "--status_view",
        "none",
        "--storage-file",
        str(storage),
        str(path),
    ]
    s1, rss1, _ = measure(extract)
    output_all = [str(bin_dir / "psort"), "--status_view", "none", "-o", "json_line", "-w", str(output), str(storage)]
    s2, rss2, _ = measure(output_all)
    events = sum(1 for _ in output.open("rb")) if output.exists() else 0
    if not events:
        raise SystemExit(f"plaso wrote no event from {path}: check {bin_dir}")
    return s1 + s2, max(rss1, rss2)


def row(what: str, tool: str, lines: int, seconds: float, rss: float, note: str = "") -> None:
    print(f"{what:<10} {tool:<34} {lines:>10,} {seconds:>8.2f} {lines / seconds:>11,.0f} {rss:>9,.0f}  {note}")


def single_files(work: Path, repeat: int, plaso_bin: Path | None, plaso_lines: int) -> list[tuple[str, float, str]]:
    """Part 1: (target, ratio, verdict) rows."""
    log = generate(work, 1_000_000)["syslog"]
    lines = sum(1 for _ in log.open("rb"))
    results = []
    print(f"{'part':<10} {'tool':<34} {'lines':>10} {'seconds':>8} {'lines/s':>11} {'RSS MiB':>9}")
    if shutil.which("lnav"):
        lnav_s, lnav_rss = best(lambda: lnav_fields(log), repeat)
        row("single", "lnav 0.11, every field read", lines, lnav_s, lnav_rss)
    ours_s, ours_rss = best(lambda: forensics_parse(log, work / "speed-syslog.parquet"), repeat)
    row("single", "forensics parse -o .parquet", lines, ours_s, ours_rss)
    if shutil.which("lnav"):
        ratio = lnav_s / ours_s
        results.append(("1M syslog lines: forensics rate / lnav's (every field) >= 0.5", ratio, _met(ratio >= 0.5)))
    else:
        results.append(("1M syslog lines: forensics rate / lnav's (every field) >= 0.5", float("nan"), "lnav missing"))
    if plaso_bin is not None:
        head = work / f"syslog-head-{plaso_lines}.log"
        with log.open("rb") as source, head.open("wb") as out:
            for _, line in zip(range(plaso_lines), source, strict=False):
                out.write(line)
        with tempfile.TemporaryDirectory() as tmp:
            plaso_s, plaso_rss = best(lambda: plaso(head, Path(tmp), plaso_bin), 1)
        row("single", "plaso log2timeline + psort", plaso_lines, plaso_s, plaso_rss, "(json_line output)")
        small_s, small_rss = best(lambda: forensics_parse(head, work / "speed-head.parquet"), repeat)
        row("single", "forensics parse -o .parquet", plaso_lines, small_s, small_rss)
        results.append((f"{plaso_lines:,} syslog lines: forensics rate / plaso's", plaso_s / small_s, "context"))
    return results


def dialects(work: Path, repeat: int) -> list[tuple[str, float, str]]:
    """Part 2: each shipped dialect's parse time over the reference dialect's (logcat: their home platform)."""
    command = [sys.executable, str(HERE / "dialects.py"), "--work", str(work / "dialects"), "--repeat", str(repeat)]
    out = _run([*command, "--terminals", "logcat"])
    results = []
    for terminal, vendor, ratio in re.findall(r"^(logcat|syslog)\s+(\w+)\s+\d+\s+[\d.]+\s+([\d.]+)x", out, flags=re.M):
        if vendor != "reference":
            what = f"{terminal} {vendor}: parse time / the reference dialect's <= 1.5"
            results.append((what, float(ratio), _met(float(ratio) <= 1.5)))
    return results


def fleet(work: Path, merchants: int, days: int) -> list[tuple[str, float, str]]:
    """Part 3: the parse rate of a fleet's small terminal logs on 2 workers, against one simulated log of as many
    lines (``benchmarks/fleet.py --ratio-only``)."""
    out = _run(
        [sys.executable, str(HERE / "fleet.py"), "--merchants", str(merchants), "--days", str(days)]
        + ["--ratio-only", "--ratio-workers", "2", "--fleet-dir", str(work / f"fleet-{merchants}x{days}")]
        + ["--out", str(work / "fleet-sweeps")]
    )
    found = re.search(r"fleet rate / single-file rate ([\d.]+)", out)
    if not found:
        raise SystemExit("benchmarks/fleet.py printed no 'fleet rate / single-file rate'")
    ratio = float(found.group(1))
    what = f"fleet of {merchants} merchants x {days} days: sweep parse rate / one file's >= 0.6"
    return [(what, ratio, _met(ratio >= 0.6))]


def analysis(work: Path) -> list[tuple[str, float, str]]:
    """Part 4: the 10.5M-event analysis, seconds and peak RSS."""
    out = _run([sys.executable, str(HERE / "analysis.py"), "--work", str(work)], check=False)
    seconds = float(re.search(r"timeline \+ diagnosis ([\d.]+) s", out).group(1))
    peak = float(re.search(r"peak RSS ([\d,]+) MiB", out).group(1).replace(",", ""))
    return [
        ("10.5M events: timeline + diagnosis seconds < 15", seconds, _met(seconds < 15)),
        ("10.5M events: peak RSS GiB < 3", peak / 1024, _met(peak < 3 * 1024)),
    ]


def _run(command: list[str], check: bool = True) -> str:
    """Run a benchmark script, echo its output, return it."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE.parent)
    print(done.stdout, end="")
    if check and done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "forensics-bench")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--plaso-bin", type=Path, help="folder of plaso's log2timeline and psort (default: on PATH)")
    parser.add_argument("--plaso-lines", type=int, default=20_000)
    parser.add_argument("--merchants", type=int, default=30)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--no-analysis", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    found = shutil.which("log2timeline")
    plaso_bin = args.plaso_bin or (Path(found).parent if found else None)
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average "
        f"{load[0]:.2f} at the start; lnav: {'yes' if shutil.which('lnav') else 'no'}; plaso: {plaso_bin or 'no'}"
    )
    results = single_files(args.work, args.repeat, plaso_bin, args.plaso_lines)
    results += dialects(args.work, args.repeat)
    results += fleet(args.work, args.merchants, args.days)
    if not args.no_analysis:
        results += analysis(args.work)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end\n\n{'target':<72} {'figure':>8}  verdict")
    for what, value, verdict in results:
        print(f"{what:<72} {value:>8.2f}  {verdict}")
    return 0 if all(v != "NOT met" for _, _, v in results) else 1


if __name__ == "__main__":
    sys.exit(main())
