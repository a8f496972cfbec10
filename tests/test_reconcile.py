"""Reconciliation: a disagreement between what the merchant saw, what the host did and what cleared is found
whatever story produced it. Each test changes one view of a clean sample (its clearing file) and expects the
finding kind the disagreement's shape is; the clean sample itself has none."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from forensics.analysis import diagnose
from forensics.diagnosis import reconcile
from forensics.diagnosis.kinds import kinds
from forensics.timeline import TRANSACTIONS_SCHEMA

from .conftest import SAMPLES

CLEAN = SAMPLES / "clean_busy_day"


def _copy(tmp_path: Path) -> tuple[list[Path], Path]:
    for p in CLEAN.iterdir():
        if p.suffix in (".log", ".csv"):
            shutil.copy(p, tmp_path / p.name)
    csv = next(tmp_path.glob("*.csv"))
    return sorted(p for p in tmp_path.iterdir() if p.suffix in (".log", ".csv")), csv


def _edit(csv: Path, change) -> str:  # type: ignore[no-untyped-def]
    """Apply ``change`` (rows -> rows, header first) to the clearing file; the RRN of the row it changed."""
    rows = csv.read_text(encoding="utf-8").splitlines()
    header, body = rows[0], rows[1:]
    new, rrn = change(header.split(","), [r.split(",") for r in body])
    csv.write_text("\n".join([header, *(",".join(r) for r in new)]) + "\n", encoding="utf-8")
    return rrn


def _kinds(paths: list[Path]) -> list[tuple[str, list[str]]]:
    return [(f.kind, [t.rrn for t in f.transactions]) for f in diagnose(paths).findings]


def test_the_clean_sample_has_no_disagreement() -> None:
    assert diagnose(sorted(p for p in CLEAN.iterdir() if p.suffix in (".log", ".csv"))).findings == []


def _sale(header: list[str], body: list[list[str]], k: int = 10) -> int:
    proc = header.index("proc")
    return [i for i, r in enumerate(body) if r[proc] == "000000"][k]


def test_an_item_cleared_for_another_amount_is_an_amount_mismatch(tmp_path: Path) -> None:
    paths, csv = _copy(tmp_path)

    def change(header: list[str], body: list[list[str]]):  # type: ignore[no-untyped-def]
        i, amount = _sale(header, body), header.index("amount")
        body[i][amount] = f"{float(body[i][amount]) + 1:.2f}"
        return body, body[i][header.index("rrn")]

    rrn = _edit(csv, change)
    assert _kinds(paths) == [("amount_mismatch", [rrn])]


def test_a_refund_cleared_twice_is_a_refund_error(tmp_path: Path) -> None:
    paths, csv = _copy(tmp_path)

    def change(header: list[str], body: list[list[str]]):  # type: ignore[no-untyped-def]
        proc = header.index("proc")
        i = next(i for i, r in enumerate(body) if r[proc] == "200000")
        return body[: i + 1] + [body[i]] + body[i + 1 :], body[i][header.index("rrn")]

    rrn = _edit(csv, change)
    assert _kinds(paths) == [("refund_error", [rrn])]


def test_an_item_cleared_under_another_merchant_is_misrouted(tmp_path: Path) -> None:
    paths, csv = _copy(tmp_path)

    def change(header: list[str], body: list[list[str]]):  # type: ignore[no-untyped-def]
        i = _sale(header, body)
        body[i][header.index("mid")] = "000000999999999"
        return body, body[i][header.index("rrn")]

    rrn = _edit(csv, change)
    assert _kinds(paths) == [("misrouted_funds", [rrn])]


def test_an_approved_sale_missing_from_the_clearing_file_is_a_ledger_mismatch(tmp_path: Path) -> None:
    paths, csv = _copy(tmp_path)

    def change(header: list[str], body: list[list[str]]):  # type: ignore[no-untyped-def]
        i = _sale(header, body)
        return body[:i] + body[i + 1 :], body[i][header.index("rrn")]

    rrn = _edit(csv, change)
    assert _kinds(paths) == [("ledger_mismatch", [rrn])]


def _one(row: dict[str, object]) -> pl.DataFrame:
    """One approved sale on T1/M1 with every other column of the transactions table unknown, then ``row``."""
    base: dict[str, object] = dict.fromkeys(TRANSACTIONS_SCHEMA)
    base.update(txn="D1:1", device="D1", tid="T1", mid="M1", txn_type="SALE", merchant_outcome="APPROVED")
    base.update(amount_entered=1000, ts_start=datetime(2026, 3, 14, 10, tzinfo=UTC), flags=[])
    return pl.DataFrame([{**base, **row}], schema=TRANSACTIONS_SCHEMA)


@pytest.mark.parametrize(
    ("row", "shape"),
    [
        ({"amount_sent": 1000, "amount_approved": 600, "host_rc": "10"}, "approved_for_another_amount"),
        ({"settled_amount": 1100, "settle_covers": True, "cleared_count": 1}, "cleared_for_another_amount"),
        (
            {"voided_by": "D1:9", "settle_covers": True, "cleared_count": 1, "settled_amount": 1000},
            "cleared_though_cancelled",
        ),
        ({"txn_type": "REFUND", "cleared_count": 2, "settled_amount": 1000}, "credited_twice"),
        ({"settled_mid": "M2", "cleared_count": 1, "settled_amount": 1000}, "cleared_to_other_merchant"),
    ],
)
def test_each_shape_holds_for_its_disagreement_and_names_a_kind(row: dict[str, object], shape: str) -> None:
    t = _one({"amount_sent": 1000, **row})
    assert reconcile.disagreements(t)["shape"].to_list() == [shape]
    assert reconcile.shape(shape).kind in kinds()


def test_unknown_is_not_a_disagreement() -> None:
    """Nulls (an input not given) never make a disagreement."""
    t = _one({})
    assert reconcile.disagreements(t).is_empty()
    assert t.select(pl.col("settled_amount").is_null()).item()


def test_a_sale_the_terminal_approved_and_the_host_declined_is_flagged_for_review_not_found(tmp_path: Path) -> None:
    """The merchant holds an approval the network never gave: the merchant's loss, not a faulty charge."""
    for p in CLEAN.iterdir():
        if p.suffix == ".log":
            shutil.copy(p, tmp_path / p.name)
    host = next(tmp_path.glob("*host*.log"))
    text = host.read_text(encoding="utf-8")
    blocks = text.split("</log>")
    answered = [i for i, b in enumerate(blocks) if '<field id="0" value="0210"/>' in b and 'id="39" value="00"' in b]
    i = answered[10]
    blocks[i] = blocks[i].replace('id="39" value="00"', 'id="39" value="05"')
    host.write_text("</log>".join(blocks), encoding="utf-8")
    found = diagnose(sorted(tmp_path.iterdir()))
    assert found.findings == []
    flagged = found.timeline.transactions.filter(pl.col("flags").list.contains("approved_not_by_host"))
    assert flagged.height == 1
    assert flagged["host_rc"].to_list() == ["05"]


