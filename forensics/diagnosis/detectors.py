"""Detectors: which transactions make a faulty charge, before asking why.

Each detector reads the timeline's transactions table and returns candidates: one row per
possible finding, with the transactions involved under role prefixes (``first__``,
``second__`` for pairs, ``txn__`` for singles). Causes are the rules' business
(forensics/rules/*.toml). Thresholds are ``Params`` fields with documented defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

CHARGES = ("SALE", "PREAUTH_COMPLETE")

#: Columns ``prepare`` adds to the transactions for detectors and rules: column -> (dtype, meaning).
DERIVED_COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "amount": (pl.Int64(), "amount approved, else sent, else entered (minor units)"),
    "failed": (pl.Boolean(), "the merchant saw no approval"),
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
    #: ...and this many robust standard deviations (log amounts, MAD) above it
    outlier_z: float = 4.0
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
        failed=pl.col("merchant_outcome") != "APPROVED",
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
    pairs = pairs.filter(
        pl.col("txn") != pl.col("txn_2"),
        earlier,
        different_tap,
        (gap.abs() <= params.rerun_window_s) | (suspicious & (gap.abs() <= params.rerun_window_failed_s)),
    )
    # Each re-run pairs with the nearest earlier attempt only.
    pairs = pairs.sort("txn_2", "ts_start").unique("txn_2", keep="last", maintain_order=True).select("txn", "txn_2")
    first = charges.select([pl.col(c).alias(f"first__{c}") for c in charges.columns])
    second = charges.select([pl.col(c).alias(f"second__{c}") for c in charges.columns])
    return (
        pairs.join(first, left_on="txn", right_on="first__txn", how="inner")
        .with_columns(first__txn=pl.col("txn"))
        .join(second, left_on="txn_2", right_on="second__txn", how="inner")
        .with_columns(second__txn=pl.col("txn_2"))
        .drop("txn", "txn_2")
    )


def duplicate_charges(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """Two charges for one purchase: a re-run (two card interactions) or one item cleared twice."""
    reruns = _pairs(t, params)
    cleared_twice = t.filter(pl.col("cleared_count") > 1)
    twice = (
        pl.concat(
            [
                cleared_twice.select([pl.col(c).alias(f"{role}__{c}") for c in t.columns])
                for role in ("first", "second")
            ],
            how="horizontal",
        )
        if cleared_twice.height
        else None
    )
    frames = [reruns] + ([twice] if twice is not None else [])
    return pl.concat(frames, how="diagonal_relaxed").with_columns(finding=pl.lit("duplicate_charge"))


def _singles(t: pl.DataFrame, name: str, extras: tuple[str, ...] = ()) -> pl.DataFrame:
    return t.select([pl.col(c).alias(c if c in extras else f"txn__{c}") for c in t.columns]).with_columns(
        finding=pl.lit(name)
    )


def charged_but_declined(t: pl.DataFrame, taken: set[str]) -> pl.DataFrame:
    """The merchant saw no approval, the cardholder was charged, and no re-run followed."""
    hit = t.filter(
        pl.col("txn_type").is_in(CHARGES), pl.col("failed"), pl.col("charges"), ~pl.col("txn").is_in(list(taken))
    )
    return _singles(hit, "charged_but_declined")


def amount_mismatches(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """A charge for another amount than intended: sent differs from entered, or a keyed outlier."""
    approved = pl.col("charges") & pl.col("txn_type").is_in(["SALE", "TIP_ADJUST"])
    ratio = pl.col("amount_entered") / pl.col("_median")
    z = (pl.col("amount_entered").log() - pl.col("_log_median")) / pl.col("_log_sigma")
    outlier = (pl.col("_sales") >= params.outlier_min_sales) & (ratio >= params.outlier_ratio) & (z >= params.outlier_z)
    sent_differs = pl.col("amount_sent") != pl.col("amount_entered")
    keyed = (pl.col("source") == "keypad") & pl.col("amount_keyed").is_not_null()
    hit = t.filter(
        approved | (pl.col("txn_type") == "TIP_ADJUST"),
        sent_differs.fill_null(False) | (outlier & keyed).fill_null(False),
    )
    return _singles(hit.with_columns(ratio=ratio), "amount_mismatch", extras=("ratio",))


def _shifted(big: pl.Expr, small: pl.Expr) -> pl.Expr:
    """``big`` is ``small`` with one or two digits too many (x10 or x100), in minor units."""
    return (small > 0) & ((big == small * 10) | (big == small * 100))


def amount_corrections(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """Sales charged for ten or a hundred times the amount meant, as the merchant's own correction shows.

    The sale was voided and run again on the same card for a tenth (or hundredth), or refunded so that
    exactly a tenth (or hundredth) was kept. One candidate per sale, listing the sale and its correction.
    """
    sales = t.filter(
        pl.col("txn_type") == "SALE",
        pl.col("merchant_outcome") == "APPROVED",
        pl.col("card").is_not_null(),
        pl.col("amount_entered") > 0,
    )
    voided = sales.filter(pl.col("voided_by").is_not_null()).select(
        "txn", "card", "amount_entered", "ts_start", "voided_by"
    )
    again = sales.filter(pl.col("voided_by").is_null()).select(
        "card",
        pl.col("txn").alias("_rerun"),
        pl.col("amount_entered").alias("_rerun_amount"),
        pl.col("ts_start").alias("_rerun_ts"),
    )
    gap = (pl.col("_rerun_ts") - pl.col("ts_start")).dt.total_seconds()
    rerun = (
        voided.join(again, on="card", how="inner")
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
    return _singles(hit, "amount_mismatch", extras=("members", "correction", "ratio"))


def refund_errors(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """Refunds or voids that credit the wrong amount, card or transaction."""
    originals = t.select([pl.col(c).alias(f"first__{c}") for c in t.columns])
    follow = t.filter(
        pl.col("txn_type").is_in(["REFUND", "VOID"]),
        pl.col("merchant_outcome") == "APPROVED",
        pl.col("orig_txn").is_not_null(),
    )
    pairs = (
        follow.select([pl.col(c).alias(f"second__{c}") for c in t.columns])
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
    return pl.concat([single, _refunded_beyond_sale(t)], how="diagonal_relaxed").with_columns(
        finding=pl.lit("refund_error")
    )


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
    first = t.select([pl.col(c).alias(f"first__{c}") for c in t.columns])
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


def deposit_errors(t: pl.DataFrame, params: Params) -> pl.DataFrame:
    """Pre-authorisations completed for a wrong amount or more than once."""
    completions = t.filter(
        pl.col("txn_type") == "PREAUTH_COMPLETE", pl.col("charges"), pl.col("orig_txn").is_not_null()
    )
    pre = t.select([pl.col(c).alias(f"first__{c}") for c in t.columns])
    comp = completions.select([pl.col(c).alias(f"second__{c}") for c in t.columns])
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
    return pl.concat([wrong, twice], how="diagonal_relaxed").with_columns(finding=pl.lit("deposit_error"))


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
    if hit.is_empty():
        return _singles(hit, "misrouted_funds", ("expected_mid",))
    # the group's first transaction is the first the device logged (its clock may have been reset)
    return (
        hit.sort("path", "line_start")
        .group_by("device", maintain_order=True)
        .agg(pl.all())
        .pipe(_grouped, "misrouted_funds", ("expected_mid",))
    )


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
    if hit.is_empty():
        return _singles(hit, "ledger_mismatch")
    return (
        hit.sort("path", "line_start")
        .group_by("device", maintain_order=True)
        .agg(pl.all())
        .pipe(_grouped, "ledger_mismatch")
    )


def _grouped(g: pl.DataFrame, name: str, extras: tuple[str, ...] = ()) -> pl.DataFrame:
    """Group findings: the first transaction as ``txn__``, all of them listed in ``members``."""
    cols = [c for c in g.columns if c != "device"]
    return g.select(
        pl.col("device").alias("txn__device"),
        *[pl.col(c).list.first().alias(c if c in extras else f"txn__{c}") for c in cols],
        pl.col("txn").alias("members"),
        pl.col("amount").list.sum().alias("group_amount"),
    ).with_columns(finding=pl.lit(name))
