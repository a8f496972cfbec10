"""Accuracy of diagnosis on a folder of labelled incident cases (as ../shared/cases).

Each case folder holds terminal logs ``<serial>.log``, usually ``host.log``, often
``settlement.csv``, and ``truth.json`` (layout and matching rules: ../shared/cases/README.md).
Diagnoses each case in-process through the library (``forensics.diagnosis.diagnose`` then
``to_json()``, the bytes ``forensics diagnose --format json`` writes) and scores it with
``benchmarks/scoring.py``: recall, precision, cause accuracy, cause macro-F1 with a row per
cause, a row per family and per input set (T terminal, H host, S settlement), the confusion
table, crashes, and the targets. The figures agree with ``python3 ../shared/cases/score.py``.

    python benchmarks/cases.py [CASES_DIR] [--drop terminal|host|settlement]... [--only NAME] [--json] [--check-cli]
    python benchmarks/cases.py --subsets

``--drop`` scores with an input kind removed from every case (the truth unchanged: a finding
that needs the removed evidence counts as missed; a case left with no input is not run).
``--drop terminal --drop`` nothing else is the acquirer's usual pair, host log and clearing file.
``--subsets`` scores every subset of the inputs in turn and prints one line per subset. ``--check-cli`` also runs the
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


def score(folders: list[Path], drop: set[str], check_cli: bool = False) -> tuple[Scoreboard, list[str], int]:
    """The scoreboard of the cases without the ``drop`` inputs, the cases whose command output differs from the
    library's (``check_cli``), and how many cases were left with no input (not run)."""
    board = Scoreboard()
    differ: list[str] = []
    empty = 0
    for folder in folders:
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        names = [n for n in case_files(folder, truth) if role(n) not in drop]
        if not names:
            empty += 1
            continue
        paths = [folder / n for n in names]
        run = analyze(paths, card_key=CARD_KEY)
        board.add(
            truth.get("case", folder.name), truth.get("family", "?"), input_set(role(n) for n in names), truth, run
        )
        if check_cli and run.document is not None and not same_as_command(paths, run.text):
            differ.append(folder.name)
    return board, differ, empty


#: The input subsets ``--subsets`` scores: what each drops
SUBSETS = {
    "as given": set(),
    "no clearing file": {"settlement"},
    "no host log": {"host"},
    "host + clearing only": {"terminal"},
    "terminal logs only": {"host", "settlement"},
    "host log only": {"terminal", "settlement"},
}


def subsets(folders: list[Path]) -> int:
    """Score every input subset of ``folders``, one line each; 0 when the cases as given meet the targets."""
    print(f"forensics diagnosis on {len(folders)} labelled cases, per input subset (the truth unchanged:")
    print("a finding whose evidence was dropped counts as missed; cases left with no input are not run)")
    print(f"{'subset':<22} {'cases':>5} {'exp':>4} {'pred':>4} {'recall':>7} {'prec':>7} {'cause':>7} {'F1':>6}")
    met = True
    for name, drop in SUBSETS.items():
        board, _, _ = score(folders, drop)
        s = board.summary()
        print(
            f"{name:<22} {s['cases']:>5} {s['expected_findings']:>4} {s['predicted_findings']:>4}"
            f" {_pct(s['finding_recall']):>7} {_pct(s['finding_precision']):>7} {_pct(s['cause_accuracy']):>7}"
            f" {100 * s['cause_macro_f1']:>6.1f}"
        )
        if not drop:
            met = board.targets_met()
    return 0 if met else 1


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", type=Path, default=DEFAULT_CASES, help="folder of case folders")
    parser.add_argument(
        "--drop",
        action="append",
        choices=["terminal", "host", "settlement"],
        default=[],
        help="score without this input (repeatable)",
    )
    parser.add_argument("--only", help="only cases whose name contains this")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--check-cli", action="store_true", help="also run the command and compare its output")
    parser.add_argument("--subsets", action="store_true", help="score every subset of the inputs, a line each")
    args = parser.parse_args(argv)
    folders = sorted(p for p in args.cases.iterdir() if (p / "truth.json").is_file()) if args.cases.is_dir() else []
    if args.only:
        folders = [f for f in folders if args.only in f.name]
    if not folders:
        print(f"no cases found in {args.cases}", file=sys.stderr)
        return 2
    if args.subsets:
        return subsets(folders)
    started = time.perf_counter()
    board, differ, _ = score(folders, set(args.drop), args.check_cli)
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
