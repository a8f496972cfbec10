"""ledger_mismatch: the device's batch, the host and the settlement disagree: offline approvals that
never reached the acquirer. One finding per device, listing them."""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.diagnosis.candidates import GROUP_COLUMNS, grouped_by_device
from forensics.diagnosis.kinds import Kind, Row, Txns
from forensics.diagnosis.wording import money


def ledger_mismatches(t: pl.DataFrame, devices: pl.DataFrame) -> pl.DataFrame:
    """Offline approvals that never reached the acquirer although their device stopped or settled."""
    stopped = devices.filter(pl.col("released_at").is_not_null()).select("device", pl.lit(True).alias("_released"))
    hit = (
        t.join(stopped, on="device", how="left")
        .filter(
            pl.col("offline"),
            pl.col("line_upload").is_null(),
            pl.col("voided_by").is_null(),
            pl.col("_released").fill_null(False) | pl.col("batch_closed").is_not_null(),
        )
        .drop("_released")
    )
    return grouped_by_device(hit)


def _amount(row: Row, txns: Txns) -> tuple[int | None, dict[str, Any]]:
    return row.get("group_amount"), txns[0]


def _summary(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    return f"{len(txns)} offline approvals on {a['device']} ({money(amount, a)}) never reached the acquirer"


def _action(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    return (
        f"Recover the offline queue of {a['device']} and submit its {len(txns)} approvals ({money(amount, a)})"
        " to the acquirer, or tell the merchant those sales were never paid"
    )


KIND = Kind(
    name="ledger_mismatch",
    detect=lambda ctx: ledger_mismatches(ctx.transactions, ctx.devices),
    amount=_amount,
    summary=_summary,
    title="Approved sales never reached the acquirer",
    action=_action,
    columns=GROUP_COLUMNS,
)
