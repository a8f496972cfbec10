"""charged_but_declined: the cardholder was charged while the terminal showed a decline or an error,
and no re-run followed (a re-run makes it a duplicate_charge)."""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.diagnosis.candidates import CHARGES, singles
from forensics.diagnosis.kinds import Context, Kind, Row, Txns
from forensics.diagnosis.wording import card, money


def charged_but_declined(t: pl.DataFrame, taken: set[str]) -> pl.DataFrame:
    """The merchant saw no approval, the cardholder was charged, and the charge is in no duplicate (``taken``)."""
    hit = t.filter(
        pl.col("txn_type").is_in(CHARGES), pl.col("failed"), pl.col("charges"), ~pl.col("txn").is_in(list(taken))
    )
    return singles(hit)


def _detect(ctx: Context) -> pl.DataFrame:
    dups = ctx.found["duplicate_charge"]
    taken = set(dups["first__txn"].to_list()) | set(dups["second__txn"].to_list()) if dups.height else set()
    return charged_but_declined(ctx.transactions, taken)


def _amount(row: Row, txns: Txns) -> tuple[int | None, dict[str, Any]]:
    return txns[0].get("amount_entered"), txns[0]


def _summary(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    return (
        f"{a['txn_type'].title()} inv {a['inv']} charged {money(amount, a)}"
        f" while the terminal showed {a['merchant_outcome']}"
    )


def _action(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    return (
        f"Refund {money(amount, a)} to {card(a)} for inv {a['inv']}, unless the customer paid for that purchase"
        " only once: the terminal showed the sale as failed"
    )


KIND = Kind(
    name="charged_but_declined",
    detect=_detect,
    amount=_amount,
    summary=_summary,
    title="Charged though the terminal showed the sale failed",
    action=_action,
    after=("duplicate_charge",),
)
