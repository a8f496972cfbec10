"""Reconciliation: each transaction's three views side by side, and the disagreements between them.

What the merchant believed (the terminal's outcome, its voids, refunds and adjustments), what the
network did (the host's answer, its approved amount, the reversals it accepted) and what cleared (the
clearing file) must agree. A disagreement is a candidate finding whatever story produced it; its
shape decides the finding kind (docs/reconciliation.md has the table). The kind detectors
(forensics/diagnosis/kinds/) find the shapes whose stories they know with more context (a re-run, a
keyed outlier, a wrong refund); ``candidates`` adds every other disagreement, once per transaction,
so that a mechanism nobody described is still found. Null means "this input was not given or does
not cover it": no comparison with a null counts as a disagreement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from forensics.diagnosis.candidates import singles
from forensics.diagnosis.wording import card, money

#: the column a disagreement's candidate carries: its shape's name
SHAPE_COLUMN = "shape"

_APPROVED = pl.col("merchant_outcome") == "APPROVED"
_HOST_APPROVED = pl.col("host_rc").is_in(["00", "10", "000", "002"])
#: approved for a partial amount: 10 (ISO 8583:1987), 002 (1993)
_PARTIAL = pl.col("host_rc").is_in(["10", "002"])
_UNCHANGED = pl.col("adjusted_by").is_null() & pl.col("completed_by").list.len().fill_null(0).eq(0)
_NOT_CANCELLED = pl.col("voided_by").is_null() & ~(pl.col("host_reversal_rc") == "00").fill_null(False)
_CLEARED = pl.col("settle_covers") & (pl.col("cleared_count") >= 1)


def _inside_clearing() -> pl.Expr:
    """The transaction lies before its TID's last cleared item: a clearing file that lacks it is not merely cut off
    before it (a late item clears on the next day's file)."""
    last = pl.col("ts_start").filter(pl.col("cleared_count") >= 1).max().over("tid")
    return (pl.col("ts_start") < last).fill_null(False)


@dataclass(frozen=True)
class Shape:
    """One shape of disagreement between the views: the kind it is, when it holds, and its words."""

    name: str
    kind: str
    #: the views it compares, for the table in docs/reconciliation.md
    views: str
    condition: Callable[[], pl.Expr]
    #: what happened, after "<Type> inv <inv> (<amount>)": (transaction) -> text
    says: Callable[[dict[str, Any]], str]
    #: what to do: (transaction) -> text
    action: Callable[[dict[str, Any]], str]


def _amount(t: dict[str, Any], column: str) -> str:
    return money(t.get(column), t)


SHAPES: tuple[Shape, ...] = (
    Shape(
        "approved_for_another_amount",
        "amount_mismatch",
        "merchant vs network",
        lambda: (
            _APPROVED
            & _HOST_APPROVED
            & ((pl.col("amount_approved") != pl.col("amount_sent")) | (pl.col("host_rc") == "10")).fill_null(False)
        ),
        lambda t: (
            f"was approved by the host for {_amount(t, 'amount_approved')} (response {t.get('host_rc')})"
            f" while the terminal showed it approved for {_amount(t, 'amount_sent')}"
        ),
        lambda t: (
            f"Collect or refund the difference on {card(t)}: the host approved"
            f" {_amount(t, 'amount_approved')}, the merchant rang up {_amount(t, 'amount_sent')}"
        ),
    ),
    Shape(
        "cleared_for_another_amount",
        "amount_mismatch",
        "network/merchant vs clearing",
        lambda: (
            (_APPROVED | (pl.col("merchant_outcome") == "UNKNOWN"))
            & _UNCHANGED
            & pl.col("txn_type").is_in(["SALE", "REFUND"])
            & (pl.col("settled_amount") != pl.coalesce("amount_approved", "amount_entered"))
        ).fill_null(False),
        lambda t: (
            f"cleared for {_amount(t, 'settled_amount')} though approved for"
            f" {money(t.get('amount_approved') or t.get('amount_entered'), t)}"
        ),
        lambda t: (
            f"Ask the acquirer to correct the clearing of RRN {t.get('rrn') or '?'} to the approved amount"
            f" and refund the difference to {card(t)}"
        ),
    ),
    Shape(
        "cleared_though_cancelled",
        "charged_but_declined",
        "merchant/network vs clearing",
        lambda: (
            pl.col("txn_type").is_in(["SALE", "PREAUTH_COMPLETE"])
            & _CLEARED
            & (pl.col("voided_by").is_not_null() | (pl.col("host_reversal_rc") == "00"))
        ).fill_null(False),
        lambda t: (
            "cleared though it was "
            + ("voided on the terminal" if t.get("voided_by") else "reversed at the host (0410 answered 00)")
        ),
        lambda t: (
            f"Refund {_amount(t, 'settled_amount')} to {card(t)} (RRN {t.get('rrn') or '?'}): the sale was"
            " cancelled before clearing"
        ),
    ),
    Shape(
        "credited_twice",
        "refund_error",
        "merchant vs clearing",
        lambda: ((pl.col("txn_type") == "REFUND") & (pl.col("cleared_count") > 1)).fill_null(False),
        lambda t: f"credited {t.get('cleared_count')} times in the clearing file",
        lambda t: f"Ask the acquirer to reverse the extra credit of RRN {t.get('rrn') or '?'} to {card(t)}",
    ),
    Shape(
        "credit_not_cleared",
        "refund_error",
        "merchant vs clearing",
        lambda: (
            (pl.col("txn_type") == "REFUND")
            & _APPROVED
            & pl.col("settle_covers")
            & (pl.col("cleared_count") == 0)
            & _NOT_CANCELLED
            & _inside_clearing()
        ).fill_null(False),
        lambda t: "was approved on the terminal but never credited in the clearing file",
        lambda t: f"Credit {_amount(t, 'amount_entered')} to {card(t)}: the refund the merchant gave never cleared",
    ),
    Shape(
        "cleared_to_other_merchant",
        "misrouted_funds",
        "merchant vs clearing",
        lambda: (
            pl.col("settled_mid").is_not_null() & pl.col("mid").is_not_null() & (pl.col("settled_mid") != pl.col("mid"))
        ).fill_null(False),
        lambda t: f"cleared under merchant {t.get('settled_mid')} though the terminal sent it as {t.get('mid')}",
        lambda t: (
            f"Ask the acquirer to move RRN {t.get('rrn') or '?'} from merchant {t.get('settled_mid')} to {t.get('mid')}"
        ),
    ),
    Shape(
        "approved_not_cleared",
        "ledger_mismatch",
        "merchant/network vs clearing",
        lambda: (
            pl.col("txn_type").is_in(["SALE", "PREAUTH_COMPLETE"])
            & _APPROVED
            & pl.col("settle_covers")
            & (pl.col("cleared_count") == 0)
            & _NOT_CANCELLED
            & (pl.col("host_outcome").is_null() | (pl.col("host_outcome") == "APPROVED"))
            & _inside_clearing()
        ).fill_null(False),
        lambda t: (
            "was approved on the terminal but is missing from the clearing file, so the merchant's"
            " totals and the acquirer's do not reconcile"
        ),
        lambda t: (
            f"Ask the acquirer whether RRN {t.get('rrn') or '?'} (inv {t.get('inv')}) will clear; if not,"
            " re-present it or settle the batch it is in"
        ),
    ),
)

_BY_NAME = {s.name: s for s in SHAPES}


def shape(name: str) -> Shape:
    """The shape of this name."""
    return _BY_NAME[name]


def disagreements(t: pl.DataFrame) -> pl.DataFrame:
    """txn, shape: every disagreement between the views of each transaction (a transaction may have several)."""
    parts = [t.filter(s.condition()).select("txn", pl.lit(s.name).alias(SHAPE_COLUMN)) for s in SHAPES]
    return pl.concat(parts)


def candidates(t: pl.DataFrame, claimed: set[str]) -> dict[str, pl.DataFrame]:
    """Per finding kind, one candidate per transaction with a disagreement (its first shape in ``SHAPES``
    order) that no kind detector already made a candidate of (``claimed``: transaction ids)."""
    found = disagreements(t).filter(~pl.col("txn").is_in(sorted(claimed))).unique("txn", keep="first")
    out: dict[str, pl.DataFrame] = {}
    for s in SHAPES:
        txns = found.filter(pl.col(SHAPE_COLUMN) == s.name)["txn"]
        if txns.len():
            rows = singles(t.filter(pl.col("txn").is_in(txns.implode()))).with_columns(
                pl.lit(s.name).alias(SHAPE_COLUMN)
            )
            out[s.kind] = pl.concat([out[s.kind], rows]) if s.kind in out else rows
    return out


def summary(row: dict[str, Any], t: dict[str, Any]) -> str:
    """A disagreement's sentence: the transaction, then what its shape says."""
    amount = t.get("settled_amount") if t.get("settled_amount") is not None else t.get("amount_entered")
    return f"{(t.get('txn_type') or 'item').title()} inv {t.get('inv') or '?'} ({money(amount, t)}) " + shape(
        row[SHAPE_COLUMN]
    ).says(t)


def action(row: dict[str, Any], t: dict[str, Any]) -> str:
    """What to do about a disagreement."""
    return shape(row[SHAPE_COLUMN]).action(t)
