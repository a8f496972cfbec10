"""duplicate_charge: one purchase charged more than once (a re-run, or one item cleared twice).

``first`` is the earlier charge and ``second`` the later one; for one item cleared twice both
are the same transaction.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.diagnosis.candidates import CHARGES, Params, prefixed
from forensics.diagnosis.kinds import Kind, Row, Txns
from forensics.diagnosis.wording import card, duration, money


def _pairs(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    charges = t.filter(pl.col("txn_type").is_in(CHARGES), pl.col("charges"), pl.col("card").is_not_null())
    # Pair on a few columns first; whole rows are attached only to the pairs that survive.
    keys = charges.select(
        "txn",
        "card",
        "amount_entered",
        "mid",
        "ts_start",
        "device",
        "atc",
        "resend_of",
        "orig_txn",
        (pl.col("failed") | pl.col("offline") | pl.col("flags").list.contains("printer_fault_after_approval")).alias(
            "suspicious"
        ),
    )
    pairs = keys.join(keys, on=["card", "amount_entered", "mid"], how="inner", suffix="_2")
    gap = (pl.col("ts_start_2") - pl.col("ts_start")).dt.total_seconds()
    # two card interactions (ATCs differ or unknown), or one interaction the terminal sent twice
    different_tap = (
        pl.col("atc").is_null()
        | pl.col("atc_2").is_null()
        | (pl.col("atc") != pl.col("atc_2"))
        | (pl.col("resend_of_2") == pl.col("txn")).fill_null(False)
    )
    other_device = pl.col("device") != pl.col("device_2")
    suspicious = pl.col("suspicious") | other_device
    # Which came first: on one device its clock says; across devices, whose clocks may not have been
    # aligned, the card's own counter (the ATC only grows) says where both are known.
    atc, atc_2 = (pl.col(c).str.to_integer(base=16, strict=False) for c in ("atc", "atc_2"))
    by_counter = other_device & atc.is_not_null() & atc_2.is_not_null() & (atc != atc_2)
    earlier = pl.when(by_counter).then(atc < atc_2).otherwise(gap > 0)
    # two completions of one hold are a deposit completed twice (deposit_error), not a purchase charged twice
    one_hold = (pl.col("orig_txn") == pl.col("orig_txn_2")).fill_null(False)
    pairs = pairs.filter(
        pl.col("txn") != pl.col("txn_2"),
        ~one_hold,
        earlier,
        different_tap,
        (gap.abs() <= params.rerun_window_s) | (suspicious & (gap.abs() <= params.rerun_window_failed_s)),
    )
    # Each re-run pairs with the nearest earlier attempt only.
    pairs = pairs.sort("txn_2", "ts_start").unique("txn_2", keep="last", maintain_order=True).select("txn", "txn_2")
    return (
        pairs.join(prefixed(charges, "first"), left_on="txn", right_on="first__txn", how="inner")
        .with_columns(first__txn=pl.col("txn"))
        .join(prefixed(charges, "second"), left_on="txn_2", right_on="second__txn", how="inner")
        .with_columns(second__txn=pl.col("txn_2"))
        .drop("txn", "txn_2")
    )


def duplicate_charges(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """Two charges for one purchase: a re-run (two card interactions) or one item cleared twice."""
    reruns = _pairs(t, params)
    cleared_twice = t.filter(pl.col("cleared_count") > 1, pl.col("txn_type") != "REFUND")  # a credit: refund_error
    if cleared_twice.is_empty():
        return reruns
    twice = pl.concat([prefixed(cleared_twice, role) for role in ("first", "second")], how="horizontal")
    return pl.concat([reruns, twice], how="diagonal_relaxed")


def _amount(row: Row, txns: Txns) -> tuple[int | None, dict[str, Any]]:
    return txns[0].get("amount_entered"), txns[0]


def _summary(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    if len(txns) == 1:
        return f"{a['txn_type'].title()} inv {a['inv']} ({money(amount, a)}) cleared twice"
    b = txns[1]
    gap = (b["ts_start"] - a["ts_start"]).total_seconds()
    when = (
        f"{duration(gap)} later"
        if gap >= 0
        else f"later by the card's counter (ATC), though the two devices' clocks put it {duration(gap)} earlier"
    )
    return (
        f"{a['txn_type'].title()} inv {a['inv']} charged twice ({money(amount, a)}): again as inv {b['inv']}"
        f" on {b['device']} {when}"
    )


def _action(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    if len(txns) == 1:
        return (
            f"Ask the acquirer to reverse the second clearing of inv {a['inv']} (RRN {a['rrn'] or '?'}) and refund"
            f" {money(amount, a)} to {card(a)} if it was paid out"
        )
    b = txns[1]
    return f"Refund {money(amount, a)} to {card(b)}: the second charge, inv {b['inv']} on {b['device']}" + (
        f" (RRN {b['rrn']})" if b.get("rrn") else ""
    )


KIND = Kind(
    name="duplicate_charge",
    detect=lambda ctx: duplicate_charges(ctx.transactions, ctx.params),
    amount=_amount,
    summary=_summary,
    title="Charged twice",
    action=_action,
    cites=("line_card",),
)
