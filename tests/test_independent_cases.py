"""Diagnosis on independently written cases (../shared/cases): one per mechanism issue 12 found missing.

The whole development set is scored by ``benchmarks/cases.py``; these cases hold the mechanisms in
the suite: each must give its expected finding (kind, cause, a shared key) and nothing else, from
every input subset that still evidences it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forensics.analysis import diagnose

# case -> input subsets (besides all inputs) that still evidence its finding
CASES = {
    "amount_0": ["T+S", "T+H"],  # keyed x10, refund of the difference next day
    "amount_1": ["T"],  # keyed x10, voided and run again
    "amount_3": ["T+H"],  # an app version's amount bug: one incident
    "deposit_2": ["T+H"],  # completion re-sent after a crash in the batch update
    "refund_4": ["T"],  # one sale refunded twice
    "misrouted_1": ["T+H"],  # replacement under a new TID with another MID
    "dup_timeout_1": ["T+H", "T"],  # reversal refused (25) by the fallback host
    "dup_timeout_3": ["T"],  # battery died with the reversal pending
    "dup_swbug_0": ["T"],  # reversal deleted after retries, no clearing file
    "cbd_power_1": ["T+H"],  # power lost in flight, device off for minutes
    "lookalike_1": ["T"],  # timeout whose reversal was acknowledged: nothing
}


def _keys(items: list[dict]) -> set[tuple[str, ...]]:
    """Matching keys (README of ../shared/cases) of a finding's transactions or an expected finding's keys."""
    keys: set[tuple[str, ...]] = set()
    for k in items:
        if k.get("rrn"):
            keys.add(("rrn", k["rrn"]))
        if k.get("stan") and k.get("device"):
            keys.add(("ds", k["device"].upper(), str(int(k["stan"]))))
    return keys


def _params() -> list:
    return [
        pytest.param(case, subset, id=f"{case}-{subset}")
        for case, subsets in CASES.items()
        for subset in ["all", *subsets]
    ]


@pytest.mark.slow
@pytest.mark.parametrize("case, subset", _params())
def test_case_gives_its_finding(shared: Path, case: str, subset: str) -> None:
    folder = shared / "cases" / case
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    files = [f for f in truth["files"] if (folder / f).exists()]
    if subset != "all":
        keep = {
            "T": lambda f: f not in ("host.log", "settlement.csv"),
            "H": lambda f: f == "host.log",
            "S": lambda f: f == "settlement.csv",
        }
        files = [f for f in files if any(keep[part](f) for part in subset.split("+"))]
    findings = [f.to_dict() for f in diagnose([str(folder / f) for f in files]).findings]
    got = [(f["kind"], f["cause"]) for f in findings]
    want = [(e["kind"], e["cause"]) for e in truth["expected"]]
    assert sorted(got) == sorted(want), [f["summary"] for f in findings]
    for expected in truth["expected"]:
        assert any(
            f["kind"] == expected["kind"] and _keys(f["transactions"]) & _keys(expected["keys"]) for f in findings
        )
    if case == "amount_3":  # one incident listing every transaction, with the count in its summary
        assert len(findings) == 1 and len(findings[0]["transactions"]) >= 80
        assert findings[0]["summary"].startswith(f"{len(findings[0]['transactions'])} transactions")
