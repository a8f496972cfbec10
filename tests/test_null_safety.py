"""Unknown is not false: every boolean over a nullable column, tested with the column null.

Each test names the place it covers; the frames are the smallest that reach it.
"""

from __future__ import annotations

import polars as pl
import pytest

from forensics.diagnosis.candidates import Params
from forensics.diagnosis.kinds.amount_mismatch import amount_mismatches
from forensics.diagnosis.kinds.duplicate_charge import duplicate_charges
from forensics.diagnosis.rules import RuleSet
from forensics.timeline import _charge
from tests.txn_frames import txns

_CHARGE_COLUMNS = {
    "voided_by": pl.String,
    "host_reversal_rc": pl.String,
    "reversal_rc": pl.String,
    "settle_covers": pl.Boolean,
    "cleared_count": pl.UInt32,
    "host_line": pl.Int64,
    "host_rc": pl.String,
    "host_covers": pl.Boolean,
    "line_tx": pl.Int64,
    "line_saf_queued": pl.Int64,
    "reversal_deleted": pl.String,
    "merchant": pl.String,
}


def _charges(**row: object) -> dict[str, object]:
    """charged, charged_by and charge_at_risk of one transaction (unset columns null)."""
    frame = pl.DataFrame([{name: row.get(name) for name in _CHARGE_COLUMNS}], schema=_CHARGE_COLUMNS)
    return frame.select(_charge(pl.col("merchant"))).row(0, named=True)


def test_host_approval_without_reversal_is_a_charge() -> None:
    # the defect this issue opened with: a null reversal code made every host approval "not charged"
    got = _charges(host_line=10, host_rc="00", host_covers=True, merchant="APPROVED", line_tx=9)
    assert got["charged"] is True and got["charged_by"] == "host"


def test_host_reversal_00_undoes_the_charge_and_other_codes_do_not() -> None:
    assert _charges(host_line=10, host_rc="00", host_reversal_rc="00", merchant="COMM_ERROR")["charged"] is False
    assert _charges(host_line=10, host_rc="00", host_reversal_rc="25", merchant="COMM_ERROR")["charged"] is True


def test_no_host_log_and_no_clearing_file_leaves_a_timeout_unknown_but_at_risk() -> None:
    got = _charges(line_tx=9, merchant="COMM_ERROR")
    assert got["charged"] is None and got["charged_by"] is None and got["charge_at_risk"] is True


def test_terminal_outcome_decides_when_nothing_else_covers_it() -> None:
    assert _charges(merchant="APPROVED", line_tx=9)["charged"] is True
    assert _charges(merchant="DECLINED", line_tx=9)["charged"] is False
    assert _charges(merchant="APPROVED", voided_by="X:1")["charged"] is False


def test_reversal_answers_seen_by_the_terminal() -> None:
    accepted = _charges(line_tx=9, merchant="COMM_ERROR", reversal_rc="00", reversal_deleted="acked")
    assert accepted["charged"] is False and accepted["charge_at_risk"] is False
    refused = _charges(line_tx=9, merchant="COMM_ERROR", reversal_rc="25", reversal_deleted="acked")
    assert refused["charged"] is None and refused["charge_at_risk"] is True
    # acknowledged without a logged code: taken as accepted
    assert _charges(line_tx=9, merchant="COMM_ERROR", reversal_deleted="acked")["charge_at_risk"] is False


def test_clearing_file_decides_only_where_it_covers_the_terminal() -> None:
    assert _charges(settle_covers=True, cleared_count=0, host_line=10, host_rc="00")["charged"] is False
    # not covered (after the cut-off, another day): the host decides, a zero count means nothing
    got = _charges(settle_covers=False, cleared_count=0, host_line=10, host_rc="00")
    assert got["charged"] is True and got["charged_by"] == "host"
    # a covered file with the count unknown (no match attempted) does not decide
    assert _charges(settle_covers=True, cleared_count=None, merchant="APPROVED")["charged_by"] == "terminal"


def test_host_silence_means_not_received_only_where_the_host_log_covers_the_tid() -> None:
    assert _charges(host_covers=True, merchant="COMM_ERROR", line_tx=9)["charged"] is False
    # an approval the terminal holds came from some host (a fallback the log does not cover)
    assert _charges(host_covers=True, merchant="APPROVED", line_tx=9)["charged"] is True
    assert _charges(host_covers=False, merchant="COMM_ERROR", line_tx=9)["charged"] is None
    assert _charges(host_covers=None, merchant="COMM_ERROR", line_tx=9)["charged"] is None


def test_pairs_need_a_known_card_and_amount() -> None:
    rows = [
        {"txn": "a", "card": None, "ts_start": "2026-01-01T10:00:00"},
        {"txn": "b", "card": None, "ts_start": "2026-01-01T10:01:00"},
        {"txn": "c", "card": "4111", "amount_entered": None, "ts_start": "2026-01-01T10:02:00"},
        {"txn": "d", "card": "4111", "amount_entered": None, "ts_start": "2026-01-01T10:03:00"},
    ]
    assert duplicate_charges(txns(rows), Params()).filter(pl.col("first__txn").is_not_null()).height == 0


def test_a_charge_unknown_and_not_at_risk_is_no_charge_for_pairing() -> None:
    rows = [
        {
            "txn": "a",
            "card": "4111",
            "ts_start": "2026-01-01T10:00:00",
            "charged": None,
            "merchant_outcome": "COMM_ERROR",
        },
        {"txn": "b", "card": "4111", "ts_start": "2026-01-01T10:01:00"},
    ]
    assert duplicate_charges(txns(rows), Params()).filter(pl.col("first__txn").is_not_null()).height == 0
    rows[0]["charge_at_risk"] = True
    pairs = duplicate_charges(txns(rows), Params())
    assert pairs["first__txn"].to_list() == ["a"] and pairs["first__charge_unconfirmed"].to_list() == [True]


def test_unknown_amount_sent_is_no_mismatch() -> None:
    rows = [{"txn": "a", "card": "4111", "ts_start": "2026-01-01T10:00:00", "amount_sent": None}]
    assert amount_mismatches(txns(rows), Params()).height == 0


@pytest.mark.parametrize("value, fires", [(None, False), ("05", True), ("00", False)])
def test_rule_match_on_a_null_column_does_not_fire(value: str | None, fires: bool) -> None:
    rules = RuleSet(
        [
            (
                "t.toml",
                """
[[rule]]
id = "t"
finding = "charged_but_declined"
cause = "network_timeout"
weight = 1
when = [ { match = { "txn.rc_result" = { ne = "00" } } } ]
""",
            )
        ]
    )
    cands = pl.DataFrame(
        {"cid": [0], "finding": ["charged_but_declined"], "txn__rc_result": [value]},
        schema={"cid": pl.Int64, "finding": pl.String, "txn__rc_result": pl.String},
    )
    events = pl.DataFrame(
        schema={"path": pl.String, "line": pl.Int64, "ts_utc": pl.Datetime("us", "UTC"), "kind": pl.String}
    )
    fired, _ = rules.evaluate(cands, events)
    assert (fired.height == 1) is fires
