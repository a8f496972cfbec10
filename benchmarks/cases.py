"""Accuracy of diagnosis on a folder of labelled incident cases (as ../shared/cases).

Each case folder holds terminal logs ``<serial>.log``, usually ``host.log``, often
``settlement.csv``, and ``truth.json`` (layout and matching rules: ../shared/cases/README.md).
Diagnoses each case in-process through the library (``forensics.diagnosis.diagnose`` then
``to_json()``, the bytes ``forensics diagnose --format json`` writes) and scores it with
``benchmarks/scoring.py``: recall, precision, cause accuracy, cause macro-F1 with a row per
cause, a row per family and per input set (T terminal, H host, S settlement), the confusion
table, crashes, and the targets. The figures agree with ``python3 ../shared/cases/score.py``.

    python benchmarks/cases.py [CASES_DIR] [--drop host|settlement]... [--only NAME] [--json] [--check-cli]

``--drop`` scores with an input kind removed from every case (the truth unchanged: a finding
that needs the removed evidence counts as missed). ``--check-cli`` also runs the
``forensics`` command on each case and counts outputs that differ from the library's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scoring import Scoreboard, analyze, input_set

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASES = ROOT.parent / "shared" / "cases"
CARD_KEY = "benchmark"  # fixed so that the library's and the command's documents can be compared byte for byte


def role(name: str) -> str:
    """The input a case file is, by the case layout: host.log, *.csv settlement, any other log a terminal."""
    if name == "host.log":
        return "host"
    if name.endswith(".csv"):
        return "settlement"
    return "terminal"


def case_files(folder: Path, truth: dict[str, Any]) -> list[str]:
    """The case's inputs in score.py's order: terminal logs sorted, then host.log, then settlement.csv."""
    names = [f for f in truth.get("files", []) if (folder / f).exists()]
    if not names:
        names = sorted(p.name for p in folder.iterdir() if p.suffix in (".log", ".csv"))
    logs = sorted(n for n in names if n.endswith(".log") and n != "host.log")
    return logs + [n for n in ("host.log", "settlement.csv") if n in names]


def same_as_command(paths: list[Path], text: str) -> bool:
    """Whether ``forensics diagnose PATHS --format json`` writes exactly ``text``."""
    env = {**os.environ, "FORENSICS_CARD_KEY": CARD_KEY}
    done = subprocess.run(
        ["forensics", "diagnose", *map(str, paths), "--format", "json"], capture_output=True, env=env, check=False
    )
    return done.returncode == 0 and done.stdout.decode("utf-8") == text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", type=Path, default=DEFAULT_CASES, help="folder of case folders")
    parser.add_argument(
        "--drop",
        action="append",
        choices=["host", "settlement"],
        default=[],
        help="score without this input (repeatable)",
    )
    parser.add_argument("--only", help="only cases whose name contains this")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--check-cli", action="store_true", help="also run the command and compare its output")
    args = parser.parse_args(argv)
    folders = sorted(p for p in args.cases.iterdir() if (p / "truth.json").is_file()) if args.cases.is_dir() else []
    if args.only:
        folders = [f for f in folders if args.only in f.name]
    if not folders:
        print(f"no cases found in {args.cases}", file=sys.stderr)
        return 2
    board = Scoreboard()
    differ: list[str] = []
    started = time.perf_counter()
    for folder in folders:
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        names = [n for n in case_files(folder, truth) if role(n) not in args.drop]
        paths = [folder / n for n in names]
        run = analyze(paths, card_key=CARD_KEY)
        board.add(
            truth.get("case", folder.name), truth.get("family", "?"), input_set(role(n) for n in names), truth, run
        )
        if args.check_cli and run.document is not None and not same_as_command(paths, run.text):
            differ.append(folder.name)
    elapsed = time.perf_counter() - started
    if args.json:
        summary = board.summary()
        if args.check_cli:
            summary["command_output_differs"] = differ
        print(json.dumps(summary, indent=2))
    else:
        dropped = f", without {' and '.join(args.drop)}" if args.drop else ""
        print(
            board.report(
                f"forensics diagnosis on {len(folders)} labelled cases in {args.cases}{dropped} ({elapsed:.0f} s)"
            ),
            end="",
        )
        if args.check_cli:
            same = f"{len(folders) - len(differ)}/{len(folders)}"
            same += f" (differ: {', '.join(differ)})" if differ else ""
            print(f"library output identical to `forensics diagnose --format json`: {same}")
    return 0 if board.targets_met() else 1


if __name__ == "__main__":
    sys.exit(main())
