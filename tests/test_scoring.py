"""The benchmarks' scoring (benchmarks/scoring.py) applies the matching rules of ../shared/cases/README.md
and gives the figures of the reference scorer ../shared/cases/score.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.scoring import Run, Scoreboard, expected_keys, input_set, predicted_keys


def _finding(kind: str, cause: str, *txns: dict[str, Any], devices: list[str] | None = None) -> dict[str, Any]:
    return {
        "kind": kind,
        "cause": cause,
        "confidence": 0.8,
        "devices": devices or [],
        "transactions": list(txns),
        "evidence": [{"role": "charge", "path": "a.log", "line": 1, "text": "x"}],
    }


def _expected(kind: str, cause: str, *keys: dict[str, str], contributing: list[str] | None = None) -> dict[str, Any]:
    return {"kind": kind, "cause": cause, "contributing": contributing or [], "keys": list(keys)}


def _run(*findings: dict[str, Any]) -> Run:
    document = {"inputs": [], "findings": list(findings), "compliance": []}
    return Run(document, json.dumps(document, indent=2), None, False, 0.0)


# (truth, findings) of synthetic cases covering each rule
CASES: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
    # STANs compared as numbers, device names without case: matched, right cause
    (
        {
            "expected": [
                _expected(
                    "duplicate_charge",
                    "hardware_fault",
                    {"device": "S1F2-2437", "stan": "007432"},
                    {"rrn": "613812186844"},
                    contributing=["operator_error"],
                )
            ]
        },
        [_finding("duplicate_charge", "hardware_fault", {"device": "s1f2-2437", "stan": "7432", "rrn": None})],
    ),
    # matched by RRN alone, wrong cause (a contributing one: lenient accuracy takes it)
    (
        {
            "expected": [
                _expected(
                    "duplicate_charge",
                    "hardware_fault",
                    {"device": "A", "stan": "1"},
                    {"rrn": "99"},
                    contributing=["operator_error"],
                )
            ]
        },
        [_finding("duplicate_charge", "operator_error", {"device": "B", "stan": "5", "rrn": "99"})],
    ),
    # same key, other kind: no match (a false positive and a miss)
    (
        {"expected": [_expected("refund_error", "operator_error", {"device": "A", "stan": "12"})]},
        [_finding("amount_mismatch", "operator_error", {"device": "A", "stan": "12", "rrn": None})],
    ),
    # a transaction without a device takes the finding's only device
    (
        {"expected": [_expected("charged_but_declined", "network_timeout", {"device": "C", "stan": "000077"})]},
        [_finding("charged_but_declined", "network_timeout", {"stan": "77", "rrn": None}, devices=["C"])],
    ),
    # a clean case: every prediction is a false positive
    (
        {"expected": [], "forbidden_kinds": ["deposit_error"]},
        [_finding("deposit_error", "undetermined", {"device": "D", "stan": "3", "rrn": None})],
    ),
    # one incident, one finding per transaction: both match
    (
        {
            "expected": [
                _expected("amount_mismatch", "software_bug", {"device": "E", "stan": "1"}, {"device": "E", "stan": "2"})
            ]
        },
        [
            _finding("amount_mismatch", "software_bug", {"device": "E", "stan": "1", "rrn": None}),
            _finding("amount_mismatch", "software_bug", {"device": "E", "stan": "2", "rrn": None}),
        ],
    ),
    # a missed finding counts against its cause
    ({"expected": [_expected("misrouted_funds", "migration_sync_delay", {"device": "F", "stan": "9"})]}, []),
]


def test_keys_follow_the_readme() -> None:
    assert expected_keys(_expected("x", "y", {"device": "ab-1", "stan": "000042"}, {"rrn": " 12 "})) == {
        ("ds", "AB-1", "42"),
        ("rrn", "12"),
    }
    assert predicted_keys(_finding("x", "y", {"stan": "0042", "rrn": None}, devices=["ab-1", "cd-2"])) == set()
    assert input_set(["settlement", "terminal"]) == "T+S" and input_set(["host", "terminal", "settlement"]) == "T+H+S"


def test_figures_of_the_synthetic_cases() -> None:
    board = Scoreboard()
    for i, (truth, findings) in enumerate(CASES):
        board.add(f"c{i}", "f", "T+H+S", truth, _run(*findings))
    s = board.summary()
    assert (s["expected_findings"], s["predicted_findings"]) == (6, 7)
    assert s["finding_recall"] == round(4 / 6, 4)  # all but the other-kind and the missed one
    assert s["finding_precision"] == round(5 / 7, 4)
    assert s["cause_accuracy"] == 0.75 and s["cause_accuracy_lenient"] == 1.0
    assert (s["false_positives"], s["clean_cases_with_findings"], s["forbidden_kind_findings"]) == (2, 1, 1)
    assert s["per_cause"]["migration_sync_delay"]["fn"] == 1 and s["per_cause"]["migration_sync_delay"]["f1"] == 0.0
    assert s["per_cause"]["undetermined"]["fp"] == 1
    assert not board.targets_met()


def test_agrees_with_the_reference_scorer(shared: Path, tmp_path: Path) -> None:
    """score.py, run on the same synthetic cases with an analyzer that prints the canned findings, gives the same
    figures."""
    for i, (truth, findings) in enumerate(CASES):
        folder = tmp_path / f"c{i}"
        folder.mkdir()
        (folder / "a.log").write_text(_run(*findings).text, encoding="utf-8")
        (folder / "truth.json").write_text(
            json.dumps({"case": f"c{i}", "family": f"fam{i % 2}", "files": ["a.log"], **truth}), encoding="utf-8"
        )
    command = f'{sys.executable} -c "import sys; sys.stdout.write(open(sys.argv[1]).read())" {{files}}'
    done = subprocess.run(
        [sys.executable, str(shared / "cases" / "score.py"), str(tmp_path), "--json", "--cmd", command],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    reference = json.loads(done.stdout)
    board = Scoreboard()
    for i, (truth, findings) in enumerate(CASES):
        board.add(f"c{i}", f"fam{i % 2}", "T", truth, _run(*findings))
    mine = board.summary()
    for key in (
        "expected_findings",
        "predicted_findings",
        "finding_recall",
        "finding_precision",
        "false_positives",
        "clean_cases_with_findings",
        "forbidden_kind_findings",
        "cause_accuracy",
        "cause_accuracy_lenient",
        "cause_macro_f1",
        "per_cause",
    ):
        assert mine[key] == reference[key], key
    families = board.groups("family")
    for name, row in reference["per_family"].items():
        got = families[name]
        assert (
            got.cases,
            got.expected,
            got.matched,
            got.cause_ok,
            got.predicted,
            got.false_positives,
            got.forbidden,
        ) == (
            row["cases"],
            row["expected"],
            row["matched"],
            row["cause_ok"],
            row["predicted"],
            row["fp"],
            row["forbidden"],
        )
    assert {(c["expected"], c["predicted"]): c["n"] for c in reference["confusion"]} == dict(board.confusion)


@pytest.mark.parametrize("error, crashed", [("refused: no such file", False), ("crash: KeyError", True)])
def test_a_failed_run_scores_as_missed_and_is_counted(error: str, crashed: bool) -> None:
    board = Scoreboard()
    board.add("c", "f", "T", CASES[0][0], Run(None, "", error, crashed, 0.0))
    s = board.summary()
    assert (s["finding_recall"], s["crashes"], s["errors"]) == (0.0, int(crashed), 1)
