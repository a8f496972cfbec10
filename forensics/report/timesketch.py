"""Timesketch JSON lines: one object per event with ``message``, ``datetime`` (ISO 8601 with
offset) and ``timestamp_desc``, plus the event's fields, so a timeline imports unchanged.

Every side is there: the terminals' lines (clock-corrected), the host's messages (host time) and the
cleared items (placed at or after the request they clear: ``forensics.timeline.place_settlement``).
Restricted to some transactions, the export keeps their terminal lines and the host messages and
cleared items of the same TID and STAN (or RRN)."""

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


def _events(tl: Timeline, transactions: pl.DataFrame) -> pl.DataFrame:
    """The events of ``transactions``: their own lines, and the host messages and cleared items of their
    TID and STAN (a cleared item also by RRN)."""
    keys = transactions.select("tid", "stan").drop_nulls().unique()
    rrns = transactions["rrn"].drop_nulls().unique().implode()
    own = tl.events.filter(pl.col("txn").is_in(transactions["txn"].implode()))
    other = tl.events.filter(pl.col("role").is_in(["host", "settlement"]))
    by_key = other.join(keys, on=["tid", "stan"], how="semi")
    by_rrn = other.filter(pl.col("role") == "settlement", pl.col("rrn").is_in(rrns))
    return pl.concat([own, by_key, by_rrn]).unique(["path", "line"], maintain_order=True).sort("ts_utc", "path", "line")


def frame(tl: Timeline, transactions: pl.DataFrame | None = None) -> pl.DataFrame:
    """The events as Timesketch rows (events without a time are left out: Timesketch needs one);
    ``transactions``: only the events of these (a filter of ``tl.transactions``; default every event)."""
    ev = tl.events if transactions is None else _events(tl, transactions)
    ev = ev.filter(pl.col("ts_utc").is_not_null())
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


def write(tl: Timeline, transactions: pl.DataFrame | None = None) -> str:
    """The Timesketch JSONL text (``transactions`` as for ``frame``)."""
    return frame(tl, transactions).write_ndjson()
