"""Finding kinds as units: discovery and its checks, the typed Finding and its JSON, the rule files' columns."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.resources import files
from types import ModuleType

import polars as pl
import pytest

from forensics.analysis import diagnose
from forensics.diagnosis import default_rules
from forensics.diagnosis.finding import JSON_KEYS, Finding
from forensics.diagnosis.kinds import Kind, kinds, registry
from forensics.diagnosis.rules import RuleSet, transaction_types
from forensics.errors import RuleError
from forensics.simulate import FAMILIES
from tests.conftest import SAMPLES
from tests.test_diagnosis import case_args


def _module(kind: Kind | None) -> ModuleType:
    module = ModuleType("fake")
    if kind is not None:
        module.KIND = kind  # type: ignore[attr-defined]
    return module


def _kind(name: str, after: tuple[str, ...] = ()) -> Kind:
    return Kind(
        name,
        lambda ctx: pl.DataFrame(),
        lambda row, txns: (None, txns[0]),
        lambda *_: "x",
        "X",
        lambda *_: "y",
        after=after,
    )


def test_every_kind_has_its_module_and_rule_file_and_every_rule_file_a_kind() -> None:
    rule_files = sorted(
        e.name.removesuffix(".toml") for e in files("forensics.rules").iterdir() if e.name.endswith(".toml")
    )
    assert sorted(kinds()) == rule_files
    assert {r.finding for r in default_rules().rules} == set(kinds())
    # a detector runs after the kinds it reads
    order = list(kinds())
    assert all(order.index(a) < order.index(k.name) for k in kinds().values() for a in k.after)


def test_a_kind_without_a_summary_fails_at_load() -> None:
    with pytest.raises(TypeError, match="'new_kind': summary must be a function"):
        Kind("new_kind", lambda ctx: pl.DataFrame(), lambda row, txns: (None, txns[0]), None, "X", lambda *_: "y")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("title", "action", "message"),
    [("Charged", None, "action must be a function"), ("  ", lambda *_: "y", "title must be a heading in words")],
)
def test_a_kind_without_a_title_or_an_action_fails_at_load(title: str, action: object, message: str) -> None:
    with pytest.raises(TypeError, match=f"'new_kind': {message}"):
        Kind("new_kind", lambda ctx: pl.DataFrame(), lambda row, txns: (None, txns[0]), lambda *_: "x", title, action)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("folder", sorted(p.parent for p in SAMPLES.glob("*/truth.json")), ids=lambda p: p.name)
def test_every_finding_says_what_to_do_with_its_amount_and_whom(folder) -> None:
    """The "what to do" line names an amount, a card, an invoice, a MID or a device: something to act on."""
    logs, zones, _ = case_args(folder)
    for f in diagnose(logs, tz=zones, card_key="k").findings:
        assert f.action and "None" not in f.action and "?" not in f.action, f.action
        targets = [f.amount, f.card and f.card[-4:], *(t.inv for t in f.transactions), *f.devices]
        assert any(t and t in f.action for t in targets), f.action


@pytest.mark.parametrize(
    ("modules", "rule_files", "message"),
    [
        ({"new_kind": _module(None)}, {"new_kind.toml"}, "kinds/new_kind.py: defines no KIND"),
        ({"new_kind": _module(_kind("other"))}, {"new_kind.toml"}, "KIND is named 'other', not 'new_kind'"),
        ({"new_kind": _module(_kind("new_kind"))}, set(), "no rule file forensics/rules/new_kind.toml"),
        ({"new_kind": _module(_kind("new_kind", ("nothing",)))}, {"new_kind.toml"}, "after 'nothing'"),
        (
            {"a": _module(_kind("a", ("b",))), "b": _module(_kind("b", ("a",)))},
            {"a.toml", "b.toml"},
            "a cycle",
        ),
    ],
)
def test_discovery_names_the_module_at_fault(modules: dict, rule_files: set[str], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        registry(modules, rule_files)


def test_discovery_runs_a_kind_after_those_it_reads() -> None:
    modules = {"a": _module(_kind("a", ("b",))), "b": _module(_kind("b"))}
    assert list(registry(modules, {"a.toml", "b.toml"})) == ["b", "a"]


def test_a_finding_is_typed_and_its_json_is_to_dict() -> None:
    logs, zones, _ = case_args(SAMPLES / "dup_paper_out_rerun")
    result = diagnose(logs, tz=zones)
    f = result.findings[0]
    assert isinstance(f, Finding)
    doc = json.loads(result.to_json())
    assert doc["findings"] == [g.to_dict() for g in result.findings]
    assert list(doc["findings"][0]) == list(JSON_KEYS)
    # read-only access by JSON key, for notebooks and charts; nothing else leaks through it
    assert f["kind"] == f.kind and f["transactions"][0]["stan"] == f.transactions[0].stan
    with pytest.raises(KeyError):
        f["rules"]
    assert f.rules and "Rules: " + ", ".join(f.rules) in result.to_text()
    assert set(result.frame.columns) == set(JSON_KEYS)


GOOD = """
[[rule]]
id = "x-rule"
finding = "duplicate_charge"
cause = "operator_error"
weight = 1
when = [ { match = { "first.merchant_outcome" = "APPROVED" } } ]
"""


def test_installed_rules_are_checked_against_the_declared_transactions_schema() -> None:
    assert dict(default_rules().txn_types) == dict(transaction_types())
    assert default_rules().txn_columns == set(transaction_types())


def test_a_rule_names_only_its_own_kinds_columns() -> None:
    text = GOOD.replace('"first.merchant_outcome" = "APPROVED"', "ratio = { gte = 5 }")
    # ratio is a column amount_mismatch candidates have, and duplicate_charge candidates do not
    with pytest.raises(RuleError, match="bad.toml: rule x-rule: field 'when\\[1\\]': unknown column 'ratio'"):
        RuleSet([("bad.toml", text)])
    assert RuleSet([("bad.toml", text.replace("duplicate_charge", "amount_mismatch"))]).rules


def test_a_kinds_column_has_the_type_it_declares() -> None:
    text = GOOD.replace('finding = "duplicate_charge"', 'finding = "amount_mismatch"').replace(
        '"first.merchant_outcome" = "APPROVED"', 'ratio = { gte = "five" }'
    )
    with pytest.raises(RuleError, match="bad.toml: rule x-rule: field 'when\\[1\\]': match ratio: gte: the column"):
        RuleSet([("bad.toml", text)])
    assert RuleSet([("bad.toml", text.replace('"five"', "5"))]).rules


def test_a_kinds_rule_file_holds_that_kinds_rules() -> None:
    with pytest.raises(RuleError, match="amount_mismatch.toml: rule x-rule: field 'finding': 'duplicate_charge'"):
        RuleSet([("amount_mismatch.toml", GOOD)])


def test_a_typo_in_an_installed_rule_file_fails_with_file_rule_and_field() -> None:
    name = "deposit_error.toml"
    text = files("forensics.rules").joinpath(name).read_text(encoding="utf-8")
    assert '"second.resend_of"' in text
    with pytest.raises(
        RuleError, match=r"deposit_error.toml: rule [\w-]+: field 'when\[1\]': unknown transaction column"
    ):
        RuleSet([(name, text.replace('"second.resend_of"', '"second.resend_off"', 1))])


def test_every_kind_has_a_family_and_a_sample_case() -> None:
    """A new kind comes with a simulator family (its rules' examples) and a case in the sample library."""
    catalog = tomllib.loads((SAMPLES / "catalog.toml").read_text(encoding="utf-8"))
    sampled = {FAMILIES[entry["family"]].kind for entry in catalog["case"]}
    assert sampled - {None} == set(kinds())


def test_a_kind_cites_only_transaction_line_columns() -> None:
    with pytest.raises(TypeError, match=r"cites \['card'\] are not transaction line columns"):
        Kind(
            "new_kind",
            lambda ctx: pl.DataFrame(),
            lambda r, t: (None, t[0]),
            lambda *_: "x",
            "X",
            lambda *_: "y",
            cites=("card",),
        )


@pytest.mark.parametrize("case", ["refund_wrong_card", "dup_paper_out_rerun"])
def test_evidence_cites_the_card_lines_a_card_claim_rests_on(case: str) -> None:
    """A refund to another card, a card charged twice: each transaction's CARD line is cited, showing its card."""
    logs, zones, _ = case_args(SAMPLES / case)
    (f,) = diagnose(logs, tz=zones, card_key="k").findings
    card_lines = [e for e in f.evidence if " CARD " in (e.text or "")]
    assert len(card_lines) == len(f.transactions) == 2
    assert all("******" in e.text for e in card_lines)


def test_a_host_block_cited_as_evidence_shows_the_answer_it_carries() -> None:
    """A jPOS block opens with a line that says nothing; its evidence text adds the fields of the whole record."""
    logs, zones, _ = case_args(SAMPLES / "dup_migration_rerun")
    (f,) = diagnose(logs, tz=zones, card_key="k").findings
    host = [e for e in f.evidence if e.path.endswith("acquirer-host.log")]
    assert host and all(e.text.startswith("<log ") for e in host)
    assert all(re.search(r"… \[mti=0210 stan=\d+ rc=00 auth=\w+ rrn=\d+ tid=\w+\]$", e.text) for e in host)
