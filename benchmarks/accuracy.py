"""Accuracy of `forensics diagnose` on simulated cases with known answers.

Simulates cases round-robin over every scenario family (negatives included) from seeds
never used by the tests or the sample library, diagnoses each from its files in-process,
and scores the findings with the matching rules of ../shared/cases/README.md
(``benchmarks/scoring.py``, shared with ``benchmarks/cases.py``): finding recall and
precision, cause accuracy, macro-F1 over causes with a row per cause, a row per family and
per input set (T terminal, H host, S settlement), the confusion table and the targets.

A case's inputs are the files its truth.json lists under ``inputs`` (all its files when
absent); ``--drop host|settlement`` removes an input kind from every case.

    python benchmarks/accuracy.py [--cases 324] [--seed 90000] [--drop host|settlement]...
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scoring import Run, Scoreboard, analyze, input_set

from forensics.simulate import FAMILIES, simulate


def expected(truth: dict[str, Any]) -> dict[str, Any]:
    """The simulator's truth in the case layout: findings as ``expected`` with device + STAN and RRN keys."""

    def layout(f: dict[str, Any]) -> dict[str, Any]:
        keys: list[dict[str, str]] = []
        for t in f["transactions"]:
            if t.get("stan"):
                keys.append({"device": t["device"], "stan": t["stan"]})
            if t.get("rrn"):
                keys.append({"rrn": t["rrn"]})
        return {"kind": f["kind"], "cause": f["cause"], "contributing": f.get("contributing", []), "keys": keys}

    return {
        "expected": [layout(f) for f in truth["findings"]],
        "unsupported": [layout(f) for f in truth.get("unsupported", [])],
    }


def roles(truth: dict[str, Any]) -> dict[str, str]:
    """File name -> terminal, host or settlement, from the simulator's truth."""
    out = {d["file"]: "terminal" for d in truth["devices"]}
    if truth.get("host"):
        out[truth["host"]["file"]] = "host"
    out.update({name: "settlement" for name in truth.get("settlement", [])})
    return out


def run_case(family: str, seed: int, drop: list[str]) -> tuple[dict[str, Any], str, Run]:
    """(truth, input set, diagnosis) of one simulated case."""
    case = simulate(family, seed)
    kinds = roles(case.truth)
    given = case.truth.get("inputs") or sorted(case.files)
    names = [n for n in given if kinds.get(n, "terminal") not in drop]
    with tempfile.TemporaryDirectory() as tmp:
        case.write(tmp)
        folder = Path(tmp)
        zones = {str(folder / d["file"]): d["tz"] for d in case.truth["devices"] if d["file"] in names}
        run = analyze([folder / n for n in names], tz=zones, card_key="benchmark")
    return case.truth, input_set(kinds.get(n, "terminal") for n in names), run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=324)
    parser.add_argument("--seed", type=int, default=90000, help="first seed (tests and samples use seeds below 1000)")
    parser.add_argument(
        "--drop",
        action="append",
        choices=["host", "settlement"],
        default=[],
        help="score without this input (repeatable)",
    )
    args = parser.parse_args()
    families = list(FAMILIES)
    started = time.perf_counter()
    board = Scoreboard()
    for i in range(args.cases):
        family = families[i % len(families)]
        seed = args.seed + i
        truth, inputs, run = run_case(family, seed, args.drop)
        board.add(f"{family}:{seed}", family, inputs, expected(truth), run)
    elapsed = time.perf_counter() - started
    dropped = f", without {' and '.join(args.drop)}" if args.drop else ""
    print(
        board.report(
            f"forensics diagnose accuracy: {args.cases} simulated cases, {len(families)} families, seeds "
            f"{args.seed}..{args.seed + args.cases - 1}{dropped} ({elapsed:.0f} s)"
        ),
        end="",
    )
    return 0 if board.targets_met() else 1


if __name__ == "__main__":
    sys.exit(main())
