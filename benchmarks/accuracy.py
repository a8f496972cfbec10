"""Accuracy of `forensics diagnose` on simulated cases with known answers.

Simulates cases round-robin over every scenario family (negatives included) from seeds
never used by the tests or the sample library, diagnoses each from its files, matches
findings to the truth (same kind, a shared transaction), and prints finding precision and
recall, cause accuracy, macro-F1 over causes, the confusion matrix and the worst families.

    python benchmarks/accuracy.py [--cases 324] [--seed 90000]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

from forensics.diagnosis import diagnose
from forensics.simulate import FAMILIES, simulate

CAUSES = ["hardware_fault", "software_bug", "operator_error", "migration_sync_delay", "network_timeout", "host_error",
          "undetermined"]


def _keys(finding: dict) -> set[tuple[str, str, str]]:
    return {(t["device"], t["stan"], t["inv"]) for t in finding["transactions"]}


def run_case(family: str, seed: int) -> tuple[list[dict], list[dict]]:
    """(truth findings, predicted findings) of one simulated case."""
    case = simulate(family, seed)
    with tempfile.TemporaryDirectory() as tmp:
        case.write(tmp)
        folder = Path(tmp)
        zones = {str(folder / d["file"]): d["tz"] for d in case.truth["devices"]}
        logs = sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))
        predicted = json.loads(diagnose(logs, tz=zones, card_key="benchmark").to_json())["findings"]
    return case.truth["findings"], predicted


def match(truth: list[dict], predicted: list[dict]) -> tuple[list[tuple[dict, dict]], list[dict], list[dict]]:
    """Greedy one-to-one matching: same kind and at least one transaction in common."""
    pairs, used = [], set()
    for t in truth:
        for i, p in enumerate(predicted):
            if i not in used and p["kind"] == t["kind"] and _keys(p) & _keys(t):
                pairs.append((t, p))
                used.add(i)
                break
    missed = [t for t in truth if not any(t is a for a, _ in pairs)]
    spurious = [p for i, p in enumerate(predicted) if i not in used]
    return pairs, missed, spurious


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=324)
    parser.add_argument("--seed", type=int, default=90000, help="first seed (tests and samples use seeds below 1000)")
    args = parser.parse_args()
    families = list(FAMILIES)
    started = time.perf_counter()
    y_true: list[str] = []
    y_pred: list[str] = []
    n_truth = n_pred = n_matched = n_cause_ok = 0
    errors_by_family: collections.Counter[str] = collections.Counter()
    cases_by_family: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    for i in range(args.cases):
        family = families[i % len(families)]
        seed = args.seed + i
        truth, predicted = run_case(family, seed)
        pairs, missed, spurious = match(truth, predicted)
        cases_by_family[family] += 1
        n_truth += len(truth)
        n_pred += len(predicted)
        n_matched += len(pairs)
        for t, p in pairs:
            y_true.append(t["cause"])
            y_pred.append(p["cause"])
            n_cause_ok += t["cause"] == p["cause"]
            if t["cause"] != p["cause"]:
                errors_by_family[family] += 1
                examples.setdefault(family, f"seed {seed}: cause {p['cause']} instead of {t['cause']}")
        for t in missed:
            y_true.append(t["cause"])
            y_pred.append("(missed)")
            errors_by_family[family] += 1
            examples.setdefault(family, f"seed {seed}: missed {t['kind']}")
        for p in spurious:
            y_true.append("(none)")
            y_pred.append(p["cause"])
            errors_by_family[family] += 1
            examples.setdefault(family, f"seed {seed}: spurious {p['kind']} ({p['cause']})")
    elapsed = time.perf_counter() - started
    precision = n_matched / n_pred if n_pred else 1.0
    recall = n_matched / n_truth if n_truth else 1.0
    cause_accuracy = n_cause_ok / n_matched if n_matched else 0.0
    f1s = {}
    for cause in CAUSES:
        tp = sum(1 for a, b in zip(y_true, y_pred) if a == cause and b == cause)
        fp = sum(1 for a, b in zip(y_true, y_pred) if a != cause and b == cause)
        fn = sum(1 for a, b in zip(y_true, y_pred) if a == cause and b != cause)
        if tp + fp + fn:
            f1s[cause] = 2 * tp / (2 * tp + fp + fn)
    macro_f1 = sum(f1s.values()) / len(f1s) if f1s else 0.0
    print(f"forensics diagnose accuracy: {args.cases} simulated cases, {len(families)} families, seeds "
          f"{args.seed}..{args.seed + args.cases - 1} ({elapsed:.0f} s)")
    print(f"  truth findings {n_truth}, predicted {n_pred}, matched {n_matched}")
    print(f"  finding precision  {precision:.3f}")
    print(f"  finding recall     {recall:.3f}")
    print(f"  cause accuracy     {cause_accuracy:.3f}")
    print(f"  macro-F1 (causes)  {macro_f1:.3f}   " + "  ".join(f"{c} {f:.2f}" for c, f in f1s.items()))
    labels = [c for c in CAUSES if c in y_true or c in y_pred] + ["(none)"]
    columns = [c for c in CAUSES if c in y_true or c in y_pred] + ["(missed)"]
    print("\n  confusion (rows: truth, columns: predicted)")
    print("  " + " " * 22 + "".join(f"{c[:10]:>11}" for c in columns))
    counts = collections.Counter(zip(y_true, y_pred))
    for row in labels:
        if any(counts[(row, c)] for c in columns):
            print(f"  {row:<22}" + "".join(f"{counts[(row, c)]:>11}" for c in columns))
    print("\n  worst families (errors / cases)")
    worst = errors_by_family.most_common(5)
    if not worst:
        print("    none: every case right")
    for family, n in worst:
        print(f"    {family:<34} {n}/{cases_by_family[family]}   e.g. {examples[family]}")
    ok = precision >= 0.95 and recall >= 0.95 and macro_f1 >= 0.95
    print(f"\n  target (precision, recall, macro-F1 >= 0.95): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
