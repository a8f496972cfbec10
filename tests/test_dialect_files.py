"""A dialect file with a typo fails at load, naming the file, the rule and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

import forensics
from forensics.errors import DialectError
from forensics.ingest.dialect import Dialects
from tests.conftest import VENDORX


def test_second_vendor_is_a_file_not_code(tmp_path: Path) -> None:
    (tmp_path / "vendorx.toml").write_text(VENDORX)
    dialects = Dialects.from_files([tmp_path / "vendorx.toml"])
    log = tmp_path / "x.log"
    log.write_text("03-14 10:02:11.204  2311  2398 I Pay     : OK trace=000412 amt=45.99 ccy=EUR\n")
    ev = forensics.load(log, dialects=dialects).events
    assert ev.select("dialect", "kind", "stan", "amount", "status").row(0) == (
        "vendorx",
        "txn.result",
        "000412",
        4599,
        "APPROVED",
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('keyword = "OK"', 'keyword = "OK"\nwhen = 1'), "vendorx.toml: rule 1 (Pay OK): unknown field 'when'"),
        (
            ('trace = "stan"', 'trace = "stann"'),
            "vendorx.toml: rule 1 (Pay OK): field 'fields.trace': unknown column 'stann'",
        ),
        (
            ('kind = "txn.result"', 'kind = "txn.reslut"'),
            "vendorx.toml: rule 1 (Pay OK): field 'kind': unknown kind 'txn.reslut'",
        ),
        (
            ('tag = "Pay"', 'tag = "Payy"'),
            "vendorx.toml: rule 1 (Payy OK): field 'tag': 'Payy' is not in the dialect's tags",
        ),
        (
            ('stan = "000412", amount', 'stan = "000413", amount'),
            "vendorx.toml: rule 1 (Pay OK): sample 1: stan is '000412', expected '000413'",
        ),
        (
            ('amt = "amount"', 'amt = "amount:cents"'),
            "vendorx.toml: rule 1 (Pay OK): field 'fields.amt': unknown unit 'cents'",
        ),
        (
            ('keyword = "OK"', 'keyword = "OK"\nmatch = "("'),
            "vendorx.toml: rule 1 (Pay OK): field 'match': bad regular expression",
        ),
        (
            ('keyword = "OK"', 'keyword = "OK"\nmatch = 1'),
            "vendorx.toml: rule 1 (Pay OK): field 'match': must be a string",
        ),
        (
            ('kind = "txn.result"', 'kind = ["txn.result"]'),
            "vendorx.toml: rule 1 (Pay OK): field 'kind': must be a string",
        ),
        (('trace = "stan"', "trace = 1"), "vendorx.toml: rule 1 (Pay OK): field 'fields.trace': must be a column name"),
        (('set = { status = "APPROVED" }', "set = 1"), "vendorx.toml: rule 1 (Pay OK): field 'set': must be a table"),
        (("tags = [", "tags = 1\nx = ["), "vendorx.toml: unknown field 'x'"),
    ],
)
def test_typos_fail_at_load_with_file_rule_and_field(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(DialectError) as err:
        Dialects([("vendorx.toml", VENDORX.replace(*edit, 1))])
    assert str(err.value).startswith(message)


def test_reference_dialect_loads_and_checks_its_samples() -> None:
    d = Dialects()
    assert "reference" in d.names
    assert sum(len(s) for s in d.samples.values()) >= 30
