"""Timesketch JSON lines: one object per event with ``message``, ``datetime`` (ISO 8601 with
offset) and ``timestamp_desc``, plus the event's fields, so a timeline imports unchanged."""

from __future__ import annotations

import polars as pl

from forensics.timeline import Timeline

REQUIRED = ("message", "datetime", "timestamp_desc")
_FIELDS = (
    "path",
    "line",
    "format",
    "device",
    "host",
    "tag",
    "kind",
    "txn",
    "tid",
    "mid",
    "stan",
    "inv",
    "rrn",
    "auth",
    "rc",
    "mti",
    "amount",
    "currency",
    "card",
    "card_id",
    "skew_s",
)


def frame(tl: Timeline) -> pl.DataFrame:
    """The events as Timesketch rows (events without a time are left out: Timesketch needs one)."""
    ev = tl.events.filter(pl.col("ts_utc").is_not_null())
    message = pl.concat_str(
        [
            pl.col("device").fill_null(""),
            pl.lit(" "),
            pl.col("tag").fill_null(pl.col("kind")),
            pl.lit(": "),
            pl.col("message").fill_null(pl.col("kind")).str.split("\n").list.first(),
        ]
    )
    desc = (
        pl.when(pl.col("role") == "host")
        .then(pl.lit("Host Time"))
        .when(pl.col("role") == "settlement")
        .then(pl.lit("Capture Time"))
        .otherwise(pl.lit("Terminal Time (clock-corrected)"))
    )
    return ev.select(
        message.alias("message"),
        pl.col("ts_utc").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00").alias("datetime"),
        desc.alias("timestamp_desc"),
        *[pl.col(c) for c in _FIELDS if c in ev.columns],
    )


def write(tl: Timeline) -> str:
    """The Timesketch JSONL text."""
    return frame(tl).write_ndjson()
