"""Dialect features for other vendors: value maps, regex group targets, ISO dump shapes and card
fields, each checked at load; and the vocabulary table downstream's comparisons are checked against."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import forensics
from forensics.cli import cli
from forensics.errors import DialectError
from forensics.events import KINDS
from forensics.ingest.cards import CardGuard
from forensics.ingest.dialect import Dialects, installed_sources
from forensics.vocabulary import CARRIERS, TIMELINE_WORDS, VALUES, _python_uses, column_of, render, uses

VENDOR = """
name = "vendory"
title = "Vendor Y"
tags = ["Pay", "Iso"]
iso = "bracket"
[values]
status = { approved = "APPROVED", declined = "DECLINED" }
txn_type = { sale = "SALE", refund = "REFUND" }

[[rule]]
tag = "Pay"
keyword = "txn_result"
kind = "txn.result"
fields = { outcome = "status", trace = "stan", acct = "attrs.acct" }
cards = ["acct"]
[[rule.sample]]
line = "txn_result outcome=approved trace=000412"
expect = { kind = "txn.result", status = "APPROVED", stan = "000412" }

[[rule]]
tag = "Pay"
kind = "txn.start"
match = 'began a (?P<w>\\w+) of (?P<a>\\d+) in (?P<currency>\\w+)(?: card (?P<acct>[\\d.*]+))?(?: shift (?P<x>\\d+))?'
groups = { w = "txn_type", a = "amount:minor", acct = "card", x = "attrs.shift" }
values = { txn_type = { purchase = "SALE" } }
[[rule.sample]]
line = "began a purchase of 4599 in USD shift 3"
expect = { kind = "txn.start", txn_type = "SALE", amount = 4599, currency = "USD" }

[[rule]]
tag = "Iso"
keyword = "TX"
kind = "iso.tx"
args = ["mti"]
fields = "iso"
[[rule.sample]]
line = "TX 0200 [4]=000000004599 [11]=000412 [49]=840 [7]=x"
expect = { kind = "iso.tx", mti = "0200", amount = 4599, stan = "000412", currency = "USD", attrs = '{"DE7":"x"}' }

