"""refund_error: a refund or void that credits the wrong amount, the wrong card or the wrong transaction.

``first`` is the sale and ``second`` the refund or void; ``twin`` is the item the void or refund
was meant for, when the invoice number it names was used twice under the TID.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.diagnosis.candidates import Params, prefixed
from forensics.diagnosis.kinds import Context, Kind, Row, Txns
from forensics.diagnosis.wording import card, money


def refund_errors(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """Refunds or voids that credit the wrong amount, card or transaction."""
    originals = prefixed(t, "first")
    follow = t.filter(
        pl.col("txn_type").is_in(["REFUND", "VOID"]),
        pl.col("merchant_outcome") == "APPROVED",
        pl.col("orig_txn").is_not_null(),
    )
    pairs = (
        prefixed(follow, "second")
        .join(originals, left_on="second__orig_txn", right_on="first__txn", how="inner")
        .with_columns(first__txn=pl.col("second__orig_txn"))
    )
    # the same invoice number on another device of the same TID (counters reset by a swap)
    twins = t.select(
        pl.col("tid").alias("first__tid"),
        pl.col("inv").alias("first__inv"),
        pl.col("device").alias("_twin_device"),
        pl.col("txn").alias("_twin_txn"),
    )
    pairs = pairs.join(twins, on=["first__tid", "first__inv"], how="left").with_columns(
        twin=pl.when(pl.col("_twin_device") != pl.col("first__device")).then(pl.col("_twin_txn"))
    )
    pairs = pairs.sort("twin", nulls_last=True).unique("second__txn", keep="first", maintain_order=True)
    wrong_amount = (pl.col("second__txn_type") == "REFUND") & (
        pl.col("second__amount_entered") > pl.col("first__amount_entered")
    )
    wrong_card = (pl.col("second__txn_type") == "REFUND") & (pl.col("second__card") != pl.col("first__card"))
    gap = (pl.col("second__ts_start") - pl.col("first__ts_start")).dt.total_seconds()
    pairs = pairs.with_columns(gap_s=gap)
    # an invoice number used twice under the TID, and a void or refund long after the sale it hit
    ambiguous = pl.col("twin").is_not_null() & (pl.col("gap_s") >= params.late_void_s)
    pairs = pairs.with_columns(over_original=wrong_amount.fill_null(False), other_card=wrong_card.fill_null(False))
    single = pairs.filter((wrong_amount | wrong_card | ambiguous).fill_null(False)).drop("_twin_device", "_twin_txn")
    return pl.concat([single, _refunded_beyond_sale(t)], how="diagonal_relaxed")


def _refunded_beyond_sale(t: pl.DataFrame) -> pl.DataFrame:
    """Sales refunded more than once for more, together, than they were charged: one candidate per sale.

    ``first`` is the sale, ``second`` the refund that took the total past it; ``members`` lists the sale
    and all its refunds.
    """
    refunds = t.filter(
        pl.col("txn_type") == "REFUND",
        pl.col("merchant_outcome") == "APPROVED",
        pl.col("orig_txn").is_not_null(),
        pl.col("amount_entered") > 0,
    ).sort("ts_start")
    running = refunds.with_columns(
        _total=pl.col("amount_entered").cum_sum().over("orig_txn"), _n=pl.int_range(1, pl.len() + 1).over("orig_txn")
    )
    sales = t.select(pl.col("txn").alias("orig_txn"), pl.col("amount_entered").alias("_sale_amount"))
    over = (
        running.join(sales, on="orig_txn", how="inner")
        .filter(pl.col("_n") >= 2, pl.col("_total") > pl.col("_sale_amount"))
        .unique("orig_txn", keep="first")
    )
    if over.is_empty():
        return pl.DataFrame()
    members = refunds.group_by("orig_txn").agg(pl.col("txn").alias("_refunds"))
    over = over.join(members, on="orig_txn", how="left")
    first = prefixed(t, "first")
    second = over.select(
        [pl.col(c).alias(f"second__{c}") for c in t.columns]
        + [
            pl.concat_list(pl.col("orig_txn"), pl.col("_refunds")).alias("members"),
            pl.col("_total").alias("refunded_total"),
        ]
    )
    return second.join(first, left_on="second__orig_txn", right_on="first__txn", how="inner").with_columns(
        first__txn=pl.col("second__orig_txn")
    )


def _amount(row: Row, txns: Txns) -> tuple[int | None, dict[str, Any]]:
    return txns[-1].get("amount_entered"), txns[-1]


def _shape(row: Row, txns: Txns) -> str:
    if row.get("other_card"):
        return "credited_other_card"
    if row.get("twin") is not None and not row.get("over_original"):
        return "credited_other_sale"
    return "credited_more_than_due"


def _summary(row: Row, txns: Txns, amount: int | None) -> str:
    a, b = txns[0], txns[-1]
    return (
        f"{b['txn_type'].title()} inv {b['inv']} ({money(b['amount_entered'], b)}) of sale inv {a['inv']} "
        f"({money(a['amount_entered'], a)}, card {a['card']})"
        + (f" credited card {b['card']}" if b.get("card") and b["card"] != a["card"] else "")
    )


def _detect(ctx: Context) -> pl.DataFrame:
    return refund_errors(ctx.transactions, ctx.params)


def _action(row: Row, txns: Txns, amount: int | None) -> str:
    a, b = txns[0], txns[-1]
    if row.get("refunded_total") is not None:
        over = row["refunded_total"] - (a.get("amount_entered") or 0)
        return f"Recover {money(over, b)} from {card(b)}: sale inv {a['inv']} was refunded more than once"
    if row.get("twin") is not None and len(txns) > 2:
        hit = txns[1]
        return (
            f"Ask the merchant which sale inv {hit['inv']} the {b['txn_type'].lower()} was meant for: it hit the one"
            f" on {hit['device']} ({money(hit['amount_entered'], hit)}), not the one on {a['device']}"
            f" ({money(a['amount_entered'], a)}); reinstate or reverse accordingly"
        )
    if b.get("card") and a.get("card") and b["card"] != a["card"]:
        return (
            f"Credit {money(b['amount_entered'], b)} to {card(a)}, the card of sale inv {a['inv']}, and recover it"
            f" from {card(b)}"
        )
    over = (b.get("amount_entered") or 0) - (a.get("amount_entered") or 0)
    return f"Recover {money(over, b)} from {card(b)}: refund inv {b['inv']} was for more than sale inv {a['inv']}"


KIND = Kind(
    name="refund_error",
    detect=_detect,
    amount=_amount,
    summary=_summary,
    title="Refund to the wrong card, amount or sale",
    action=_action,
    cites=("line_card", "line_start"),
    columns={
        "twin": (pl.String(), "the transaction on another device with the sale's TID and invoice number"),
        "gap_s": (pl.Float64(), "seconds from the sale to the refund or void"),
        "over_original": (pl.Boolean(), "a refund of more than the sale"),
        "other_card": (pl.Boolean(), "a refund to another card than the sale's"),
        "members": (pl.List(pl.String()), "the sale and all its refunds (refunded more than once)"),
        "refunded_total": (pl.Int64(), "the refunds summed, past the sale's amount (minor units)"),
    },
    shapes={
        "credited_other_card": "a refund credited to another card than the sale's",
        "credited_other_sale": "a void or refund that hit another sale with the same invoice number",
        "credited_more_than_due": "a refund, or refunds together, for more than the sale",
    },
    shape=_shape,
)
