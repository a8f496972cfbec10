"""Accuracy of `forensics diagnose` on simulated cases with known answers.

Simulates cases round-robin over every scenario family (negatives included) from seeds
never used by the tests or the sample library, diagnoses each from its files in-process,
and scores the findings with the matching rules of ../shared/cases/README.md
(``benchmarks/scoring.py``, shared with ``benchmarks/cases.py``): finding recall and
precision, cause accuracy, macro-F1 over causes with a row per cause, a row per family and
per input set (T terminal, H host, S settlement), the confusion table and the targets.

A case's inputs are the files its truth.json lists under ``inputs`` (all its files when
absent); ``--drop host|settlement`` removes an input kind from every case.

Every case is run in every vendor style of the simulator (``forensics.simulate.VENDORS``: the
reference app, orbit's JSON, quill's sentences; ``--vendor NAME``, repeatable, for some): the same
world with its app lines phrased by another app and read by that app's shipped dialect. It prints
one line per style (recall, precision, cause accuracy, macro-F1) and, per style, the cases whose
findings (kind, cause, contributing causes and keys) differ from the reference rendering's of the
same seed; ``--full`` adds each style's full report. Exit 0 when every style meets the targets and
finds what the reference style finds.

    python benchmarks/accuracy.py [--cases 342] [--seed 90000] [--vendor NAME]... [--drop host|settlement]... [--full]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scoring import Run, Scoreboard, analyze, input_set, predicted_keys

from forensics.simulate import FAMILIES, VENDORS, simulate


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


def run_case(family: str, seed: int, drop: list[str], vendor: str = "reference") -> tuple[dict[str, Any], str, Run]:
    """(truth, input set, diagnosis) of one simulated case, its app lines in ``vendor``'s style."""
    case = simulate(family, seed, vendor=vendor)
    kinds = roles(case.truth)
    given = case.truth.get("inputs") or sorted(case.files)
    names = [n for n in given if kinds.get(n, "terminal") not in drop]
    with tempfile.TemporaryDirectory() as tmp:
        case.write(tmp)
        folder = Path(tmp)
        zones = {str(folder / d["file"]): d["tz"] for d in case.truth["devices"] if d["file"] in names}
        run = analyze([folder / n for n in names], tz=zones, card_key="benchmark")
    return case.truth, input_set(kinds.get(n, "terminal") for n in names), run


def findings(run: Run) -> list[tuple[Any, ...]]:
    """What a diagnosis found, as compared across styles: kind, cause, contributing causes and keys."""
    if run.document is None:
        return [("error", run.error)]
    return sorted(
        (f.get("kind"), f.get("cause"), tuple(sorted(f.get("contributing") or [])), tuple(sorted(predicted_keys(f))))
        for f in run.document.get("findings") or []
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=342)
    parser.add_argument("--seed", type=int, default=90000, help="first seed (tests and samples use seeds below 1000)")
    parser.add_argument(
        "--vendor",
        action="append",
        choices=list(VENDORS),
        default=[],
        help="run this vendor style (repeatable; default: every style); the reference style always runs",
    )
    parser.add_argument(
        "--drop",
        action="append",
        choices=["host", "settlement"],
        default=[],
        help="score without this input (repeatable)",
    )
    parser.add_argument("--full", action="store_true", help="print each style's full report")
    args = parser.parse_args()
    styles = ["reference"] + [v for v in (args.vendor or list(VENDORS)) if v != "reference"]
    families = list(FAMILIES)
    started = time.perf_counter()
    boards = {style: Scoreboard() for style in styles}
    differ: dict[str, list[str]] = {style: [] for style in styles}
    for i in range(args.cases):
        family = families[i % len(families)]
        seed = args.seed + i
        found: dict[str, list[tuple[Any, ...]]] = {}
        for style in styles:
            truth, inputs, run = run_case(family, seed, args.drop, style)
            boards[style].add(f"{family}:{seed}", family, inputs, expected(truth), run)
            found[style] = findings(run)
            if found[style] != found["reference"]:
                differ[style].append(f"{family}:{seed}")
    elapsed = time.perf_counter() - started
    dropped = f", without {' and '.join(args.drop)}" if args.drop else ""
    title = (
        f"forensics diagnose accuracy: {args.cases} simulated cases per style, {len(families)} families, seeds "
        f"{args.seed}..{args.seed + args.cases - 1}{dropped}, styles {', '.join(styles)} ({elapsed:.0f} s)"
    )
    if args.full:
        for style in styles:
            print(boards[style].report(f"{title}\nstyle {style}: {VENDORS[style].title}"))
    print(title)
    print(
        f"{'style':10s} {'cases':>5s} {'exp':>4s} {'pred':>5s} {'hit':>4s} {'cause':>5s} {'fp':>4s} {'crash':>5s} "
        f"{'recall':>7s} {'prec':>7s} {'cause%':>7s} {'macroF1':>7s} {'targets':>7s} {'same as reference':>18s}"
    )
    ok = True
    for style in styles:
        s, cases = boards[style].summary(), boards[style].cases
        same = args.cases - len(differ[style])
        met = boards[style].targets_met()
        ok = ok and met and not differ[style]
        print(
            f"{style:10s} {s['cases']:5d} {s['expected_findings']:4d} {s['predicted_findings']:5d} "
            f"{sum(c.matched for c in cases):4d} {sum(c.cause_ok for c in cases):5d} {s['false_positives']:4d} "
            f"{s['crashes']:5d} {_pct(s['finding_recall'])} {_pct(s['finding_precision'])} "
            f"{_pct(s['cause_accuracy'])} {100 * s['cause_macro_f1']:7.1f} {'met' if met else 'NOT met':>7s} "
            f"{f'{same} of {args.cases} cases':>18s}"
        )
    for style in styles:
        if differ[style]:
            print(f"{style}: findings differ from the reference style in {', '.join(differ[style][:20])}")
    return 0 if ok else 1


def _pct(x: float | None) -> str:
    return "    n/a" if x is None else f"{100 * x:6.1f}%"


if __name__ == "__main__":
    sys.exit(main())