[[rule]]
tag = "Iso"
keyword = "RX"
kind = "iso.rx"
args = ["mti"]
fields = "iso"
iso = "field"
cards = ["48"]
[[rule.sample]]
line = "RX 0210 field 39=00 field 11=000412"
expect = { kind = "iso.rx", mti = "0210", rc = "00", stan = "000412" }
"""


def _load(text: str) -> Dialects:
    return Dialects([*installed_sources(), ("vendory.toml", text)])


def _one(dialects: Dialects, tag: str, payload: str) -> dict[str, object]:
    applied = dialects.apply(tag, payload)
    assert applied is not None, payload
    return {"kind": applied.kind, **applied.columns}


def test_value_maps_file_level_and_rule_override() -> None:
    d = _load(VENDOR)
    assert _one(d, "Pay", "txn_result outcome=declined trace=1")["status"] == "DECLINED"
    assert _one(d, "Pay", "txn_result outcome=Approved trace=1")["status"] == "Approved"  # exact; else as logged
    # the rule's own txn_type map replaces the file's: "sale" stays as logged there
    assert _one(d, "Pay", "began a purchase of 1 in EUR")["txn_type"] == "SALE"
    assert _one(d, "Pay", "began a sale of 1 in EUR")["txn_type"] == "sale"
    assert json.loads(str(_one(d, "Pay", "began a sale of 1 in EUR shift 3")["attrs"]))["shift"] == "3"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('approved = "APPROVED"', 'approved = "APPROVD"'),
            "vendory.toml: field 'values.status.approved': 'APPROVD' is not a word downstream knows in 'status'",
        ),
        (
            ('purchase = "SALE"', 'purchase = "PURCHASE"'),
            "vendory.toml: rule 2 (Pay began a (?P<w>",
        ),
        (
            ('txn_type = { sale = "SALE"', 'stan = { sale = "SALE"'),
            "vendory.toml: field 'values.stan.sale': column 'stan' has no canonical words",
        ),
        (("status = { approved", "status = 1\nx = { approved"), "vendory.toml: field 'values.status': must be a table"),
        (('iso = "bracket"', 'iso = "curly"'), "vendory.toml: field 'iso': unknown ISO dump shape 'curly'"),
        (('iso = "field"', 'iso = "DEx"'), "vendory.toml: rule 4 (Iso RX): field 'iso': unknown ISO dump shape"),
        (('a = "amount:minor"', 'a = "amount:cents"'), "field 'groups.a': unknown unit 'cents'"),
        (('w = "txn_type"', 'wat = "txn_type"'), "field 'groups.wat': no such group in 'match'"),
        (('x = "attrs.shift"', 'x = "shiftno"'), "field 'groups.x': unknown column 'shiftno'"),
        (('cards = ["acct"]', "cards = [1]"), "vendory.toml: rule 1 (Pay txn_result): field 'cards': must be an array"),
        (('cards = ["acct"]', 'cards = "acct"'), "vendory.toml: rule 1 (Pay txn_result): field 'cards': must be an"),
    ],
)
def test_bad_vendor_features_fail_at_load(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(DialectError) as err:
        _load(VENDOR.replace(*edit, 1))
    assert message in str(err.value)
    assert str(err.value).startswith("vendory.toml: ")


def test_a_rule_value_map_names_the_rule_column_and_word() -> None:
    with pytest.raises(DialectError, match=r"field 'values.txn_type.purchase': 'PURCHASE' is not a word"):
        _load(VENDOR.replace('purchase = "SALE"', 'purchase = "PURCHASE"'))


def test_a_named_group_without_a_target_must_be_a_column() -> None:
    with pytest.raises(DialectError, match=r"field 'match' group: unknown column 'w'"):
        _load(VENDOR.replace('groups = { w = "txn_type", ', "groups = { "))


@pytest.mark.parametrize("shape", ["DE", "F", "bracket", "field"])
def test_iso_shapes_read_alike(shape: str) -> None:
    template = {"DE": "DE{n}=", "F": "F{n}=", "bracket": "[{n}]=", "field": "field {n}="}[shape]
    sample = "TX 0200 [4]=000000004599 [11]=000412 [49]=840 [7]=x"
    shaped = re.sub(r"\[(\d+)\]=", lambda m: template.format(n=m.group(1)), sample)
    d = _load(VENDOR.replace('iso = "bracket"', f'iso = "{shape}"').replace(sample, shaped))
    elements = {"4": "000000004599", "11": "000412", "49": "840", "55.9F36": "001A", "7": "x"}
    payload = "TX 0200 " + " ".join(template.format(n=n) + v for n, v in elements.items())
    got = _one(d, "Iso", payload)
    assert got == {
        "kind": "iso.tx",
        "mti": "0200",
        "amount": 4599,
        "exponent": 2,
        "currency": "USD",
        "stan": "000412",
        "atc": "001A",
        "attrs": '{"DE7":"x"}',
    }


#: Card numbers as a vendor may log them where its dialect says card data stands: Luhn-valid and
#: not, plain, dotted, dashed, spaced, in a short field.
PANS = ["4761739001010010", "4761739001010011", "5413330089010608", "541333008901060"]


def _hostile_log(path: Path) -> list[str]:
    """A log with full PANs in every card context of VENDOR; returns the digit strings hidden."""
    lines, hidden = [], []
    stamp = "03-14 10:02:{s:02d}.204  2311  2398 I {tag:<8}: {payload}"
    for n, pan in enumerate(PANS):
        dotted = ".".join(pan[i : i + 4] for i in range(0, len(pan), 4))
        spaced = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
        payloads = [
            ("Pay", f"txn_result outcome=approved trace=00041{n} acct={pan}"),
            ("Pay", f"txn_result outcome=approved trace=00041{n} acct={dotted}"),
            ("Pay", f'txn_result outcome=declined trace=00041{n} acct="{spaced}"'),
            ("Pay", f"began a purchase of 4599 in USD card {pan}"),
            ("Pay", f"began a purchase of 4599 in USD card {dotted} shift 2"),
            ("Iso", f"TX 0200 [2]={pan} [4]=000000004599 [11]=00041{n} [35]={pan}=2512101"),
            ("Iso", f"TX 0200 F2={pan} [4]=000000004599 [52]=0123456789ABCDEF"),
            ("Iso", f"RX 0210 field 39=00 field 11=00041{n} field 2={pan} field 48={pan} field 45=B{pan}^X/Y^2512"),
            ("Other", f"free text [2]={pan} F2={pan} field 2={pan}"),
        ]
        lines += [stamp.format(s=len(lines) % 60, tag=t, payload=p) for t, p in payloads]
        hidden.append(pan)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return hidden


def _leaks(text: str, pans: list[str]) -> list[str]:
    digits_only = re.sub(r"[^0-9]", "", text)
    runs = re.sub(r"(?<=\d)[ .\-/](?=\d)", "", text)
    return [p for p in pans if p in runs or (p in digits_only and p in re.sub(r"[ .\-/\"]", "", text))]


@pytest.mark.parametrize("fast", [True, False])
def test_hostile_card_values_never_reach_an_output(tmp_path: Path, fast: bool) -> None:
    (tmp_path / "vendory.toml").write_text(VENDOR, encoding="utf-8")
    log = tmp_path / "pay.log"
    pans = _hostile_log(log)
    loaded = forensics.load(log, dialects=[tmp_path / "vendory.toml"], card_key="k", fast=fast)
    for name in ("events", "unparsed"):
        frame = getattr(loaded, name)
        for column in frame.columns:
            if frame[column].dtype == pl.String:
                for value in frame[column].drop_nulls():
                    assert not _leaks(value, pans), (name, column, value)
    assert loaded.unparsed.height == 0
    masked = loaded.compliance
    assert masked.height >= 9 * len(PANS)
    assert not any(_leaks(v, pans) for v in masked["masked"])
    fields = set(masked["field"])
    assert {"vendory:acct", "[2]", "[35]", "F2", "[52]", "field 2", "field 45", "vendory:48"} <= fields
    assert "vendory:acct (rule 2)" in fields  # the sentence rule's card group
    # each card line of the vendor is recorded: every Pay/Iso line with a PAN has a sighting
    assert set(masked["line"]) == set(range(1, 9 * len(PANS) + 1))
    events = loaded.events
    assert set(events.filter(pl.col("kind") == "txn.start")["card"]) == {
        "476173******0010",
        "476173******0011",
        "541333******0608",
        "541333*****1060",
    }
    assert set(events.filter(pl.col("kind") == "txn.result")["status"]) == {"APPROVED", "DECLINED"}


def test_hostile_card_values_never_reach_the_command_outputs(tmp_path: Path) -> None:
    (tmp_path / "vendory.toml").write_text(VENDOR, encoding="utf-8")
    log = tmp_path / "pay.log"
    pans = _hostile_log(log)
    dialect = ["--dialect", str(tmp_path / "vendory.toml"), "--card-key", "k"]
    runner = CliRunner()
    for args in (
        ["parse", str(log), "--format", "jsonl", "--compliance", str(tmp_path / "c.csv")],
        ["timeline", str(log), "--all"],
        ["timeline", str(log), "--format", "json"],
        ["diagnose", str(log), "--format", "json"],
    ):
        result = runner.invoke(cli, [*args, *dialect])
        assert result.exit_code in (0, 3), result.output
        assert not _leaks(result.output, pans), args
    assert not _leaks((tmp_path / "c.csv").read_text(), pans)


def test_dialect_card_contexts_need_twelve_digits_and_keep_masked_values() -> None:
    d = _load(VENDOR)
    guard = CardGuard("k", dialect_contexts=d.card_contexts)
    assert guard.protect("acct=12345678901")[0] == "acct=12345678901"  # 11 digits: not a card number
    assert guard.protect("acct=476173******0011") == ("acct=476173******0011", [])
    text, found = guard.protect("xacct=4761739001010011 acct=4761/7390/0101/0011")
    assert text == "xacct=4761739001010011 acct=476173******0011" and len(found) == 1
    assert found[0].field == "vendory:acct" and found[0].kind == "full_pan"


def test_a_field_whose_target_is_card_is_card_data() -> None:
    d = _load(VENDOR.replace('acct = "attrs.acct" }\ncards = ["acct"]', 'acct = "card" }'))
    assert "vendory:acct" in d.card_contexts
    guard = CardGuard("k", dialect_contexts=d.card_contexts)
    text, found = guard.protect("txn_result acct=4761739001010011")
    assert text == "txn_result acct=476173******0011" and found
    assert _one(d, "Pay", text.split(" ", 0)[0])["card"] == "476173******0011"


def test_a_positional_word_whose_target_is_card_is_card_data() -> None:
    d = _load(
        VENDOR.replace('keyword = "RX"', 'keyword = "RX"\nargs = ["mti", "card"]').replace(
            'args = ["mti"]\nfields = "iso"\niso = "field"', 'fields = "iso"\niso = "field"'
        )
    )
    guard = CardGuard("k", dialect_contexts=d.card_contexts)
    text, found = guard.protect("I Iso: RX 0210 4761-7390-0101-0011 field 39=00")
    assert text == "I Iso: RX 0210 476173******0011 field 39=00"
    assert [s.field for s in found] == ["vendory:RX word 2"]
    assert _one(d, "Iso", text.split(": ", 1)[1])["card"] == "476173******0011"


def test_the_reference_output_needs_no_dialect_context_beyond_its_pan_field() -> None:
    contexts = Dialects().card_contexts
    assert [name for name in contexts if name.startswith("reference:")] == ["reference:pan"]
    # the shipped vendors' contexts find nothing in the reference samples
    samples = [s["line"] for s in Dialects().samples["reference"]]
    assert not [
        line for line in samples for name, p in contexts.items() if name != "reference:pan" and re.search(p, line)
    ]


# --- the vocabulary -----------------------------------------------------------------------------


def test_every_word_downstream_compares_is_in_the_vocabulary() -> None:
    """A literal kind or canonical word compared anywhere downstream (timeline, detectors, rule
    files, report) is in the table: a dialect can then map to it, and a renamed word fails here."""
    found = uses()
    assert len(found) > 80
    missing = [
        u
        for u in found
        if (
            u.word not in KINDS
            if u.column == "kind"
            else u.word not in {**VALUES[column_of(u.column)], **TIMELINE_WORDS.get(u.column, {})}
        )
    ]
    assert not missing
    words = {(column_of(u.column) or u.column, u.word) for u in found}
    for needed in [("status", "APPROVED"), ("txn_type", "SALE"), ("reason", "max_retries"),
                   ("reason", "operator_clear"), ("status", "Clear Reversal"), ("source", "keypad"),
                   ("status", "BEGIN_SEND_ISO"), ("kind", "power.recover")]:  # fmt: skip
        assert needed in words, needed


def test_the_scanner_sees_comparisons_of_every_form() -> None:
    code = """
