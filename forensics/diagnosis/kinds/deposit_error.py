"""deposit_error: a pre-authorisation (deposit) completed for a wrong amount or more than once.

``first`` is the pre-authorisation and ``second`` the completion (for one completed twice, the
first and the last completion).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.diagnosis.candidates import Params, prefixed
from forensics.diagnosis.kinds import Kind, Row, Txns
from forensics.diagnosis.wording import card, money


def deposit_errors(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """Pre-authorisations completed for a wrong amount or more than once."""
    completions = t.filter(
        pl.col("txn_type") == "PREAUTH_COMPLETE", pl.col("charges"), pl.col("orig_txn").is_not_null()
    )
    pre = prefixed(t, "first")
    comp = prefixed(completions, "second")
    pairs = comp.join(pre, left_on="second__orig_txn", right_on="first__txn", how="inner").with_columns(
        first__txn=pl.col("second__orig_txn"), completions=pl.len().over("second__orig_txn")
    )
    too_much = pl.col("second__amount_entered") > pl.col("first__amount_entered") * (1 + params.completion_tolerance)
    pairs = pairs.with_columns(over_hold=too_much.fill_null(False))
    wrong = pairs.filter(pl.col("over_hold"))
    twice = pairs.filter(pl.col("completions") > 1).sort("second__ts_start")
    if twice.height:
        a = twice.group_by("second__orig_txn", maintain_order=True).agg(pl.all().first())
        b = twice.group_by("second__orig_txn", maintain_order=True).agg(pl.all().last())
        twice = pl.concat(
            [
                a.select(
                    [pl.col(c).alias(c.replace("second__", "first__")) for c in a.columns if c.startswith("second__")]
                ),
                b.select([c for c in b.columns if c.startswith("second__")] + ["completions"]),
            ],
            how="horizontal",
        )
    return pl.concat([wrong, twice], how="diagonal_relaxed")


def _amount(row: Row, txns: Txns) -> tuple[int | None, dict[str, Any]]:
    return txns[-1].get("amount_entered"), txns[-1]


def _shape(row: Row, txns: Txns) -> str:
    if len(txns) > 2 or (row.get("completions") or 0) > 1:
        return "completed_twice"
    return "completed_above_hold"


def _summary(row: Row, txns: Txns, amount: int | None) -> str:
    a, b = txns[0], txns[-1]
    if len(txns) > 2 or (row.get("completions") or 0) > 1:
        return f"Deposit completed more than once ({money(b['amount_entered'], b)} each)"
    return (
        f"Deposit inv {a['inv']} ({money(a['amount_entered'], a)})"
        f" completed for {money(b['amount_entered'], b)} (inv {b['inv']})"
    )


def _action(row: Row, txns: Txns, amount: int | None) -> str:
    a, b = txns[0], txns[-1]
    # a completion is keyed against the hold: its card is the hold's, whichever of them logged it
    holder = card(next((t for t in reversed(txns) if t.get("card")), a))
    if len(txns) > 2 or (row.get("completions") or 0) > 1:
        # both are completions here: the deposit is the one they name
        hold = f"deposit inv {a['orig_inv']}" if a.get("orig_inv") else f"the deposit inv {a['inv']} completes"
        invs = ", ".join(t["inv"] for t in txns if t.get("inv"))
        return f"Reverse every completion of {hold} but one (inv {invs}), and refund {holder} the extra ones"
    return (
        f"Correct the completion of deposit inv {a['inv']} with the acquirer: {money(b['amount_entered'], b)}"
        f" was taken from {holder} against a hold of {money(a['amount_entered'], a)}"
    )


KIND = Kind(
    name="deposit_error",
    detect=lambda ctx: deposit_errors(ctx.transactions, ctx.params),
    amount=_amount,
    summary=_summary,
    title="Deposit completed for the wrong amount",
    action=_action,
    cites=("line_start",),
    columns={
        "completions": (pl.UInt32(), "how many completions name the pre-authorisation"),
        "over_hold": (pl.Boolean(), "completed for more than the hold and its tolerance"),
    },
    shapes={
        "completed_above_hold": "a completion for more than its hold (and the tolerance)",
        "completed_twice": "one hold completed more than once",
    },
    shape=_shape,
)