def test_a_partial_approval_the_terminal_took_for_full_is_an_amount_mismatch_of_the_app(tmp_path: Path) -> None:
    """The host approved part of the amount (response 10); the terminal logged the 10 and still showed the sale
    approved in full. No rule tells this story: the shape finds it and the failure taxonomy names the app."""
    for p in CLEAN.iterdir():
        if p.suffix == ".log":
            shutil.copy(p, tmp_path / p.name)
    log = tmp_path / "A920-9803B.log"
    lines = log.read_bytes().split(b"\n")
    i = [n for n, ln in enumerate(lines) if b"RX 0210" in ln][20]
    rrn = lines[i].split(b"DE37=")[1][:12].decode()
    lines[i] = lines[i].replace(b"DE39=00", b"DE39=10")
    log.write_bytes(b"\n".join(lines))
    host = next(tmp_path.glob("*host*.log"))
    blocks = host.read_text(encoding="utf-8").split("</log>")
    j = next(n for n, b in enumerate(blocks) if f'id="37" value="{rrn}"' in b and "<send>" in b)
    blocks[j] = blocks[j].replace('id="39" value="00"', 'id="39" value="10"')
    host.write_text("</log>".join(blocks), encoding="utf-8")
    (finding,) = diagnose(sorted(tmp_path.iterdir())).findings
    assert (finding.kind, finding.cause, [t.rrn for t in finding.transactions]) == (
        "amount_mismatch",
        "software_bug",
        [rrn],
    )
    assert "response 10" in finding.summary
