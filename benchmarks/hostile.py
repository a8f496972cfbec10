"""Peak memory on hostile inputs: each must stay under 2 GiB whatever its size.

Generates (once, cached in --work) the large inputs of issue 13: a 200 MB file with no newline,
a gzip of 200 MB of zeros, a gzip bomb of 2 GB of zeros, and a gzip of 1.5 GB of valid logcat
lines (a simulated log's first lines repeated), plus a single 50 MB line. Each is read in a
subprocess by `forensics parse FILE -o events.parquet` (the streaming path) and by
`forensics.load()`. ``load()`` returns the tables in memory, so on the valid lines it holds
every event and its text: not bounded by nature (it passed 12 GB on 1.5 GB of lines); it runs
there only with --big-load. Prints seconds, the child's peak RSS (``os.wait4``) and whether it
is under 2 GiB.

    python benchmarks/hostile.py [--work /tmp/forensics-hostile] [--valid-gb 1.5] [--big-load]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

LIMIT = 2 << 30
_BLOCK = 1 << 24


def _write_gzip(path: Path, blocks: Callable[[], object], level: int = 6) -> None:
    packer = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        for block in blocks():  # type: ignore[attr-defined]
            out.write(packer.compress(block))
        out.write(packer.flush())
    partial.replace(path)


def _zeros(total: int) -> Callable[[], object]:
    return lambda: (b"\0" * min(_BLOCK, total - at) for at in range(0, total, _BLOCK))


def _valid_lines(work: Path, total: int) -> Callable[[], object]:
    """Blocks of whole logcat lines up to ``total`` bytes: a simulated log's first 250 lines repeated
    (they fit gzip's window, so the file is small, as the issue's 11 MB for 1.5 GB)."""
    folder = work / "simulated"
    if not folder.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "forensics.cli",
                "simulate",
                "--lines",
                "20000",
                "--terminal",
                "logcat",
                "--style",
                "threadtime",
                "--seed",
                "1",
                "-o",
                str(folder),
            ],
            check=True,
            capture_output=True,
        )
    log = next(folder.glob("[AV]*.log"))
    sample = b"".join(log.read_bytes().splitlines(keepends=True)[:250])
    block = sample * max(1, _BLOCK // len(sample))
    return lambda: (block[: min(len(block), total - at)] for at in range(0, total, len(block)))


def generate(work: Path, valid_gb: float) -> dict[str, Path]:
    """The inputs, made once."""
    cases = {
        "no newline, 200 MB": (work / "no-newline.log", None),
        "gzip of 200 MB of zeros": (work / "zeros-200mb.gz", _zeros(200 << 20)),
        "gzip bomb, 2 GB of zeros": (work / "bomb-2gb.gz", _zeros(2 << 30)),
        f"gzip of {valid_gb:g} GB of valid lines": (
            work / f"valid-{valid_gb:g}gb.log.gz",
            _valid_lines(work, int(valid_gb * (1 << 30))),
        ),
        "one 50 MB line": (work / "line-50mb.log", None),
    }
    files = {}
    for name, (path, blocks) in cases.items():
        if not path.exists():
            if path.name == "no-newline.log":
                with path.open("wb") as out:
                    for at in range(0, 200_000_000, _BLOCK):
                        out.write(b"A" * min(_BLOCK, 200_000_000 - at))
            elif path.name == "line-50mb.log":
                path.write_bytes(b"03-14 10:02:04.204  2311  2398 I Big: " + b"x" * (50 << 20) + b"\n")
            else:
                _write_gzip(path, blocks)  # type: ignore[arg-type]
        files[name] = path
    return files


def measure(cmd: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS bytes, exit status) of a command run as a child."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.stderr is not None:
        child.stderr.close()
    return time.perf_counter() - start, usage.ru_maxrss * 1024, child.returncode


_LOAD = (
    "import sys, forensics; l = forensics.load(sys.argv[1]); "
    "print(l.events.height, l.unparsed.height, l.inputs['lines'][0])"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/forensics-hostile")
    parser.add_argument("--valid-gb", type=float, default=1.5)
    parser.add_argument("--big-load", action="store_true", help="Also run load() on the valid lines (unbounded).")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    files = generate(work, args.valid_gb)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    print(f"{'input':<32} {'on disk':>10} {'how':<26} {'seconds':>8} {'peak RSS MiB':>13}  under 2 GiB")
    failed = 0
    for name, path in files.items():
        runs = [
            (
                "forensics parse -o .parquet",
                [sys.executable, "-m", "forensics.cli", "parse", str(path), "-o", str(work / "events.parquet"), "-q"],
            ),
            ("forensics.load()", [sys.executable, "-c", _LOAD, str(path)]),
        ]
        for how, cmd in runs:
            if how == "forensics.load()" and "valid lines" in name and not args.big_load:
                continue
            seconds, rss, status = measure(cmd)
            verdict = "yes" if rss < LIMIT and status == 0 else ("NO" if status == 0 else f"exit {status}")
            failed += verdict != "yes"
            print(
                f"{name:<32} {path.stat().st_size / 1e6:>8.1f}MB {how:<26} {seconds:>8.1f} {rss / 2**20:>13.0f}  "
                f"{verdict}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
