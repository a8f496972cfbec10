"""misrouted_funds: money settled to the wrong merchant: a device's charges under another MID than
the device it replaced. One finding per device, listing its charges."""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.diagnosis.candidates import CHARGES, GROUP_COLUMNS, grouped_by_device
from forensics.diagnosis.kinds import Kind, Row, Txns
from forensics.diagnosis.wording import money


def replacements(devices: pl.DataFrame) -> pl.DataFrame:
    """Which device took over from which: device, replaced (its predecessor), replaced_mid.

    A later device under the same TID replaces the earlier one. A device initialised during the logs
    under a TID of its own replaces the device that stopped last before it appeared, when every other
    device of the analysis works for one merchant (one MID): the logs are then one site's.
    """
    # a device initialised during the logs came after one that was not, whatever the clocks say
    d = devices.filter(pl.col("tid").is_not_null()).sort(pl.col("counter_resets") > 0, "first_seen")
    same_tid = d.with_columns(
        replaced=pl.col("device").shift(1).over("tid"), replaced_mid=pl.col("mid").shift(1).over("tid")
    ).filter(pl.col("replaced").is_not_null())
    fresh = d.filter(pl.col("counter_resets") > 0, ~pl.col("device").is_in(same_tid["device"].implode()))
    rows = []
    for new in fresh.iter_rows(named=True):
        others = d.filter(pl.col("device") != new["device"], pl.col("mid").is_not_null())
        if others["mid"].n_unique() != 1:
            continue
        before = others.filter(pl.col("last_seen") <= new["first_seen"], pl.col("tid") != new["tid"])
        if before.height:
            last = before.sort("last_seen").row(-1, named=True)
            rows.append({"device": new["device"], "replaced": last["device"], "replaced_mid": last["mid"]})
    site = pl.DataFrame(rows, schema={"device": pl.String, "replaced": pl.String, "replaced_mid": pl.String})
    return pl.concat([same_tid.select("device", "replaced", "replaced_mid"), site])


def misrouted(t: pl.DataFrame, devices: pl.DataFrame) -> pl.DataFrame:
    """Charges of a device whose MID differs from the MID of the device it replaced."""
    d = devices.join(replacements(devices), on="device", how="inner")
    moved = d.filter(pl.col("replaced_mid").is_not_null(), pl.col("mid") != pl.col("replaced_mid")).select(
        "device", pl.col("replaced_mid").alias("expected_mid")
    )
    hit = t.filter(pl.col("charges"), pl.col("txn_type").is_in(CHARGES)).join(moved, on="device", how="inner")
    return grouped_by_device(hit, ("expected_mid",))


def _amount(row: Row, txns: Txns) -> tuple[int | None, dict[str, Any]]:
    return row.get("group_amount"), txns[0]


def _summary(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    return (
        f"{len(txns)} charges on {a['device']} ({money(amount, a)}) cleared to MID {a['mid']} instead of "
        f"{row.get('expected_mid')}"
    )


def _action(row: Row, txns: Txns, amount: int | None) -> str:
    a = txns[0]
    return (
        f"Have the acquirer move {money(amount, a)} from MID {a['mid']} to MID {row.get('expected_mid') or '?'},"
        f" and re-initialise {a['device']} with the merchant's own MID"
    )


KIND = Kind(
    name="misrouted_funds",
    detect=lambda ctx: misrouted(ctx.transactions, ctx.devices),
    amount=_amount,
    summary=_summary,
    title="Money settled to the wrong merchant",
    action=_action,
    columns={"expected_mid": (pl.String(), "the MID of the device this one replaced"), **GROUP_COLUMNS},
)
