"""amount_mismatch: a charge for another amount than the one intended.

Either the amount sent differs from the amount entered, or a keyed amount is an outlier for the
terminal, or the merchant's own correction (a void and re-run, or a refund, for a tenth or a
hundredth) shows the sale was charged ten or a hundred times over.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import polars as pl

from forensics.diagnosis.candidates import Params, singles
from forensics.diagnosis.kinds import Context, Kind, Row, Txns
from forensics.diagnosis.wording import card, money


def amount_mismatches(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """A charge for another amount than intended: sent differs from entered, or a keyed outlier that
    ends in an extra zero."""
    approved = pl.col("charges") & pl.col("txn_type").is_in(["SALE", "TIP_ADJUST"])
    ratio = pl.col("amount_entered") / pl.col("_median")
    z = (pl.col("amount_entered").log() - pl.col("_log_median")) / pl.col("_log_sigma")
    enough = pl.col("_sales") >= params.outlier_min_sales
    outlier = enough & (ratio >= params.outlier_ratio) & (z >= z_needed(t, params))
    sent_differs = pl.col("amount_sent") != pl.col("amount_entered")
    # keyed by hand, in minor units ending in the zero an extra digit adds (45.99 keyed as 459.90: the
    # slip ../shared/docs/domain.md 2.10 describes); a large sale that does not end in 0 is not evidence
    keyed = (pl.col("source") == "keypad") & pl.col("amount_keyed").is_not_null() & (pl.col("amount_entered") % 10 == 0)
    hit = t.filter(
        approved | (pl.col("txn_type") == "TIP_ADJUST"),
        sent_differs.fill_null(False) | (outlier & keyed).fill_null(False),
    )
    return singles(hit.with_columns(ratio=ratio), extras=("ratio",))


def z_needed(t: pl.DataFrame, params: Params) -> pl.Expr:
    """Per transaction, the z its terminal's outlier must reach: ``outlier_z``, or more where the terminal's
    ``_sales`` approved sales (log-normal amounts) would show one that far out with chance ``outlier_alpha``."""
    counts = t.get_column("_sales").drop_nulls().unique().to_list()
    needed = {n: max(params.outlier_z, NormalDist().inv_cdf(1 - params.outlier_alpha / n)) for n in counts}
    return pl.col("_sales").replace_strict(needed, default=None, return_dtype=pl.Float64)


def _shifted(big: pl.Expr, small: pl.Expr) -> pl.Expr:
    """``big`` is ``small`` with one or two digits too many (x10 or x100), in minor units."""
    return (small > 0) & ((big == small * 10) | (big == small * 100))


def amount_corrections(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """Sales charged for ten or a hundred times the amount meant, as the merchant's own correction shows.

    The sale was voided and run again by the same merchant on the same card for a tenth (or hundredth), or
    refunded so that exactly a tenth (or hundredth) was kept. One candidate per sale, listing the sale and its
    correction.
    """
    sales = t.filter(
        pl.col("txn_type") == "SALE",
        pl.col("merchant_outcome") == "APPROVED",
        pl.col("card").is_not_null(),
        pl.col("amount_entered") > 0,
    )
    # the merchant corrects its own sale: the same MID, or the same device where no log names the MID
    merchant = pl.coalesce(pl.col("mid"), pl.lit("device:") + pl.col("device")).alias("_merchant")
    voided = sales.filter(pl.col("voided_by").is_not_null()).select(
        "txn", "card", merchant, "amount_entered", "ts_start", "voided_by"
    )
    again = sales.filter(pl.col("voided_by").is_null()).select(
        "card",
        merchant,
        pl.col("txn").alias("_rerun"),
        pl.col("amount_entered").alias("_rerun_amount"),
        pl.col("ts_start").alias("_rerun_ts"),
    )
    gap = (pl.col("_rerun_ts") - pl.col("ts_start")).dt.total_seconds()
    rerun = (
        voided.join(again, on=["card", "_merchant"], how="inner")
        .filter(gap > 0, gap <= params.rerun_correction_s, _shifted(pl.col("amount_entered"), pl.col("_rerun_amount")))
        .sort("_rerun_ts")
        .unique("txn", keep="first")
        .select(
            "txn",
            pl.concat_list("txn", "voided_by", "_rerun").alias("members"),
            pl.lit("voided and run again").alias("correction"),
            (pl.col("amount_entered") / pl.col("_rerun_amount")).alias("ratio"),
        )
    )
    refunds = t.filter(
        pl.col("txn_type") == "REFUND", pl.col("merchant_outcome") == "APPROVED", pl.col("orig_txn").is_not_null()
    ).select(
        pl.col("orig_txn").alias("txn"),
        pl.col("txn").alias("_refund"),
        pl.col("amount_entered").alias("_refunded"),
        pl.col("ts_start").alias("_refund_ts"),
    )
    kept = pl.col("amount_entered") - pl.col("_refunded")
    refunded = (
        sales.select("txn", "amount_entered", "ts_start")
        .join(refunds, on="txn", how="inner")
        .filter(
            (pl.col("_refund_ts") - pl.col("ts_start")).dt.total_seconds() <= params.refund_correction_s,
            _shifted(pl.col("amount_entered"), kept),
        )
        .unique("txn", keep="first")
        .select(
            "txn",
            pl.concat_list("txn", "_refund").alias("members"),
            pl.lit("refunded down to a tenth").alias("correction"),
            (pl.col("amount_entered") / kept).alias("ratio"),
        )
    )
    found = pl.concat([rerun, refunded]).unique("txn", keep="first", maintain_order=True)
    hit = t.join(found, on="txn", how="inner")
    return singles(hit, extras=("members", "correction", "ratio"))


def _detect(ctx: Context) -> pl.DataFrame:
    """Corrected sales, then the other mismatches (a corrected sale once only)."""
    corrected = amount_corrections(ctx.transactions, ctx.params)
    mismatches = amount_mismatches(ctx.transactions, ctx.params)
    if corrected.height:
        mismatches = mismatches.filter(~pl.col("txn__txn").is_in(corrected["txn__txn"].implode()))
    parts = [p for p in (corrected, mismatches) if p.height]
    return pl.concat(parts, how="diagonal_relaxed") if parts else corrected


def _amount(row: Row, txns: Txns) -> tuple[int | None, dict[str, Any]]:
    main = txns[0]
    return main.get("amount") or main.get("amount_sent") or main.get("amount_entered"), main


def _summary(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    what = (
        f"{a['txn_type'].title()} inv {a['inv']} charged {money(amount, a)} (entered {money(a['amount_entered'], a)})"
    )
    if row.get("ratio") is not None and row["ratio"] >= 2:
        what += f", {row['ratio']:.0f}x the terminal's median sale"
    return what


def _action(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    entered = a.get("amount_entered")
    if amount is None or entered is None:
        return f"Check the amount cleared for inv {a['inv']} against the receipt and refund {card(a)} any excess"
    if amount > entered:
        return f"Refund {money(amount - entered, a)} to {card(a)}: charged {money(amount, a)} for {money(entered, a)}"
    if amount < entered:
        return f"Tell the merchant inv {a['inv']} was paid {money(entered - amount, a)} short of the amount entered"
    if entered % 10 == 0 and entered >= 10:
        # the amount entered is the slip itself (an extra digit: domain.md 2.10)
        meant = entered // 10
        return (
            f"Check the receipt for the amount agreed (likely {money(meant, a)}: {money(entered, a)} has the extra"
            f" digit a keyed slip adds) and refund {card(a)} the difference ({money(entered - meant, a)} if so)"
        )
    return f"Check the receipt for the amount agreed and refund {card(a)} whatever was charged beyond it"


KIND = Kind(
    name="amount_mismatch",
    detect=_detect,
    amount=_amount,
    summary=_summary,
    title="Charged a wrong amount",
    action=_action,
    cites=("line_start", "line_tx"),
    columns={
        "ratio": (pl.Float64(), "the amount over the terminal's median sale, or over the corrected amount"),
        "members": (pl.List(pl.String()), "the sale and the void, re-run or refund that corrected it"),
        "correction": (pl.String(), "how the merchant corrected the amount (null: not corrected)"),
    },
)
