"""Linking a void, refund, tip adjust or completion to the transaction it names: RRN first, an invoice number
only within one lifetime of the device's counters, never to a transaction that came after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.timeline import _lifetimes, _link_follow_ups

_T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
_TYPES = ["SALE", "SALE", "SALE", "REFUND", "VOID", "TIP_ADJUST", "PREAUTH_COMPLETE"]


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    schema = {
        "txn": pl.String,
        "device": pl.String,
        "path": pl.String,
        "tid": pl.String,
        "mid": pl.String,
        "txn_type": pl.String,
        "inv": pl.String,
        "rrn": pl.String,
        "orig_inv": pl.String,
        "orig_rrn": pl.String,
        "amount_entered": pl.Int64,
        "merchant_status": pl.String,
        "rebuilt_from": pl.String,
        "host_rc": pl.String,
        "cleared_count": pl.UInt32,
        "line_start": pl.Int64,
        "ts_start": pl.Datetime("us", "UTC"),
    }
    return pl.DataFrame(rows, schema=schema)


def _row(txn: str, device: str, line: int, ts_s: float, txn_type: str = "SALE", **extra: object) -> dict[str, object]:
    return {
        "txn": txn,
        "device": device,
        "path": f"{device}.log",
        "tid": "T1",
        "mid": "M1",
        "txn_type": txn_type,
        "inv": None,
        "rrn": None,
        "orig_inv": None,
        "orig_rrn": None,
        "amount_entered": 1000,
        "merchant_status": "APPROVED",
        "rebuilt_from": "terminal",
        "host_rc": None,
        "cleared_count": None,
        "line_start": line,
        "ts_start": _T0 + timedelta(seconds=ts_s),
        **extra,
    }


def _links(rows: list[dict[str, object]], inits: list[tuple[str, int]] = ()) -> dict[str, str | None]:
    init = pl.DataFrame(inits, schema={"path": pl.String, "line": pl.Int64}, orient="row")
    out = _link_follow_ups(_lifetimes(_frame(rows), init))
    return dict(out.select("txn", "orig_txn").iter_rows())


def test_a_refund_naming_its_sale_by_rrn_is_not_linked_by_invoice_to_another_units_sale() -> None:
    rows = [
        _row("A:1", "A", 1, 0, inv="000045", rrn="111"),
        _row("B:1", "B", 1, 60, inv="000045", rrn="222"),  # another unit under the same TID, same invoice
        _row("B:2", "B", 2, 120, "REFUND", inv="000046", orig_inv="000045", orig_rrn="111"),
    ]
    assert _links(rows)["B:2"] == "A:1"


def test_a_void_of_a_tip_adjusted_sale_voids_the_sale_not_the_adjustment() -> None:
    # the tip adjust carries the sale's RRN; the void names the sale by RRN and invoice number
    rows = [
        _row("A:1", "A", 1, 0, inv="003373", rrn="624311000078"),
        _row(
            "A:2",
            "A",
            2,
            60,
            "TIP_ADJUST",
            inv="003374",
            rrn="624311000078",
            orig_inv="003373",
            orig_rrn="624311000078",
        ),
        _row("A:3", "A", 3, 120, "VOID", inv="003375", orig_inv="003373", orig_rrn="624311000078"),
    ]
    links = _links(rows)
    assert links["A:2"] == "A:1" and links["A:3"] == "A:1"


def test_an_invoice_names_a_sale_only_within_one_lifetime_of_the_counters() -> None:
    rows = [
        _row("A:1", "A", 1, 0, inv="000012"),
        _row("A:50", "A", 50, 600, "VOID", inv="000013", orig_inv="000012"),
    ]
    assert _links(rows)["A:50"] == "A:1"
    assert _links(rows, inits=[("A.log", 10)])["A:50"] is None  # initialised in between: a new lifetime
    reset = [
        _row("A:1", "A", 1, 0, inv="000012"),
        _row("A:20", "A", 20, 300, inv="000001"),  # the invoice counter went back: a new lifetime
        _row("A:50", "A", 50, 600, "VOID", inv="000002", orig_inv="000012"),
    ]
    assert _links(reset)["A:50"] is None


def test_never_linked_to_a_later_transaction_even_when_the_clock_stepped_back() -> None:
    rows = [
        _row("A:5", "A", 5, 100, "VOID", inv="000013", orig_inv="000012"),
        _row("A:9", "A", 9, 50, inv="000012"),  # later in the log, earlier by a clock stepped back
    ]
    assert _links(rows)["A:5"] is None


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B"]),
            st.sampled_from(_TYPES),
            st.integers(1, 6),  # invoice
            st.integers(1, 6),  # invoice named
            st.sampled_from([None, "r1", "r2", "r3"]),  # rrn
            st.sampled_from([None, "r1", "r2", "r3"]),  # rrn named
            st.integers(-300, 300),  # clock jitter (s)
        ),
        min_size=1,
        max_size=14,
    ),
    st.lists(st.tuples(st.sampled_from(["A.log", "B.log"]), st.integers(1, 15)), max_size=2),
)
def test_links_only_go_back_in_time(items: list[tuple], inits: list[tuple[str, int]]) -> None:
    rows = []
    for i, (device, kind, inv, named, rrn, named_rrn, jitter) in enumerate(items, start=1):
        follow = kind != "SALE"
        rows.append(
            _row(
                f"{device}:{i}",
                device,
                i,
                i * 60 + jitter,
                kind,
                inv=f"{inv:06d}",
                rrn=rrn,
                orig_inv=f"{named:06d}" if follow else None,
                orig_rrn=named_rrn if follow else None,
            )
        )
    by_txn = {r["txn"]: r for r in rows}
    for txn, orig in _links(rows, inits).items():
        if orig is None:
            continue
        a, b = by_txn[orig], by_txn[txn]
        assert orig != txn
        if a["path"] == b["path"]:
            assert a["line_start"] < b["line_start"]
        else:
            assert a["ts_start"] <= b["ts_start"]
            assert b["orig_rrn"] is not None and a["rrn"] == b["orig_rrn"]  # across units only by RRN