a = pl.col("status") == "APPROVD"
b = pl.col("kind").is_in(["txn.strat", "iso.tx"])
c = t.get("merchant_status") != "DECLIND"
d = row["reversal_deleted"] in ("max_retry",)
e = pl.col("second__txn_type") == "REFUN"
"""
    got = {(u.column, u.word) for u in _python_uses("x.py", code)}
    assert {("status", "APPROVD"), ("kind", "txn.strat"), ("merchant_status", "DECLIND"),
            ("reversal_deleted", "max_retry"), ("txn_type", "REFUN")} <= got  # fmt: skip
    assert all(column_of(c) for c, w in got if c != "kind")
    assert set(CARRIERS.values()) <= set(VALUES)


def test_vocabulary_words_are_what_the_reference_dialect_gives() -> None:
    """Every canonical word of a column some reference sample gives is in the table."""
    d = Dialects()
    for sample in d.samples["reference"]:
        for column, value in sample.get("expect", {}).items():
            if column in VALUES and column != "status" and not str(value).isdigit():  # DE22 codes are numbers
                assert value in VALUES[column], (column, value)


def test_render_fits_120_columns() -> None:
    text = render(120)
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "BEGIN_SEND_ISO" in text and "rules/duplicate_charge.toml" in text and "txn.start" in text
    ast.parse("x = 1")  # the scanner's parser is the standard one
    json.dumps(VALUES)
