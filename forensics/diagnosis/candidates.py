"""Candidate findings: what every detector reads and the row shapes every detector returns.

A detector (one per finding kind, in ``forensics/diagnosis/kinds/``) reads the transactions as
``prepare`` returns them and returns candidates: one row per possible finding, with the
transactions involved under role prefixes (``first__``, ``second__`` for pairs, ``txn__`` for
singles) and the columns its kind declares. Causes are the rules' business
(forensics/rules/*.toml). Thresholds are ``Params`` fields with documented defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

CHARGES = ("SALE", "PREAUTH_COMPLETE")

#: Columns ``prepare`` adds to the transactions for detectors and rules: column -> (dtype, meaning).
DERIVED_COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "amount": (pl.Int64(), "amount approved, else sent, else entered (minor units)"),
    "failed": (pl.Boolean(), "the merchant saw no approval (false where no terminal log shows what it saw)"),
    "offline": (pl.Boolean(), "approved offline (a store-and-forward entry)"),
    "charges": (pl.Boolean(), "counts as a charge: charged, or charge_at_risk where charged is unknown"),
    "charge_unconfirmed": (pl.Boolean(), "counts as a charge only because it may stand (charged is unknown)"),
}


@dataclass(frozen=True)
class Params:
    """Detector thresholds."""

    #: a repeat of card and amount this soon is a re-run even when the first looked fine (s)
    rerun_window_s: float = 900.0
    #: a repeat after a first attempt that failed, went offline or changed device (s)
    rerun_window_failed_s: float = 6 * 3600.0
    #: an amount this many times the terminal's median sale is an outlier...
    outlier_ratio: float = 5.0
    #: ...and this many robust standard deviations (log amounts, MAD) above it...
    outlier_z: float = 4.0
    #: ...and more than a terminal's honest sales reach with this chance: the more sales, the further out
    #: the largest of them (a z of 4.3 for 1,000 sales, 4.6 for 5,000)
    outlier_alpha: float = 0.01
    #: a completion may exceed its pre-authorisation by this fraction (hotel incidentals)
    completion_tolerance: float = 0.20
    #: fewest approved sales on a terminal for its median to be trusted
    outlier_min_sales: int = 8
    #: a void or refund this long after the sale it names is not a same-visit correction (s)
    late_void_s: float = 600.0
    #: a sale voided and run again for a tenth or hundredth within this time corrects a keyed amount (s)
    rerun_correction_s: float = 3600.0
    #: a refund leaving a tenth or hundredth of the sale within this time corrects a keyed amount (s)
    refund_correction_s: float = 14 * 86400.0


def prepare(t: pl.DataFrame, settlement: pl.DataFrame) -> pl.DataFrame:
    """The transactions with the derived columns detectors and rules use.

    ``charges`` is the timeline's ``charged`` where some input could tell, and otherwise whether the
    charge may stand (``charge_at_risk``: a request that left with no outcome and no delivered
    reversal); ``charge_unconfirmed`` marks the latter, which lowers a finding's confidence.
    """
    t = t.with_columns(
        amount=pl.coalesce("amount_approved", "amount_sent", "amount_entered"),
        # the merchant's view is unknown for a transaction no terminal log shows: not "failed"
        failed=~pl.col("merchant_outcome").is_in(["APPROVED", "UNKNOWN"]),
        offline=pl.col("line_saf_queued").is_not_null(),
        charges=pl.coalesce("charged", "charge_at_risk").fill_null(False),
        charge_unconfirmed=pl.col("charged").is_null() & pl.col("charge_at_risk").fill_null(False),
    )
    sales = t.filter(
        pl.col("txn_type") == "SALE", pl.col("merchant_outcome") == "APPROVED", pl.col("amount_entered") > 0
    )
    log_amount = pl.col("amount_entered").log()
    median = sales.group_by("tid").agg(
        pl.col("amount_entered").median().alias("_median"),
        pl.len().alias("_sales"),
        log_amount.median().alias("_log_median"),
        ((log_amount - log_amount.median()).abs().median() * 1.4826).alias("_log_sigma"),
    )
    return t.join(median, on="tid", how="left")


def prefixed(t: pl.DataFrame, role: str) -> pl.DataFrame:
    """Every column of ``t`` under the role prefix ``role__``."""
    return t.select([pl.col(c).alias(f"{role}__{c}") for c in t.columns])


def singles(t: pl.DataFrame, extras: tuple[str, ...] = ()) -> pl.DataFrame:
    """One candidate per transaction: its columns as ``txn__``, the ``extras`` as they are."""
    return t.select([pl.col(c).alias(c if c in extras else f"txn__{c}") for c in t.columns])


def grouped_by_device(t: pl.DataFrame, extras: tuple[str, ...] = ()) -> pl.DataFrame:
    """One candidate per device for all of ``t``'s transactions on it: the first it logged as ``txn__``
    (its clock may have been reset), all of them in ``members``, their amounts summed in ``group_amount``."""
    if t.is_empty():
        return singles(t, extras)
    g = t.sort("path", "line_start").group_by("device", maintain_order=True).agg(pl.all())
    cols = [c for c in g.columns if c != "device"]
    return g.select(
        pl.col("device").alias("txn__device"),
        *[pl.col(c).list.first().alias(c if c in extras else f"txn__{c}") for c in cols],
        pl.col("txn").alias("members"),
        pl.col("amount").list.sum().alias("group_amount"),
    )


#: Columns ``grouped_by_device`` adds: column -> (dtype, meaning).
GROUP_COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "members": (pl.List(pl.String()), "every transaction of the finding, by id"),
    "group_amount": (pl.Int64(), "the members' amounts summed (minor units)"),
}
