"""Transactions frames for detector tests: the columns detectors read, as ``candidates.prepare`` gives them."""

from __future__ import annotations

import polars as pl

from forensics.diagnosis.candidates import prepare
from forensics.timeline import TRANSACTIONS_SCHEMA


def txns(rows: list[dict[str, object]]) -> pl.DataFrame:
    """One transaction per row (unset columns as a plain approved sale on T1), typed and prepared."""
    base = {
        "txn": None,
        "txn_type": "SALE",
        "card": None,
        "amount_entered": 1000,
        "mid": "M1",
        "tid": "T1",
        "device": "D1",
        "atc": None,
        "ts_start": None,
        "merchant_outcome": "APPROVED",
        "charged": True,
        "charge_at_risk": False,
        "line_saf_queued": None,
        "flags": [],
        "resend_of": None,
        "amount_approved": None,
        "amount_sent": None,
        "source": None,
        "amount_keyed": None,
        "voided_by": None,
        "orig_txn": None,
        "cleared_count": None,
    }
    frame = pl.DataFrame([{**base, **r} for r in rows], infer_schema_length=None).with_columns(
        pl.col("ts_start").str.to_datetime(time_zone="UTC")
    )
    # the declared types, as the timeline builds them (an all-null column would otherwise be untyped)
    frame = frame.with_columns([pl.col(c).cast(TRANSACTIONS_SCHEMA[c]) for c in frame.columns])
    return prepare(frame, pl.DataFrame())
