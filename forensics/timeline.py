"""Timelines: each transaction attempt's lifecycle across devices, the host and settlement.

``build(loaded)`` takes the ingest tables and returns a ``Timeline`` whose frames are:

- ``transactions``: one row per attempt (a ``START`` on a terminal), with its keys, the
  amounts entered, sent, approved and settled, what the merchant saw versus what the host and
  settlement recorded, its reversal's fate, and ``flags``: observations an analyst checks
  first (never a verdict).
- ``events``: the events, plus ``ts_utc`` (clock-corrected UTC; lines without a time take
  the next stamped line's, ``ts_inferred``), ``skew_s`` (the correction applied), clock
  ``segment``, transaction ``attempt`` number within the file, and ``txn`` (its id).
- ``devices``: serial, TID, MID, app, first/last seen, counter resets, role in a swap.
- ``clocks``: per device and clock segment, the skew estimated from terminal/host message
  pairs (terminal time minus host time), its spread and the number of pairs; and a row (no segment)
  per host log read as UTC for want of a zone whose zone the clearing file's capture times gave
  (``host_zones``): its offset from UTC, its events moved to UTC by it.
- ``host``: the host's request/response pairs; ``settlement``: the cleared items.

Clocks: a device's log is cut into segments at clock steps, clock sets, boots and logcat
dividers; within a segment the skew is the mean of the median TX offset (terminal send minus
host receive) and the median RX offset (terminal receive minus host send), which cancels the
network latency. Segments without pairs inherit from the previous one (plus the step, when
the log says it) or the next. The host clock is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import polars as pl

from forensics.events import UTC_US
from forensics.ingest import Loaded

#: Rows of the terminals' own logs (the role their format declares; a row always has one).
TERMINAL = pl.col("role") == "terminal"

_S, _I, _B, _T, _L = pl.String(), pl.Int64(), pl.Boolean(), UTC_US, pl.List(pl.String())
#: The transactions table: column -> (dtype, meaning). Order is the column order of the table.
#: Times are clock-corrected UTC; ``line_*`` columns are lines of the transaction's stream (see ``streams``).
TRANSACTION_COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "txn": (_S, "transaction id: device:line of its START"),
    "device": (_S, "device serial"),
    "tid": (_S, "terminal ID (DE41) of its request, else the log's"),
    "mid": (_S, "merchant ID (DE42) of its request, else the log's"),
    "txn_type": (_S, "SALE REFUND VOID PREAUTH PREAUTH_COMPLETE PREAUTH_VOID TIP_ADJUST BALANCE"),
    "inv": (_S, "invoice number"),
    "stan": (_S, "STAN of its request (or of its result)"),
    "batch_closed": (_S, "batch number of the settlement that closed it"),
    "rrn": (_S, "RRN from the terminal, the host, an upload or the clearing file"),
    "auth": (_S, "approval code from the terminal or the host"),
    "card": (_S, "card number, masked"),
    "card_id": (_S, "keyed hash of the card"),
    "atc": (_S, "EMV application transaction counter"),
    "entry": (_S, "entry mode"),
    "source": (_S, "amount source: keypad or ecr"),
    "operator": (_S, "operator id"),
    "currency": (_S, "ISO 4217 alphabetic code"),
    "exponent": (pl.Int8(), "decimal digits of the amounts"),
    "amount_entered": (_I, "amount on the START line (minor units)"),
    "amount_keyed": (_I, "amount the operator keyed just before (UI KEY)"),
    "amount_sent": (_I, "amount sent to the host (DE4)"),
    "amount_approved": (_I, "amount the host approved, else the one sent for a terminal approval"),
    "settled_amount": (_I, "amount in the clearing file"),
    "tip": (_I, "tip (minor units)"),
    "merchant_outcome": (
        _S,
        "what the merchant saw: the RESULT status, CRASHED, POWER_LOST, NO_RESULT; UNKNOWN without its terminal log",
    ),
    "merchant_status": (_S, "the RESULT line's status (null without one)"),
    "rc_result": (_S, "response code on the RESULT line"),
    "host_outcome": (_S, "APPROVED DECLINED REVERSED NO_RESPONSE NOT_SEEN; null without a host log"),
    "host_rc": (_S, "host's response code (DE39)"),
    "host_rrn": (_S, "host's RRN (DE37)"),
    "host_reversal_rc": (_S, "host's answer to the first reversal after the request; null: none reached it"),
    "reversal_rc": (_S, "reversal answer the terminal logged (0410 DE39); null: none logged"),
    "cleared_count": (pl.UInt32(), "items of it in the clearing file; null without one"),
    "charged": (_B, "the cardholder ended up charged (or credited); null: no input can tell"),
    "charged_by": (_S, "what decided charged: settlement, host, host (not received), terminal"),
    "charge_at_risk": (_B, "charged is null, the request left and no reversal was accepted"),
    "host_covers": (_B, "the host log holds this TID's traffic around its time"),
    "settle_covers": (_B, "the clearing file holds this TID's items around its time"),
    "rebuilt_from": (
        _S,
        "terminal: its terminal log; host or clearing: that input alone (no terminal log covers its TID then;"
        " device is then tid:<TID>)",
    ),
    "host_log": (_B, "a host log was given"),
    "settlement_file": (_B, "a clearing file was given"),
    "resend_of": (_S, "the transaction whose item this one sent again under a new STAN"),
    "app_version": (_S, "payment app version logged last before it"),
    "settled_mid": (_S, "MID it cleared under"),
    "reversal_saved": (_B, "a reversal record was saved for its STAN"),
    "reversal_sends": (pl.UInt32(), "times its reversal was sent"),
    "reversal_deleted": (_S, "why its reversal was deleted: acked approved max_retries operator_clear"),
    "receipts": (pl.UInt32(), "receipts printed for its invoice"),
    "printer_code": (_I, "first printer fault code in its window"),
    "recover_state": (_S, "power-fail recovery state logged in its window"),
    "recover_action": (_S, "power-fail recovery action"),
    "orig_inv": (_S, "invoice of the transaction it names"),
    "orig_rrn": (_S, "RRN of the transaction it names"),
    "orig_txn": (_S, "the transaction it voids, refunds, adjusts or completes"),
    "voided_by": (_S, "the void of it"),
    "refunded_by": (_L, "its refunds"),
    "refunded_amount": (_I, "sum of its refunds"),
    "adjusted_by": (_S, "its last tip adjust"),
    "completed_by": (_L, "its completions"),
    "ts_start": (_T, "START time"),
    "ts_tx": (_T, "request time"),
    "ts_result": (_T, "RESULT time"),
    "ts_printer": (_T, "printer fault time"),
    "ts_reversal_deleted": (_T, "reversal deletion time"),
    "ts_upload": (_T, "offline upload time"),
    "ts_batch_closed": (_T, "time its batch closed"),
    "h_rx_ts": (_T, "host's receive time of the request"),
    "path": (_S, "stream (first file) of its terminal lines"),
    "line_start": (_I, "START line"),
    "line_card": (_I, "card read line (entry mode, masked card, ATC)"),
    "line_tx": (_I, "request line"),
    "line_result": (_I, "RESULT line"),
    "line_timeout": (_I, "TIMEOUT line"),
    "line_crash": (_I, "crash in flight"),
    "line_boot": (_I, "boot in flight (power lost)"),
    "line_battery_low": (_I, "low battery report"),
    "line_recover": (_I, "power-fail recovery line"),
    "line_printer": (_I, "printer fault line"),
    "line_saf_queued": (_I, "store-and-forward entry (offline item)"),
    "line_upload": (_I, "offline upload line"),
    "line_reversal_deleted": (_I, "reversal deletion line"),
    "line_receipt": (_I, "first receipt line"),
    "line_clear_menu": (_I, "Clear Reversal menu line"),
    "line_reversal_rx": (_I, "reversal answer line"),
    "host_path": (_S, "host log path"),
    "host_line": (_I, "host's request block"),
    "host_resp_line": (_I, "host's response block"),
    "host_reversal_line": (_I, "host's reversal block"),
    "settle_lines": (_L, "clearing file lines (path:line)"),
    "flags": (_L, "observations to check first (never a verdict)"),
}
TRANSACTIONS_SCHEMA = pl.Schema({name: dtype for name, (dtype, _) in TRANSACTION_COLUMNS.items()})
_SEGMENT_KINDS = ("clock.step", "clock.set", "power.boot", "log.divider")
_PAIR_TOLERANCE = "27h"
_MATCH_WINDOW_S = 600
#: host response codes that approve (a charge or hold stands): 00, and 10 approved for a partial amount (and
#: their three-digit 1993 forms)
_APPROVING = ["00", "10", "000", "002"]
_RERUN_WINDOW_S = 900


@dataclass
class Timeline:
    """The reconstructed story of a set of logs, as Polars frames."""

    transactions: pl.DataFrame
    events: pl.DataFrame
    devices: pl.DataFrame
    clocks: pl.DataFrame
    host: pl.DataFrame
    settlement: pl.DataFrame
    loaded: Loaded

    def in_streams(self) -> pl.DataFrame:
        """The events with ``path`` and ``line`` in stream space, as the transactions' lines are."""
        return self.events.with_columns(path=pl.col("stream"), line=pl.col("seq"))

    def filter(
        self,
        *,
        tid: str | None = None,
        stan: str | None = None,
        inv: str | None = None,
        card: str | None = None,
        device: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Timeline:
        """The same timeline restricted to matching transactions (and their events)."""
        cond = pl.lit(True)
        for column, value in (("tid", tid), ("stan", stan), ("inv", inv), ("device", device)):
            if value is not None:
                cond = cond & (pl.col(column) == value)
        if card is not None:
            cond = cond & (pl.col("card").str.ends_with(card[-4:]) | (pl.col("card_id") == card))
        if since is not None:
            cond = cond & (pl.col("ts_start") >= since)
        if until is not None:
            cond = cond & (pl.col("ts_start") <= until)
        txns = self.transactions.filter(cond)
        events = self.events.filter(pl.col("txn").is_in(txns["txn"].implode()))
        return replace(self, transactions=txns, events=events)

    def _repr_html_(self) -> str:
        flagged = self.transactions.filter(pl.col("flags").list.len() > 0)
        parts = [
            "<h4>forensics timeline</h4>",
            f"<p>{self.transactions.height} transactions on {self.devices.height} devices; "
            f"{flagged.height} flagged.</p>",
            "<h5>Devices</h5>",
            self.devices._repr_html_(),
            "<h5>Flagged transactions</h5>",
            flagged.select(
                "txn",
                "device",
                "tid",
                "txn_type",
                "inv",
                "stan",
                "amount_entered",
                "currency",
                "merchant_outcome",
                "host_rc",
                "cleared_count",
                "flags",
            )._repr_html_(),
            "<h5>Clocks</h5>",
            self.clocks._repr_html_(),
        ]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return (
            f"Timeline({self.transactions.height} transactions, {self.events.height} events, "
            f"{self.devices.height} devices)"
        )


# -- host side --------------------------------------------------------------------------


def _response_mti(mti: pl.Expr) -> pl.Expr:
    third = (mti.str.slice(2, 1).cast(pl.Int32, strict=False) + 1).cast(pl.String)
    return mti.str.slice(0, 2) + third + mti.str.slice(3, 1)


def host_pairs(events: pl.DataFrame) -> pl.DataFrame:
    """Host requests (received) with their responses (sent): one row per request."""
    host = (
        events.lazy()
        .filter(pl.col("role") == "host", pl.col("mti").is_not_null())
        .select(
            "tid",
            "stan",
            "mti",
            "proc",
            "amount",
            "currency",
            "atc",
            "inv",
            "mid",
            "ts",
            "path",
            "line",
            "kind",
            "rc",
            "rrn",
            "auth",
            "card",
            "card_id",
            "exponent",
            "orig_rrn",
            "entry",
        )
        .collect()
    )
    requests = (
        host.filter(pl.col("kind") == "host.rx")
        .select(
            pl.col("tid"),
            pl.col("stan"),
            pl.col("mti"),
            _response_mti(pl.col("mti")).alias("_resp"),
            pl.col("proc"),
            pl.col("amount").alias("host_amount"),
            pl.col("currency").alias("host_currency"),
            pl.col("atc").alias("host_atc"),
            pl.col("inv").alias("host_inv"),
            pl.col("mid").alias("host_mid"),
            pl.col("card").alias("host_card"),
            pl.col("card_id").alias("host_card_id"),
            pl.col("exponent").alias("host_exponent"),
            # a request's own DE37 (jPOS reads it as rrn) or a named original: the approval it refers to
            pl.coalesce("orig_rrn", "rrn").alias("host_orig_rrn"),
            pl.col("entry").alias("host_entry"),
            pl.col("ts").alias("h_rx_ts"),
            pl.col("path").alias("host_path"),
            pl.col("line").alias("host_line"),
        )
        .sort("h_rx_ts")
    )
    responses = (
        host.filter(pl.col("kind") == "host.tx")
        .select(
            pl.col("tid"),
            pl.col("stan"),
            pl.col("mti").alias("_resp"),
            pl.col("rc").alias("host_rc"),
            pl.col("rrn").alias("host_rrn"),
            pl.col("auth").alias("host_auth"),
            pl.col("ts").alias("h_tx_ts"),
            pl.col("line").alias("host_resp_line"),
        )
        .sort("h_tx_ts")
    )
    if requests.is_empty():
        return requests.drop("_resp").with_columns(
            [
                pl.lit(None, dtype).alias(name)
                for name, dtype in responses.schema.items()
                if name not in ("tid", "stan", "_resp")
            ]
        )
    paired = requests.join_asof(
        responses,
        left_on="h_rx_ts",
        right_on="h_tx_ts",
        by=["tid", "stan", "_resp"],
        strategy="forward",
        tolerance="120s",
        check_sortedness=False,
    )
    return paired.drop("_resp")


# -- clocks -------------------------------------------------------------------------------


def mark(events: pl.DataFrame) -> pl.DataFrame:
    """Add clock ``segment`` and transaction ``attempt`` numbers to terminal rows.

    Expects the ingest order (each path's rows together, in line order); a file is one format.
    A START that repeats the line before it exactly (a log line written twice) opens no attempt.
    """
    terminal = TERMINAL
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    path = pl.col("path")
    opens = (path != path.shift(1)).fill_null(True)  # a row opening a run of one path's rows
    # each path's rows together (as ingest gives them): a path's previous row is the row before, and its
    # running sums are the whole frame's less the sum before its run (no group-by over the paths)
    together = events.select(path.filter(opens).is_unique().all()).item()

    def before(column: pl.Expr) -> pl.Expr:
        return pl.when(~opens).then(column.shift(1)) if together else column.shift(1).over("path")

    def running(count: pl.Expr) -> pl.Expr:
        if not together:
            return count.cum_sum().over("path")
        total = count.fill_null(0).cum_sum()  # a null count (no kind) adds nothing and stays null, as cum_sum does
        return pl.when(count.is_not_null()).then(total - pl.when(opens).then(total - count.fill_null(0)).forward_fill())

    # each START's row and the row before it in its file: only these lines' texts are compared
    pairs = (
        events.lazy()
        .select(row.alias("_row"), "path", "kind")
        .select("_row", before(pl.col("_row")).alias("_before"), "kind")
        .filter(pl.col("kind") == "txn.start", pl.col("_before").is_not_null())
        .collect()
    )
    text = events["text"]
    repeated = pairs["_row"].filter(text.gather(pairs["_row"]) == text.gather(pairs["_before"]))
    starts = events.select(((pl.col("kind") == "txn.start") & ~row.is_in(repeated.implode())).alias("_start"))
    return (
        events.with_columns(starts)
        .with_columns(
            segment=pl.when(terminal).then(running(pl.col("kind").is_in(_SEGMENT_KINDS).cast(pl.Int32))),
            attempt=pl.when(terminal).then(running(pl.col("_start").cast(pl.Int32))),
        )
        .drop("_start")
    )


def clock_pairs(terminal: pl.DataFrame, host: pl.DataFrame, settlement: pl.DataFrame | None = None) -> pl.DataFrame:
    """Matched terminal/host messages: path, device, segment, ts (terminal), off (s), dir (tx|rx|settlement).

    Where no host message matches a clock segment, the clearing file stands in: an online item's
    ``capture_ts`` is the host's time of the request, so the terminal's request (same TID and STAN)
    pairs with it to the second.
    """
    out = []
    for kind, host_ts, mti in (
        ("iso.tx", "h_rx_ts", pl.col("mti")),
        ("iso.rx", "h_tx_ts", _response_mti(pl.col("mti"))),
    ):
        mine = terminal.filter(pl.col("kind") == kind, pl.col("mti").is_not_null(), pl.col("tid").is_not_null())
        theirs = (
            host.filter(pl.col(host_ts).is_not_null()).select("tid", "stan", mti.alias("mti"), host_ts).sort(host_ts)
        )
        if mine.is_empty() or theirs.is_empty():
            continue
        pairs = mine.sort("ts").join_asof(
            theirs,
            left_on="ts",
            right_on=host_ts,
            by=["tid", "stan", "mti"],
            strategy="nearest",
            tolerance=_PAIR_TOLERANCE,
            check_sortedness=False,
        )
        out.append(
            pairs.filter(pl.col(host_ts).is_not_null()).select(
                "path",
                "device",
                "segment",
                "ts",
                ((pl.col("ts") - pl.col(host_ts)).dt.total_microseconds() / 1e6).alias("off"),
                pl.lit(kind[4:]).alias("dir"),
            )
        )
    if settlement is not None and settlement.height:
        covered = pl.concat(out).select("path", "segment").unique() if out else None
        mine = terminal.filter(
            pl.col("kind") == "iso.tx", pl.col("mti").is_in(["0100", "0200"]), pl.col("tid").is_not_null()
        )
        if covered is not None:
            mine = mine.join(covered, on=["path", "segment"], how="anti")
        items = (
            settlement.filter(pl.col("ts").is_not_null())
            .select("tid", "stan", pl.col("ts").alias("_capture"))
            .sort("_capture")
        )
        if mine.height and items.height:
            pairs = mine.sort("ts").join_asof(
                items,
                left_on="ts",
                right_on="_capture",
                by=["tid", "stan"],
                strategy="nearest",
                tolerance=_PAIR_TOLERANCE,
                check_sortedness=False,
            )
            out.append(
                pairs.filter(pl.col("_capture").is_not_null()).select(
                    "path",
                    "device",
                    "segment",
                    "ts",
                    ((pl.col("ts") - pl.col("_capture")).dt.total_microseconds() / 1e6).alias("off"),
                    pl.lit("settlement").alias("dir"),
                )
            )
    if not out:
        return pl.DataFrame(
            schema={
                "path": pl.String,
                "device": pl.String,
                "segment": pl.Int32,
                "ts": UTC_US,
                "off": pl.Float64,
                "dir": pl.String,
            }
        )
    return pl.concat(out)


def estimate_clocks(terminal: pl.DataFrame, host: pl.DataFrame, settlement: pl.DataFrame | None = None) -> pl.DataFrame:
    """Skew per (path, segment): terminal time minus host time, in seconds (see ``clock_pairs``)."""
    base = terminal.group_by("path", "segment").agg(
        pl.col("device").first(),
        pl.col("line").min().alias("from_line"),
        pl.col("line").max().alias("to_line"),
        pl.coalesce(
            pl.col("value").filter(pl.col("kind") == "clock.step").first(),
            (pl.col("value") - pl.col("ts").dt.epoch("us") / 1e6).filter(pl.col("kind") == "clock.set").first(),
        ).alias("_step"),
        (pl.col("kind") == "clock.set").any().alias("_set"),
    )
    pairs = clock_pairs(terminal, host, settlement)
    if pairs.height:
        per_dir = pairs.group_by("path", "segment", "dir").agg(pl.col("off").median().alias("med"), pl.len().alias("n"))
        stats = pairs.group_by("path", "segment").agg(
            pl.col("off").quantile(0.9).alias("_hi"), pl.col("off").quantile(0.1).alias("_lo")
        )
        est = per_dir.group_by("path", "segment").agg(
            pl.col("med").mean().alias("_est"),
            pl.col("n").sum().alias("matches"),
            (pl.col("dir") == "settlement").all().alias("_by_settlement"),
        )
        base = base.join(est, on=["path", "segment"], how="left").join(stats, on=["path", "segment"], how="left")
    else:
        base = base.with_columns(
            pl.lit(None, pl.Float64).alias("_est"),
            pl.lit(0, pl.UInt32).alias("matches"),
            pl.lit(None, pl.Boolean).alias("_by_settlement"),
            pl.lit(None, pl.Float64).alias("_hi"),
            pl.lit(None, pl.Float64).alias("_lo"),
        )
    base = base.sort("path", "segment")
    # Inherit across segments: from the previous one plus a logged step, else from the next. When the next
    # segment opens with the clock set to an absolute time (after an RTC reset the clock restarts at its
    # default date, which no line says), the way back from it is exact and the way forward a guess.
    next_is_set = pl.col("_set").shift(-1).fill_null(False)
    inherited = pl.coalesce(
        pl.col("_est"), pl.when(next_is_set).then(_inherit_backward()), _inherit_forward(), _inherit_backward()
    ).over("path")
    return base.with_columns(
        skew_s=inherited.fill_null(0.0),
        spread_s=(pl.col("_hi") - pl.col("_lo")),
        matches=pl.col("matches").fill_null(0).cast(pl.Int64),
        source=pl.when(pl.col("_by_settlement"))
        .then(pl.lit("settlement items"))
        .when(pl.col("_est").is_not_null())
        .then(pl.lit("host pairs"))
        .when(inherited.is_not_null())
        .then(pl.lit("inherited"))
        .otherwise(pl.lit("none: no host messages matched")),
    ).select("path", "device", "segment", "from_line", "to_line", "skew_s", "spread_s", "matches", "source")


#: the requests of online authorisations, whose clearing capture time is the host's
_ONLINE_REQUESTS = ["0100", "0200", "1100", "1200"]
#: the ``source`` of a clocks row that gives a host log's zone (``host_zones``)
HOST_ZONE_SOURCE = "clearing capture times"
#: a host zone is inferred from at least this many online items, agreeing on it
_ZONE_ITEMS = 3
#: ... and from at least this share of the host log's requests the clearing file holds
_ZONE_SHARE = 0.6


def host_zones(events: pl.DataFrame, inputs: pl.DataFrame) -> pl.DataFrame:
    """The UTC offset of each host log read as UTC for want of a zone (none in the log, none given),
    from the clearing file: path, device, from_line, to_line, offset_s, spread_s, items.

    An item authorised online carries the host's time of the request as ``capture_ts``, with its
    zone (spec/terminal-logs.md section 4); paired with the host's online request (0100 or 0200, not an
    advice, whose item carries the terminal's capture time) of the same TID and STAN, the
    difference is the host log's offset from UTC plus the network's second. The offset is the
    quarter hour most pairs round to, kept when at least ``_ZONE_ITEMS`` pairs within
    ``_ONLINE_CAPTURE_S`` of it make ``_ZONE_SHARE`` of the pairs (offline items carry the terminal's
    clock and scatter) and it is not zero. An empty frame when no host log qualifies.
    """
    schema = {
        "path": pl.String,
        "device": pl.String,
        "from_line": pl.Int64,
        "to_line": pl.Int64,
        "offset_s": pl.Float64,
        "spread_s": pl.Float64,
        "items": pl.Int64,
    }
    assumed = inputs.filter(pl.col("tz_assumed").fill_null(False))["path"]  # host logs among them: by their events
    if assumed.is_empty():
        return pl.DataFrame(schema=schema)
    keyed = (pl.col("tid").is_not_null(), pl.col("stan").is_not_null(), pl.col("ts").is_not_null())
    requests = (
        events.lazy()
        .filter(
            pl.col("path").is_in(assumed.implode()),
            pl.col("kind") == "host.rx",
            pl.col("mti").is_in(_ONLINE_REQUESTS),  # an advice (0220) clears at the terminal's capture time
            *keyed,
        )
        .select("path", "device", "line", "tid", "stan", pl.col("ts").alias("_host_ts"))
        .collect()
    )
    items = (
        events.lazy()
        .filter(pl.col("kind") == "settle.item", *keyed)
        .select("tid", "stan", pl.col("ts").alias("_capture"))
        .collect()
    )
    if requests.is_empty() or items.is_empty():
        return pl.DataFrame(schema=schema)
    pairs = (
        requests.sort("_host_ts")
        .join_asof(
            items.sort("_capture"),
            left_on="_host_ts",
            right_on="_capture",
            by=["tid", "stan"],
            strategy="nearest",
            tolerance=_PAIR_TOLERANCE,
            check_sortedness=False,
        )
        .filter(pl.col("_capture").is_not_null())
        .with_columns(off=(pl.col("_host_ts") - pl.col("_capture")).dt.total_microseconds() / 1e6)
        .with_columns(quarter=(pl.col("off") / 900).round() * 900)
        .with_columns(online=(pl.col("off") - pl.col("quarter")).abs() <= _ONLINE_CAPTURE_S)
    )
    lines = requests.group_by("path").agg(
        pl.col("device").first(), pl.col("line").min().alias("from_line"), pl.col("line").max().alias("to_line")
    )
    votes = (
        pairs.filter(pl.col("online"))
        .group_by("path", "quarter")
        .agg(pl.len().alias("items"), (pl.col("off") - pl.col("quarter")).abs().max().alias("spread_s"))
        .join(pairs.group_by("path").agg(pl.len().alias("_pairs")), on="path")
        .sort("items", descending=True)
        .group_by("path", maintain_order=True)
        .first()
        .filter(
            pl.col("quarter") != 0,
            pl.col("quarter").abs() <= 14 * 3600,
            pl.col("items") >= _ZONE_ITEMS,
            pl.col("items") >= pl.col("_pairs") * _ZONE_SHARE,
        )
    )
    return (
        votes.join(lines, on="path")
        .select(
            "path",
            "device",
            "from_line",
            "to_line",
            pl.col("quarter").alias("offset_s"),
            "spread_s",
            pl.col("items").cast(pl.Int64),
        )
        .cast(schema)
    )


def _host_zone_clocks(zones: pl.DataFrame) -> pl.DataFrame:
    """The clocks table's rows of the host logs whose zone the clearing file gave (``host_zones``)."""
    return zones.select(
        "path",
        "device",
        pl.lit(None, pl.Int32).alias("segment"),
        "from_line",
        "to_line",
        pl.col("offset_s").alias("skew_s"),
        "spread_s",
        pl.col("items").alias("matches"),
        pl.Series(
            "source",
            [f"{HOST_ZONE_SOURCE} (no zone in the host log): UTC{utc_offset(o)}" for o in zones["offset_s"]],
            dtype=pl.String,
        ),
    )


def utc_offset(seconds: float) -> str:
    """``+05:30``, ``-04:00``: an offset from UTC in seconds, as ISO 8601 writes it."""
    minutes = round(abs(seconds) / 60)
    return f"{'-' if seconds < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def _in_host_zone(events: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
    """Events of the host logs in ``zones`` moved to UTC by their offset (``ts`` minus the offset)."""
    if zones.is_empty():
        return events
    shift = events.select("path").join(zones.select("path", "offset_s"), on="path", how="left", maintain_order="left")
    offset = pl.duration(microseconds=(shift["offset_s"].fill_null(0.0) * 1e6).round().cast(pl.Int64))
    return events.with_columns(ts=(pl.col("ts") - offset).cast(events.schema["ts"]))


def _inherit_forward() -> pl.Expr:
    """The last estimated skew, plus the clock steps logged since that segment."""
    steps = pl.col("_step").fill_null(0.0).cum_sum()
    anchor = pl.when(pl.col("_est").is_not_null()).then(steps).forward_fill()
    return pl.col("_est").forward_fill() + (steps - anchor)


def _inherit_backward() -> pl.Expr:
    """The next estimated skew, minus the clock steps logged up to that segment."""
    steps = pl.col("_step").fill_null(0.0).cum_sum()
    anchor = pl.when(pl.col("_est").is_not_null()).then(steps).backward_fill()
    return pl.col("_est").backward_fill() - (anchor - steps)


def apply_clocks(events: pl.DataFrame, clocks: pl.DataFrame) -> pl.DataFrame:
    """``ts_utc``: terminal events corrected by their segment's skew; others as logged."""
    skew = events.select("path", "segment").join(
        clocks.select("path", "segment", "skew_s"), on=["path", "segment"], how="left", maintain_order="left"
    )["skew_s"]
    correction = pl.duration(microseconds=(pl.col("skew_s").fill_null(0.0) * 1e6).round().cast(pl.Int64))
    events = events.with_columns(skew_s=skew.fill_null(0.0)).with_columns(
        ts_utc=(pl.col("ts") - correction).cast(UTC_US)
    )
    # Lines without a time (logcat dividers, brief format) take the next stamped line's time,
    # else the previous one's, so that they keep their place in time windows.
    return events.with_columns(
        ts_inferred=pl.col("ts_utc").is_null(),
        ts_utc=pl.coalesce(
            pl.col("ts_utc"),
            pl.col("ts_utc").backward_fill().over("path"),
            pl.col("ts_utc").forward_fill().over("path"),
        ),
    )


def place_settlement(events: pl.DataFrame) -> pl.DataFrame:
    """Cleared items (``settle.item``) placed in time at or after the request they clear.

    ``capture_ts`` is the host's time for items authorised online and the terminal's own clock for
    offline items uploaded as advices (spec/terminal-logs.md section 4). An item is matched to the
    nearest request of its TID and STAN, the terminal's (``iso.tx``) else the host's (``host.rx``);
    when its capture time is nearer the terminal's uncorrected time than the corrected one, it was
    the terminal's clock and is corrected by the same skew (``skew_s``). A capture before its
    request (the file's whole seconds, the spread of a skew estimate) is placed at the request.
    ``ts`` stays as logged.
    """
    items = pl.col("kind") == "settle.item"
    if not events.select(items.any()).item():
        return events
    keyed = (pl.col("tid").is_not_null(), pl.col("stan").is_not_null(), pl.col("ts_utc").is_not_null())
    terminal = (
        events.lazy()
        .filter(TERMINAL, pl.col("kind") == "iso.tx", pl.col("mti").is_in(["0100", "0200", "0220"]), *keyed)
        .select(
            "tid",
            "stan",
            pl.col("ts").alias("_t_ts"),
            pl.col("ts_utc").alias("_t_utc"),
            pl.col("skew_s").alias("_t_skew"),
        )
        .collect()
    )
    host = (
        events.lazy()
        .filter(pl.col("role") == "host", pl.col("kind") == "host.rx", *keyed)
        .select("tid", "stan", pl.col("ts_utc").alias("_h_utc"))
        .collect()
    )
    placed = (
        events.lazy()
        .with_row_index("_placed_row")
        .filter(items, pl.col("ts").is_not_null())
        .select("_placed_row", "tid", "stan", "ts")
        .collect()
    )
    for requests, at in ((terminal, "_t_ts"), (host, "_h_utc")):
        placed = placed.sort("ts").join_asof(
            requests.sort(at),
            left_on="ts",
            right_on=at,
            by=["tid", "stan"],
            strategy="nearest",
            tolerance=_PAIR_TOLERANCE,
            check_sortedness=False,
        )
    terminal_clock = ((pl.col("ts") - pl.col("_t_ts")).abs() < (pl.col("ts") - pl.col("_t_utc")).abs()).fill_null(False)
    correction = pl.duration(microseconds=(pl.col("_t_skew") * 1e6).round().cast(pl.Int64))
    at = pl.when(terminal_clock).then(pl.col("ts") - correction).otherwise(pl.col("ts")).cast(UTC_US)
    placed = placed.filter(pl.col("_t_utc").is_not_null() | pl.col("_h_utc").is_not_null()).select(
        "_placed_row",
        pl.max_horizontal(at, "_t_utc", "_h_utc").alias("_placed"),
        pl.when(terminal_clock).then(pl.col("_t_skew")).otherwise(0.0).alias("_skew"),
    )
    return _placed(events, placed)


def _placed(events: pl.DataFrame, placed: pl.DataFrame) -> pl.DataFrame:
    """``events`` with ``ts_utc`` and ``skew_s`` of the rows ``placed`` names (``_placed_row``, at most once each)
    replaced by its ``_placed`` and ``_skew`` where these are set."""
    found = (
        events.select(pl.int_range(pl.len(), dtype=placed.schema["_placed_row"]).alias("_placed_row"))
        .join(placed, on="_placed_row", how="left", maintain_order="left")
        .select("_placed", "_skew")
    )  # only the two new columns are joined: joining the events would copy every column of them
    return events.with_columns(
        ts_utc=pl.coalesce(found["_placed"], pl.col("ts_utc")), skew_s=pl.coalesce(found["_skew"], pl.col("skew_s"))
    )


#: a cleared item captured within this many seconds of its request's receipt at the host was authorised online
_ONLINE_CAPTURE_S = 120


def settle_after_requests(events: pl.DataFrame, txns: pl.DataFrame) -> pl.DataFrame:
    """Cleared items placed at or after the transaction they clear (the one of their STAN listing them in
    ``settle_lines``), once transactions are built: an offline item's ``capture_ts`` on the terminal's clock
    is corrected by the skew of its sale's own lines, and a capture still before its request (whole seconds,
    a skew estimate's spread) is placed at the request (``ts_tx``, else ``ts_start``), and an online item not
    before the host received it (``h_rx_ts``). See ``place_settlement``.
    """
    if "settle_lines" not in txns.columns or not events.select((pl.col("kind") == "settle.item").any()).item():
        return events
    request = pl.col("kind") == "iso.tx"
    anchors = (
        events.lazy()
        .filter(pl.col("txn").is_not_null(), pl.col("kind").is_in(["iso.tx", "txn.start"]))
        .select("txn", "kind", "ts", "ts_utc", "skew_s")
        .collect()
        .sort(~request, "ts_utc")
        .group_by("txn")
        .agg(pl.col("ts").first().alias("_a_ts"), pl.col("ts_utc").first().alias("_a_utc"), pl.col("skew_s").first())
    )
    clears = (
        txns.filter(pl.col("settle_lines").is_not_null())
        .select(
            "txn",
            pl.col("stan").alias("_stan"),
            pl.coalesce("ts_tx", "ts_start").alias("_req"),
            pl.col("h_rx_ts").alias("_host"),
            "settle_lines",
        )
        .explode("settle_lines")
        .join(anchors, on="txn", how="left")
    )
    items = (
        events.lazy()
        .with_row_index("_placed_row")
        .filter(pl.col("kind") == "settle.item", pl.col("ts").is_not_null())
        .select(
            "_placed_row",
            "stan",
            "ts",
            "ts_utc",
            (pl.col("path") + ":" + pl.col("line").cast(pl.String)).alias("settle_lines"),
        )
        .collect()
        .join(clears, on="settle_lines")
        .filter(pl.col("stan") == pl.col("_stan"), pl.col("_req").is_not_null())
    )
    if items.is_empty():
        return events
    terminal_clock = ((pl.col("ts") - pl.col("_a_ts")).abs() < (pl.col("ts") - pl.col("_a_utc")).abs()).fill_null(False)
    correction = pl.duration(microseconds=(pl.col("skew_s").fill_null(0.0) * 1e6).round().cast(pl.Int64))
    at = pl.when(terminal_clock).then(pl.col("ts") - correction).otherwise(pl.col("ts_utc")).cast(UTC_US)
    # an item authorised online was captured when the host received it (an advice's receipt, days later, is not)
    online = ((pl.col("_host") - at).dt.total_seconds().abs() <= _ONLINE_CAPTURE_S).fill_null(False)
    host = pl.when(online).then(pl.col("_host"))
    placed = items.group_by("_placed_row").agg(
        pl.max_horizontal(at, "_req", host).max().alias("_placed"),
        pl.when(terminal_clock).then(pl.col("skew_s")).max().alias("_skew"),
    )
    return _placed(events, placed)


# -- transactions -----------------------------------------------------------------------


def _first(expr: pl.Expr, cond: pl.Expr) -> pl.Expr:
    return expr.filter(cond).first()


_WINDOW_COLUMNS = (
    "path",
    "attempt",
    "line",
    "kind",
    "ts_utc",
    "device",
    "txn_type",
    "amount",
    "tip",
    "currency",
    "exponent",
    "source",
    "operator",
    "inv",
    "orig_inv",
    "orig_rrn",
    "entry",
    "card",
    "card_id",
    "atc",
    "stan",
    "mti",
    "proc",
    "tid",
    "mid",
    "rc",
    "status",
    "auth",
    "rrn",
    "reason",
    "code",
)
_KEYS = ["path", "attempt"]


def _first_of(w: pl.DataFrame, cond: pl.Expr, columns: dict[str, str], last: bool = False) -> pl.DataFrame:
    """Per attempt, the first (or last) window row meeting ``cond``: {source column: new name}."""
    rows = w.lazy().filter(cond).select(*_KEYS, *[pl.col(c).alias(n) for c, n in columns.items()])
    return rows.unique(_KEYS, keep="last" if last else "first", maintain_order=True).collect()


def attempts(events: pl.DataFrame) -> pl.DataFrame:
    """One row per START, with what its window of events (until the next START) shows.

    ``events`` are marked (``mark``) and clock-corrected. The request is the last 0100/0200/0220
    sent before the outcome (pending reversals and queued advices go out first); its response
    is the RX with the same STAN.
    """
    k = pl.col("kind")
    w = events.lazy().filter(pl.col("attempt") > 0).select(_WINDOW_COLUMNS).collect()
    starts = (
        w.filter(k == "txn.start")
        .unique(_KEYS, keep="first", maintain_order=True)  # a START logged twice is one START
        .select(
            *_KEYS,
            "device",
            pl.col("ts_utc").alias("ts_start"),
            pl.col("line").alias("line_start"),
            "txn_type",
            pl.col("amount").alias("amount_entered"),
            "tip",
            "currency",
            "exponent",
            "source",
            "operator",
            "inv",
            "orig_inv",
            "orig_rrn",
        )
        .with_columns(txn=pl.col("device") + ":" + pl.col("line_start").cast(pl.String))
    )
    outcome = (
        w.filter(k.is_in(["txn.result", "txn.timeout", "app.crash", "power.boot", "log.divider"]))
        .group_by(_KEYS)
        .agg(pl.col("line").min().alias("_limit"))
    )
    request = (
        w.filter(k == "iso.tx", pl.col("mti").is_in(["0100", "0200", "0220"]))
        .join(outcome, on=_KEYS, how="left")
        .filter((pl.col("line") < pl.col("_limit")) | pl.col("_limit").is_null())
    )
    tx = _first_of(
        request,
        pl.lit(True),
        {
            "stan": "stan_tx",
            "mti": "mti",
            "proc": "proc",
            "amount": "amount_sent",
            "tid": "tid_tx",
            "mid": "mid_tx",
            "ts_utc": "ts_tx",
            "line": "line_tx",
        },
        last=True,
    )
    after = (
        w.filter(k.is_in(["iso.rx", "app.crash", "power.boot", "log.divider"]))
        .join(tx.select(*_KEYS, "stan_tx", "line_tx"), on=_KEYS, how="left")
        .join(outcome, on=_KEYS, how="left")
    )
    past_tx = pl.col("line") > pl.col("line_tx")
    # a crash or boot is "in flight" when it is the request's first outcome (before any result)
    in_flight = past_tx & (pl.col("line") <= pl.col("_limit"))
    rx = _first_of(
        after,
        (k == "iso.rx") & (pl.col("mti") != "0410") & (pl.col("stan") == pl.col("stan_tx")) & past_tx,
        {"rc": "rc_rx", "ts_utc": "ts_rx"},
    )
    parts = [
        _first_of(
            w,
            k == "txn.card",
            {"entry": "entry", "card": "card", "card_id": "card_id", "atc": "atc", "line": "line_card"},
        ),
        tx,
        rx,
        _first_of(
            w,
            k == "txn.result",
            {
                "status": "merchant_status",
                "stan": "stan_result",
                "rc": "rc_result",
                "auth": "auth_result",
                "rrn": "rrn_result",
                "ts_utc": "ts_result",
                "line": "line_result",
            },
        ),
        _first_of(w, k == "txn.timeout", {"line": "line_timeout"}),
        _first_of(after, (k == "app.crash") & in_flight, {"line": "line_crash"}),
        _first_of(after, k.is_in(["power.boot", "log.divider"]) & in_flight, {"line": "line_boot"}),
        _first_of(w, (k == "power.battery") & (pl.col("code") <= 5), {"line": "line_battery_low"}),
        _first_of(
            w, k == "power.recover", {"status": "recover_state", "reason": "recover_action", "line": "line_recover"}
        ),
        _first_of(
            w,
            (k == "printer.status") & (pl.col("code") != 0),
            {"code": "printer_code", "line": "line_printer", "ts_utc": "ts_printer"},
        ),
        _first_of(w, (k == "ui.menu") & (pl.col("status") == "Clear Reversal"), {"line": "line_clear_menu"}),
        _first_of(w, k.is_in(["iso.tx", "iso.rx"]), {"tid": "_tid_any"}),
    ]
    out = starts
    for part in parts:
        out = out.join(part, on=_KEYS, how="left", maintain_order="left")
    return out


def _key_facts(terminal: pl.DataFrame) -> dict[str, pl.DataFrame]:
    k = pl.col("kind")
    reversal = (
        terminal.filter(k.is_in(["reversal.saved", "reversal.send", "reversal.deleted"]))
        .group_by("path", "stan")
        .agg(
            (k == "reversal.saved").any().alias("reversal_saved"),
            (k == "reversal.send").sum().alias("reversal_sends"),
            _first(pl.col("reason"), k == "reversal.deleted").alias("reversal_deleted"),
            _first(pl.col("line"), k == "reversal.deleted").alias("line_reversal_deleted"),
            _first(pl.col("ts_utc"), k == "reversal.deleted").alias("ts_reversal_deleted"),
        )
    )
    reversal_rx = (
        terminal.filter(k == "iso.rx", pl.col("mti").is_in(["0410", "0430"]))
        .group_by("path", "stan")
        .agg(pl.col("rc").last().alias("reversal_rc"), pl.col("line").last().alias("line_reversal_rx"))
    )
    reversal = reversal.join(reversal_rx, on=["path", "stan"], how="full", coalesce=True)
    saf = (
        terminal.filter(k == "saf.upload")
        .group_by("path", "stan")
        .agg(
            pl.col("rrn").first().alias("rrn_upload"),
            pl.col("ts_utc").first().alias("ts_upload"),
            pl.col("line").first().alias("line_upload"),
        )
    )
    prints = (
        terminal.filter(k == "printer.print", pl.col("inv").is_not_null())
        .group_by("path", "inv")
        .agg(pl.len().alias("receipts"), pl.col("line").first().alias("line_receipt"))
    )
    keyed = terminal.filter(k == "ui.key").select("path", "line", pl.col("amount").alias("amount_keyed"))
    batches = terminal.filter(k == "batch.result", pl.col("rc") == "00").select(
        "path",
        pl.col("line").alias("line_batch"),
        pl.col("batch").alias("batch_closed"),
        pl.col("ts_utc").alias("ts_batch_closed"),
    )
    return {"reversal": reversal, "saf": saf, "prints": prints, "keyed": keyed, "batches": batches}


def transactions(
    events: pl.DataFrame, host: pl.DataFrame, settlement: pl.DataFrame, given: tuple[bool, bool] | None = None
) -> pl.DataFrame:
    """The transactions table (see the module docstring).

    ``given``: (a host log was given, a clearing file was given) when the inputs are wider than
    ``events`` (one group of a fleet: another group's host rows are none of this one's); None: whether
    ``host`` and ``settlement`` hold rows.
    """
    terminal = (
        events.lazy()
        .filter(TERMINAL)
        .select(
            "path",
            "line",
            "kind",
            "ts_utc",
            "stan",
            "reason",
            "rrn",
            "inv",
            "amount",
            "batch",
            "rc",
            "tid",
            "mid",
            "mti",
            "attempt",
            "app_version",
        )
        .collect()
    )
    txns = attempts(events)
    facts = _key_facts(terminal)
    txns = txns.with_columns(stan=pl.coalesce("stan_tx", "stan_result"))
    txns = _queued(txns, terminal)
    app = (
        terminal.filter(pl.col("app_version").is_not_null())
        .select("path", pl.col("line").alias("_app_line"), "app_version")
        .sort("_app_line")
    )
    txns = (
        txns.sort("line_start")
        .join_asof(
            app, left_on="line_start", right_on="_app_line", by="path", strategy="backward", check_sortedness=False
        )
        .drop("_app_line")
    )
    tid_by_path = (
        terminal.filter(pl.col("tid").is_not_null()).group_by("path").agg(pl.col("tid").last().alias("_tid_path"))
    )
    mid_by_path = (
        terminal.filter(pl.col("mid").is_not_null()).group_by("path").agg(pl.col("mid").last().alias("_mid_path"))
    )
    txns = (
        txns.join(tid_by_path, on="path", how="left")
        .join(mid_by_path, on="path", how="left")
        .with_columns(tid=pl.coalesce("tid_tx", "_tid_any", "_tid_path"), mid=pl.coalesce("mid_tx", "_mid_path"))
    )
    txns = txns.join(facts["reversal"], on=["path", "stan"], how="left")
    txns = txns.join(facts["saf"], on=["path", "stan"], how="left")
    txns = txns.join(facts["prints"], on=["path", "inv"], how="left")
    txns = txns.sort("line_start").join_asof(
        facts["keyed"].sort("line"),
        left_on="line_start",
        right_on="line",
        by="path",
        strategy="backward",
        tolerance=5,
        check_sortedness=False,
    )
    txns = txns.join_asof(
        facts["batches"].sort("line_batch"),
        left_on="line_start",
        right_on="line_batch",
        by="path",
        strategy="forward",
        check_sortedness=False,
    )
    host_log, settlement_file = given if given is not None else (not host.is_empty(), not settlement.is_empty())
    txns = _join_host(txns, host, host_log).with_columns(rebuilt_from=pl.lit("terminal"))
    txns = pl.concat([txns, _host_only(txns, host)], how="diagonal_relaxed")
    txns = _join_settlement(txns, settlement, settlement_file)
    txns = pl.concat([txns, _cleared_only(txns, settlement, host_log)], how="diagonal_relaxed")
    inits = terminal.filter(pl.col("kind") == "tms.init").select("path", "line")
    txns = _link_follow_ups(_lifetimes(txns, inits))
    return _outcomes(txns).sort("ts_start", "device", "line_start")


def _queued(txns: pl.DataFrame, terminal: pl.DataFrame) -> pl.DataFrame:
    """Offline items: the attempt's own store-and-forward entry, and entries that queue it again.

    An entry with the attempt's STAN is its offline approval (``line_saf_queued``). An entry with the
    attempt's invoice under a new STAN, after the attempt's request was approved, sends the same item
    to the host a second time: it becomes a transaction of its own with ``resend_of`` naming the first.
    """
    queued = terminal.filter(pl.col("kind") == "saf.queued", pl.col("stan").is_not_null()).select(
        "path", "attempt", "stan", "inv", pl.col("line").alias("_q_line"), pl.col("ts_utc").alias("_q_ts")
    )
    own = queued.unique(["path", "attempt", "stan"], keep="first").select(
        "path", "attempt", "stan", pl.col("_q_line").alias("line_saf_queued")
    )
    txns = txns.join(own, on=["path", "attempt", "stan"], how="left").with_columns(resend_of=pl.lit(None, pl.String))
    again = (
        txns.filter(pl.col("merchant_status") == "APPROVED", pl.col("line_saf_queued").is_null())
        .join(queued, on=["path", "attempt", "inv"], how="inner", suffix="_q")
        .filter(pl.col("stan_q") != pl.col("stan"), pl.col("_q_line") > pl.coalesce("line_result", "line_tx"))
    )
    if again.is_empty():
        return txns
    sent = terminal.filter(pl.col("kind") == "iso.tx", pl.col("mti") == "0220").select(
        "path", pl.col("stan").alias("stan_q"), pl.col("line").alias("_tx_line"), pl.col("ts_utc").alias("_tx_ts")
    )
    again = (
        again.join(sent, on=["path", "stan_q"], how="left")
        .filter(pl.col("_tx_line").is_null() | (pl.col("_tx_line") > pl.col("_q_line")))
        .unique("_q_line", keep="first")
    )
    nulls = [
        "rrn_result",
        "auth_result",
        "rc_result",
        "line_result",
        "ts_result",
        "line_timeout",
        "line_crash",
        "line_boot",
        "line_printer",
        "printer_code",
        "ts_printer",
        "rc_rx",
        "ts_rx",
    ]
    clones = again.with_columns(
        *[pl.lit(None, txns.schema[c]).alias(c) for c in nulls if c in txns.columns],
        resend_of=pl.col("txn"),
        stan=pl.col("stan_q"),
        stan_tx=pl.col("stan_q"),
        mti=pl.lit("0220"),
        line_saf_queued=pl.col("_q_line"),
        line_start=pl.col("_q_line"),
        ts_start=pl.col("_q_ts"),
        line_tx=pl.col("_tx_line"),
        ts_tx=pl.col("_tx_ts"),
        attempt=pl.lit(None, txns.schema["attempt"]),
        txn=pl.col("device") + ":" + pl.col("_q_line").cast(pl.String),
    ).select(txns.columns)
    return pl.concat([txns, clones], how="vertical_relaxed")


#: The host's columns a transaction carries (``_join_host``; ``_host_only`` takes them as they are)
_HOST_COLUMNS = (
    "host_rc",
    "host_rrn",
    "host_auth",
    "host_amount",
    "host_currency",
    "host_atc",
    "host_mid",
    "h_rx_ts",
    "host_path",
    "host_line",
    "host_resp_line",
    "host_reversal_rc",
    "host_reversal_line",
)


def _join_host(txns: pl.DataFrame, host: pl.DataFrame, host_log: bool) -> pl.DataFrame:
    """The host's request, answer and reversal of each transaction; ``host_log``: a host log was given
    (when it holds no request for these TIDs, its silence is not coverage: ``host_covers`` stays False)."""
    if host.is_empty():
        return txns.with_columns(
            [pl.lit(None).alias(c) for c in _HOST_COLUMNS], host_log=pl.lit(host_log), host_covers=pl.lit(False)
        )
    expected_mti = pl.coalesce("mti", pl.when(pl.col("line_saf_queued").is_not_null()).then(pl.lit("0220")))
    left = txns.with_columns(_mti=expected_mti, _t=pl.coalesce("ts_tx", "ts_start")).sort("_t")
    requests = (
        host.filter(pl.col("mti") != "0400")
        .select(
            "tid",
            "stan",
            pl.col("mti").alias("_mti"),
            "h_rx_ts",
            "host_rc",
            "host_rrn",
            "host_auth",
            "host_amount",
            "host_currency",
            "host_atc",
            "host_mid",
            "host_path",
            "host_line",
            "host_resp_line",
        )
        .sort("h_rx_ts")
    )
    # Offline advices reach the host long after capture: match them on keys alone.
    online = left.filter(pl.col("line_saf_queued").is_null()).join_asof(
        requests,
        left_on="_t",
        right_on="h_rx_ts",
        by=["tid", "stan", "_mti"],
        strategy="nearest",
        tolerance=f"{_MATCH_WINDOW_S}s",
        check_sortedness=False,
    )
    offline = left.filter(pl.col("line_saf_queued").is_not_null()).join(
        requests.unique(["tid", "stan", "_mti"], keep="first"), on=["tid", "stan", "_mti"], how="left"
    )
    joined = pl.concat([online, offline], how="diagonal_relaxed")
    # The host's reversal of this request: the first 0400 for its TID and STAN after the request.
    reversals = (
        host.filter(pl.col("mti") == "0400")
        .select(
            "tid",
            "stan",
            pl.col("h_rx_ts").alias("_rev_ts"),
            pl.col("host_rc").alias("host_reversal_rc"),
            pl.col("host_line").alias("host_reversal_line"),
        )
        .sort("_rev_ts")
    )
    joined = (
        joined.with_columns(_after=pl.coalesce("h_rx_ts", "_t"))
        .sort("_after")
        .join_asof(
            reversals,
            left_on="_after",
            right_on="_rev_ts",
            by=["tid", "stan"],
            strategy="forward",
            tolerance=_PAIR_TOLERANCE,
            check_sortedness=False,
        )
    )
    # Whether the host log holds this TID's traffic around this time: only then does its silence mean
    # that the request never reached the host.
    span = (
        host.filter(pl.col("tid").is_not_null())
        .group_by("tid")
        .agg(pl.col("h_rx_ts").min().alias("_host_from"), pl.col("h_rx_ts").max().alias("_host_to"))
    )
    margin = pl.duration(seconds=_MATCH_WINDOW_S)
    joined = joined.join(span, on="tid", how="left").with_columns(
        host_covers=(
            (pl.col("_t") >= pl.col("_host_from") - margin) & (pl.col("_t") <= pl.col("_host_to") + margin)
        ).fill_null(False)
    )
    return joined.drop("_mti", "_t", "_after", "_rev_ts", "_host_from", "_host_to").with_columns(host_log=pl.lit(True))


#: (MTI, first two digits of DE3) of a host request -> the transaction type it is
_HOST_TYPES = {
    ("0100", "00"): "PREAUTH",
    ("0100", "30"): "PREAUTH",
    ("0200", "00"): "SALE",
    ("0200", "01"): "SALE",
    ("0200", "09"): "SALE",
    ("0200", "20"): "REFUND",
    ("0200", "02"): "VOID",
    ("0200", "22"): "VOID",
    ("0220", "00"): "SALE",
    ("0220", "02"): "TIP_ADJUST",
    ("0220", "20"): "REFUND",
    # ISO 8583:1993 (domain.md 1.1: some hosts speak it)
    ("1100", "00"): "PREAUTH",
    ("1100", "30"): "PREAUTH",
    ("1200", "00"): "SALE",
    ("1200", "01"): "SALE",
    ("1200", "09"): "SALE",
    ("1200", "20"): "REFUND",
    ("1200", "02"): "VOID",
    ("1200", "22"): "VOID",
    ("1220", "00"): "SALE",
    ("1220", "02"): "TIP_ADJUST",
    ("1220", "20"): "REFUND",
}
#: first two digits of a cleared item's DE3 -> the transaction type it is
_CLEARED_TYPES = {"00": "SALE", "01": "SALE", "09": "SALE", "20": "REFUND"}


def _terminal_span(txns: pl.DataFrame) -> pl.DataFrame:
    """Per TID, the time the terminal logs given cover (with the matching margin either side)."""
    margin = pl.duration(seconds=_MATCH_WINDOW_S)
    return (
        txns.filter(pl.col("tid").is_not_null(), pl.col("ts_start").is_not_null())
        .group_by("tid")
        .agg(
            (pl.col("ts_start").min() - margin).alias("_term_from"),
            (pl.coalesce("ts_result", "ts_start").max() + margin).alias("_term_to"),
        )
    )


def _uncovered(rows: pl.DataFrame, txns: pl.DataFrame, ts: str) -> pl.DataFrame:
    """The ``rows`` whose TID no terminal log given covers at their time ``ts``."""
    covered = (pl.col(ts) >= pl.col("_term_from")) & (pl.col(ts) <= pl.col("_term_to"))
    return (
        rows.join(_terminal_span(txns), on="tid", how="left")
        .filter(~covered.fill_null(False))
        .drop("_term_from", "_term_to")
    )


def _host_only(txns: pl.DataFrame, host: pl.DataFrame) -> pl.DataFrame:
    """Transactions the host log alone shows: its financial requests that no terminal transaction matched, of
    TIDs no terminal log covers at that time (the acquirer's view: a host log with no terminal log), and, where
    a terminal log covers them, those that repeat a request the host already answered for a terminal
    transaction (same TID, STAN, MTI and amount within the matching window): the host applied one message
    twice. Such a repeat names that transaction in ``resend_of`` and its device."""
    if host.is_empty():
        return txns.clear()
    matched = txns.filter(pl.col("host_line").is_not_null()).select("host_path", "host_line").unique()
    types = pl.DataFrame(
        [(mti, p2, t) for (mti, p2), t in _HOST_TYPES.items()], schema=["mti", "_p2", "txn_type"], orient="row"
    )
    rows = (
        host.filter(pl.col("tid").is_not_null(), pl.col("stan").is_not_null())
        .join(matched, on=["host_path", "host_line"], how="anti")
        .with_columns(_p2=pl.col("proc").str.slice(0, 2))
        .join(types, on=["mti", "_p2"], how="inner")
        .drop("_p2")
        # an advice that names an earlier approval (DE37) completes it: a pre-authorisation's completion
        .with_columns(
            txn_type=pl.when(
                pl.col("mti").is_in(["0220", "1220"])
                & (pl.col("txn_type") == "SALE")
                & pl.col("host_orig_rrn").is_not_null()
            )
            .then(pl.lit("PREAUTH_COMPLETE"))
            .otherwise(pl.col("txn_type"))
        )
    )
    window = pl.duration(seconds=_MATCH_WINDOW_S)
    outside = _uncovered(rows, txns, "h_rx_ts").with_columns(
        resend_of=pl.lit(None, pl.String), _device=pl.lit("tid:") + pl.col("tid")
    )
    answered = txns.filter(pl.col("host_line").is_not_null(), pl.col("host_rc").is_in(_APPROVING)).select(
        "tid",
        "stan",
        pl.col("mti").alias("_m"),
        pl.col("host_amount").alias("_a"),
        pl.col("h_rx_ts").alias("_first_ts"),
        pl.col("txn").alias("resend_of"),
        pl.col("device").alias("_device"),
    )
    repeats = (
        rows.join(outside.select("host_path", "host_line"), on=["host_path", "host_line"], how="anti")
        .join(answered, on=["tid", "stan"], how="inner")
        .filter(
            (pl.col("mti") == pl.col("_m")) | pl.col("_m").is_null(),
            pl.col("host_amount") == pl.col("_a"),
            pl.col("h_rx_ts") > pl.col("_first_ts"),
            pl.col("h_rx_ts") <= pl.col("_first_ts") + window,
            pl.col("host_rc").is_in(_APPROVING),
        )
        .unique(["host_path", "host_line"], keep="first")
        .drop("_m", "_a", "_first_ts")
    )
    # with no terminal log either: a later approval of the same request repeats the first
    first = (
        outside.filter(pl.col("host_rc").is_in(_APPROVING))
        .sort("h_rx_ts")
        .select(
            "tid",
            "stan",
            "mti",
            "host_amount",
            pl.col("h_rx_ts").alias("_first_ts"),
            (pl.lit("host:") + pl.col("host_path") + ":" + pl.col("host_line").cast(pl.String)).alias("_first"),
        )
    )
    again = (
        outside.join(first, on=["tid", "stan", "mti", "host_amount"], how="inner")
        .filter(pl.col("_first_ts") < pl.col("h_rx_ts"), pl.col("h_rx_ts") <= pl.col("_first_ts") + window)
        .sort("_first_ts")
        .unique(["host_path", "host_line"], keep="first")
        .select("host_path", "host_line", pl.col("_first").alias("_again_of"))
    )
    outside = (
        outside.join(again, on=["host_path", "host_line"], how="left")
        .with_columns(resend_of=pl.col("_again_of"))
        .drop("_again_of")
    )
    rows = pl.concat([outside, repeats], how="diagonal_relaxed")
    if rows.is_empty():
        return txns.clear()
    reversals = (
        host.filter(pl.col("mti").is_in(["0400", "0420", "1420"]))
        .select(
            "tid",
            "stan",
            pl.col("h_rx_ts").alias("_rev_ts"),
            pl.col("host_rc").alias("host_reversal_rc"),
            pl.col("host_line").alias("host_reversal_line"),
        )
        .sort("_rev_ts")
    )
    rows = rows.sort("h_rx_ts").join_asof(
        reversals,
        left_on="h_rx_ts",
        right_on="_rev_ts",
        by=["tid", "stan"],
        strategy="forward",
        tolerance=_PAIR_TOLERANCE,
        check_sortedness=False,
    )
    return rows.select(
        (pl.lit("host:") + pl.col("host_path") + ":" + pl.col("host_line").cast(pl.String)).alias("txn"),
        pl.col("_device").alias("device"),
        "resend_of",
        "tid",
        pl.col("host_mid").alias("mid"),
        "txn_type",
        pl.col("host_inv").alias("inv"),
        "stan",
        "mti",
        pl.col("host_card").alias("card"),
        pl.col("host_card_id").alias("card_id"),
        pl.col("host_atc").alias("atc"),
        pl.col("host_entry").alias("entry"),
        pl.col("host_currency").alias("currency"),
        pl.col("host_exponent").alias("exponent"),
        pl.col("host_amount").alias("amount_entered"),
        pl.col("host_amount").alias("amount_sent"),
        pl.col("host_orig_rrn").alias("orig_rrn"),
        *_HOST_COLUMNS,
        pl.col("host_path").alias("path"),
        pl.col("host_line").alias("line_start"),
        pl.col("host_line").alias("line_tx"),
        pl.col("host_resp_line").alias("line_result"),
        pl.col("h_rx_ts").alias("ts_start"),
        pl.col("h_rx_ts").alias("ts_tx"),
        pl.col("h_tx_ts").alias("ts_result"),
        host_log=pl.lit(True),
        host_covers=pl.lit(True),
        rebuilt_from=pl.lit("host"),
    )


def _cleared_only(txns: pl.DataFrame, settlement: pl.DataFrame, host_log: bool) -> pl.DataFrame:
    """Transactions the clearing file alone shows: cleared items no transaction claimed, of TIDs no terminal log
    covers at their capture time; one transaction per TID and RRN (an item cleared twice is one transaction
    with ``cleared_count`` 2)."""
    if settlement.is_empty():
        return txns.clear()
    claimed = (
        txns.select(pl.col("settle_lines").explode().drop_nulls().alias("_ref")).unique()
        if "settle_lines" in txns.columns
        else pl.DataFrame(schema={"_ref": pl.String})
    )
    items = (
        settlement.with_columns(
            _ref=pl.col("path") + ":" + pl.col("line").cast(pl.String),
            txn_type=pl.col("proc").str.slice(0, 2).replace_strict(_CLEARED_TYPES, default=None),
        )
        .join(claimed, on="_ref", how="anti")
        .filter(pl.col("tid").is_not_null(), pl.col("txn_type").is_not_null())
    )
    items = _uncovered(items, txns, "ts_utc")
    if items.is_empty():
        return txns.clear()
    key = pl.coalesce("rrn", "_ref")
    # one transaction per TID and RRN: its first item's columns, and every item's line
    first = ("path", "line", "mid", "txn_type", "stan", "rrn", "auth", "card", "card_id", "atc", "entry")
    first += ("currency", "exponent", "amount", "ts_utc")
    grouped = (
        items.sort("path", "line")
        .group_by("tid", key.alias("_key"), maintain_order=True)
        .agg(*[pl.col(c).first() for c in first], pl.col("_ref"))
    )
    return grouped.select(
        (pl.lit("clearing:") + pl.col("path") + ":" + pl.col("line").cast(pl.String)).alias("txn"),
        (pl.lit("tid:") + pl.col("tid")).alias("device"),
        "tid",
        "mid",
        "txn_type",
        "stan",
        "rrn",
        "auth",
        "card",
        "card_id",
        "atc",
        "entry",
        "currency",
        "exponent",
        pl.col("amount").alias("amount_entered"),
        pl.col("amount").alias("settled_amount"),
        pl.col("mid").alias("settled_mid"),
        pl.col("_ref").list.len().cast(pl.UInt32).alias("cleared_count"),
        pl.col("_ref").alias("settle_lines"),
        "path",
        pl.col("line").alias("line_start"),
        pl.col("ts_utc").alias("ts_start"),
        pl.col("ts_utc").alias("ts_tx"),
        settlement_file=pl.lit(True),
        settle_covers=pl.lit(True),
        host_log=pl.lit(host_log),
        host_covers=pl.lit(False),
        rebuilt_from=pl.lit("clearing"),
    )


def _join_settlement(txns: pl.DataFrame, settlement: pl.DataFrame, settlement_file: bool) -> pl.DataFrame:
    """The cleared items of each transaction: by RRN, else by TID and STAN near its time
    (``settlement_file``: a clearing file was given, though it may hold none of these TIDs' items).

    ``settle_covers`` says whether the settlement file holds the TID's items around this time; only
    then does a count of zero mean "not cleared".
    """
    txns = txns.with_columns(
        rrn=pl.coalesce("rrn_result", "host_rrn", "rrn_upload"), auth=pl.coalesce("auth_result", "host_auth")
    )
    if settlement.is_empty():
        return txns.with_columns(
            cleared_count=pl.lit(0 if settlement_file else None, pl.UInt32),  # a given file that lacks it: 0
            settled_amount=pl.lit(None, pl.Int64),
            settled_mid=pl.lit(None, pl.String),
            settle_lines=pl.lit(None, pl.List(pl.String)),
            settlement_file=pl.lit(settlement_file),
            settle_covers=pl.lit(False),
        )
    items = settlement.filter(pl.col("rrn").is_not_null())
    # A transaction whose RRN no log gave (a timeout without the host log) is found by TID and STAN.
    by_stan = items.select("tid", "stan", pl.col("ts_utc").alias("_item_ts"), pl.col("rrn").alias("_item_rrn")).sort(
        "_item_ts"
    )
    t = pl.coalesce("ts_tx", "ts_start")
    txns = (
        txns.with_columns(_t=t)
        .sort("_t")
        .join_asof(
            by_stan,
            left_on="_t",
            right_on="_item_ts",
            by=["tid", "stan"],
            strategy="nearest",
            tolerance="36h",
            check_sortedness=False,
        )
        .with_columns(
            rrn=pl.coalesce(
                "rrn",
                pl.when(pl.col("txn_type").is_in(["SALE", "REFUND", "PREAUTH_COMPLETE", "TIP_ADJUST"])).then(
                    pl.col("_item_rrn")
                ),
            )
        )
    )
    # an RRN is unique at one host on one day only: the items of this transaction are those of its TID or MID
    cleared = (
        txns.select("txn", "rrn", "tid", "mid")
        .join(
            items.select("rrn", pl.col("tid").alias("_itid"), "mid", "amount", "path", "line"),
            on="rrn",
            how="inner",
            suffix="_i",
            maintain_order="right",  # the items in file order
        )
        .filter(_same_merchant(("tid", "_itid"), ("mid", "mid_i")))
        .group_by("txn", maintain_order=True)
        .agg(
            pl.len().cast(pl.UInt32).alias("cleared_count"),
            pl.col("amount").first().alias("settled_amount"),
            pl.col("mid_i").first().alias("settled_mid"),
            (pl.col("path") + ":" + pl.col("line").cast(pl.String)).alias("settle_lines"),
        )
    )
    span = (
        settlement.filter(pl.col("tid").is_not_null())
        .group_by("tid")
        .agg(pl.col("ts_utc").min().alias("_from"), pl.col("ts_utc").max().alias("_to"))
    )
    margin = pl.duration(seconds=_MATCH_WINDOW_S)
    return (
        txns.join(cleared, on="txn", how="left")
        .join(span, on="tid", how="left")
        .with_columns(
            cleared_count=pl.col("cleared_count").fill_null(0),
            settlement_file=pl.lit(True),
            settle_covers=(
                (pl.col("_t") >= pl.col("_from") - margin) & (pl.col("_t") <= pl.col("_to") + margin)
            ).fill_null(False),
        )
        .drop("_t", "_item_ts", "_item_rrn", "_from", "_to")
    )


def _lifetimes(txns: pl.DataFrame, inits: pl.DataFrame) -> pl.DataFrame:
    """``_unit``: which lifetime of its device's counters each transaction falls in. A lifetime ends where the
    device was initialised (``tms.init``) or its invoice numbers went back (not a wrap): an invoice number names
    one sale only within one lifetime. Rows no terminal log shows keep their own lifetime."""
    inits = inits.sort("path", "line").with_columns(_inits=pl.col("line").cum_count().over("path"))
    inv = pl.col("inv").cast(pl.Int64, strict=False)
    previous = inv.shift(1).over("path", order_by="line_start")
    dropped = ((inv < previous) & (previous < 999_000)).fill_null(False)
    t = (
        txns.with_columns(_row=pl.int_range(pl.len()))
        .sort("path", "line_start")
        .join_asof(
            inits.rename({"line": "_init_line"}),
            left_on="line_start",
            right_on="_init_line",
            by="path",
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(_drops=dropped.cast(pl.Int32).cum_sum().over("path", order_by="line_start"))
        .with_columns(_unit=pl.format("{}#{}#{}", "device", pl.col("_inits").fill_null(0), "_drops"))
        .sort("_row")
    )
    return t.drop("_row", "_init_line", "_inits", "_drops")


def _link_follow_ups(txns: pl.DataFrame) -> pl.DataFrame:
    """Voids, refunds, tip adjusts and completions, linked to the transaction they name: by the RRN they carry
    where a transaction of the same merchant has it, else by invoice number within one lifetime of the device's
    counters (``_unit``); never to a transaction that came after them (on one device, by line order, which a
    clock step cannot reorder; across devices, by clock-corrected time)."""
    # a transaction no terminal log shows counts as done when the host approved it or it cleared
    approved = (pl.col("merchant_status") == "APPROVED") | (
        (pl.col("rebuilt_from") != "terminal") & (pl.col("host_rc").is_in(_APPROVING) | (pl.col("cleared_count") > 0))
    ).fill_null(False)
    follow = txns.filter(pl.col("txn_type").is_in(["VOID", "REFUND", "TIP_ADJUST", "PREAUTH_COMPLETE"]), approved)
    originals = txns.filter(approved).select(
        pl.col("txn").alias("orig_txn"),
        pl.col("rrn").alias("_orrn"),
        pl.col("inv").alias("_oinv"),
        pl.col("device").alias("_odevice"),
        pl.col("tid").alias("_otid"),
        pl.col("mid").alias("_omid"),
        pl.col("_unit").alias("_ounit"),
        pl.col("path").alias("_opath"),
        pl.col("line_start").alias("_oline"),
        pl.col("ts_start").alias("_ots"),
    )
    asked = follow.select(
        "txn",
        "txn_type",
        "amount_entered",
        "orig_rrn",
        "orig_inv",
        "device",
        "tid",
        "mid",
        "_unit",
        "path",
        "line_start",
        "ts_start",
    )
    # an RRN is unique at one host on one day only: the sale it names is one of the same merchant's
    own_merchant = _same_merchant(("device", "_odevice"), ("tid", "_otid"), ("mid", "_omid"))
    earlier = (
        pl.when(pl.col("path") == pl.col("_opath"))
        .then(pl.col("_oline") < pl.col("line_start"))
        .otherwise(pl.col("_ots") <= pl.col("ts_start"))
        .fill_null(False)
    )
    # a tip adjust carries its sale's RRN: of the transactions with the RRN, the one with the invoice number named
    # (a void of a tip-adjusted sale voids the sale), else the latest
    named = (pl.col("_oinv") == pl.col("orig_inv")).fill_null(False)
    by_rrn = (
        asked.filter(pl.col("orig_rrn").is_not_null())
        .join(originals, left_on="orig_rrn", right_on="_orrn", how="inner")
        .filter(own_merchant, earlier, pl.col("orig_txn") != pl.col("txn"))
        .sort(named, "_ots", descending=True)
        .unique("txn", keep="first", maintain_order=True)
    )
    by_inv = (
        asked.filter(pl.col("orig_inv").is_not_null())
        .join(by_rrn.select("txn"), on="txn", how="anti")
        .join(originals, left_on=["_unit", "orig_inv"], right_on=["_ounit", "_oinv"], how="inner")
        .filter(earlier, pl.col("orig_txn") != pl.col("txn"))
        .sort("_oline", descending=True)  # the latest such invoice before it
        .unique("txn", keep="first", maintain_order=True)
    )
    links = pl.concat(
        [
            by_rrn.select("txn", "orig_txn", "txn_type", "amount_entered"),
            by_inv.select("txn", "orig_txn", "txn_type", "amount_entered"),
        ]
    )
    summary = links.group_by(pl.col("orig_txn").alias("txn")).agg(
        pl.col("txn").filter(pl.col("txn_type") == "VOID").first().alias("voided_by"),
        pl.col("txn").filter(pl.col("txn_type") == "REFUND").alias("refunded_by"),
        pl.col("amount_entered").filter(pl.col("txn_type") == "REFUND").sum().alias("refunded_amount"),
        pl.col("txn").filter(pl.col("txn_type") == "TIP_ADJUST").last().alias("adjusted_by"),
        pl.col("txn").filter(pl.col("txn_type") == "PREAUTH_COMPLETE").alias("completed_by"),
    )
    return txns.join(summary, on="txn", how="left").join(links.select("txn", "orig_txn"), on="txn", how="left")


def _same_merchant(*pairs: tuple[str, str]) -> pl.Expr:
    """Two sides of a joined row are one merchant's: one of ``pairs`` of columns (device, TID, MID) holds the same
    value on both (unknown on either side: not the same). These are the links of a fleet's groups
    (``forensics.analysis.groups``), so a join under this condition never leaves a group."""
    return pl.any_horizontal([(pl.col(a) == pl.col(b)).fill_null(False) for a, b in pairs])


def _charge(merchant: pl.Expr) -> list[pl.Expr]:
    """``charged``: whether the cardholder ended up charged (or credited); null when no input can tell.

    The best witness decides: the settlement file where it covers the TID at that time (cleared or
    not), else the host log's answer (approved and not reversed), else the host log's silence where it
    covers the TID (the request never arrived), else the terminal's own outcome (approved, declined, or
    a reversal the host acknowledged with 00). A timeout, crash or power loss with neither host log nor
    clearing file leaves it null. ``charged_by`` names the witness; ``charge_at_risk`` marks a request
    that left the terminal with no outcome and no delivered reversal: a charge that may stand.
    """
    voided = pl.col("voided_by").is_not_null()
    host_reversed = (pl.col("host_reversal_rc") == "00").fill_null(False)  # null: no reversal reached the host
    terminal_reversed = (pl.col("reversal_rc") == "00").fill_null(False)  # null: no 0410 logged
    settled = pl.col("settle_covers") & pl.col("cleared_count").is_not_null()
    host_answered = pl.col("host_line").is_not_null() & pl.col("host_rc").is_not_null()
    # the host log's silence means "never received" unless the terminal holds an approval: then another
    # host (a fallback) answered it
    host_silent = pl.col("host_covers") & pl.col("host_line").is_null() & (merchant != "APPROVED")
    sent = pl.col("line_tx").is_not_null() | pl.col("line_saf_queued").is_not_null()
    witness = (
        pl.when(settled)
        .then(pl.lit("settlement"))
        .when(host_answered)
        .then(pl.lit("host"))
        .when(host_silent)
        .then(pl.lit("host (not received)"))
        .when(merchant.is_in(["APPROVED", "DECLINED"]) | terminal_reversed)
        .then(pl.lit("terminal"))
    )
    charged = (
        pl.when(settled)
        .then(pl.col("cleared_count") >= 1)
        .when(host_answered)
        .then(pl.col("host_rc").is_in(_APPROVING) & ~host_reversed & ~voided)
        .when(host_silent)
        .then(pl.lit(False))
        .when(terminal_reversed)
        .then(pl.lit(False))
        .when(merchant == "APPROVED")
        .then(~voided)
        .when(merchant == "DECLINED")
        .then(pl.lit(False))
    )
    # a reversal counts as accepted when its answer was 00, or was logged as acknowledged without a code;
    # refused (25: the host knew no such sale) it leaves the charge possible: the sale may have reached
    # another host, or the reversal the wrong one
    refused = pl.col("reversal_rc").is_not_null() & ~terminal_reversed
    accepted = terminal_reversed | (pl.col("reversal_deleted").is_in(["acked", "approved"]).fill_null(False) & ~refused)
    at_risk = sent & merchant.is_in(["COMM_ERROR", "NO_RESULT", "CRASHED", "POWER_LOST"]) & ~accepted
    return [
        charged.alias("charged"),
        witness.alias("charged_by"),
        (charged.is_null() & at_risk & ~terminal_reversed).alias("charge_at_risk"),
    ]


def _outcomes(t: pl.DataFrame) -> pl.DataFrame:
    merchant = (
        pl.when(pl.col("rebuilt_from") != "terminal")
        .then(pl.lit("UNKNOWN"))  # no terminal log: what the merchant saw is not known
        .when(pl.col("merchant_status").is_not_null())
        .then(pl.col("merchant_status"))
        .when(pl.col("line_crash").is_not_null())
        .then(pl.lit("CRASHED"))
        .when(pl.col("line_boot").is_not_null())
        .then(pl.lit("POWER_LOST"))
        .otherwise(pl.lit("NO_RESULT"))
    )
    host_seen = pl.col("host_line").is_not_null()
    host_approved = pl.col("host_rc").is_in(_APPROVING)
    reversed_at_host = (pl.col("host_reversal_rc") == "00").fill_null(False)  # null: no reversal reached the host
    t = t.with_columns(
        merchant_outcome=merchant,
        host_outcome=pl.when(~pl.col("host_log"))
        .then(pl.lit(None))
        .when(~host_seen)
        .then(pl.lit("NOT_SEEN"))
        .when(host_approved & reversed_at_host)
        .then(pl.lit("REVERSED"))
        .when(host_approved)
        .then(pl.lit("APPROVED"))
        .when(pl.col("host_rc").is_null())
        .then(pl.lit("NO_RESPONSE"))
        .otherwise(pl.lit("DECLINED")),
        amount_approved=pl.when(host_approved)
        .then(pl.col("host_amount"))
        .when(pl.col("merchant_status") == "APPROVED")
        .then(pl.coalesce("amount_sent", "amount_entered")),
    )
    t = t.with_columns(_charge(merchant))
    charge_types = pl.col("txn_type").is_in(["SALE", "PREAUTH_COMPLETE", "TIP_ADJUST"])
    previous_same = (
        (pl.col("card_id") == pl.col("card_id").shift(1).over("tid", order_by="ts_start"))
        & (pl.col("amount_entered") == pl.col("amount_entered").shift(1).over("tid", order_by="ts_start"))
        & (
            (pl.col("ts_start") - pl.col("ts_start").shift(1).over("tid", order_by="ts_start")).dt.total_seconds()
            < _RERUN_WINDOW_S
        )
    )
    flags = [
        (
            "host_approved_merchant_not",
            host_approved & ~reversed_at_host & ~merchant.is_in(["APPROVED", "UNKNOWN"]),
        ),
        ("no_response", pl.col("line_timeout").is_not_null()),
        ("crash_in_flight", pl.col("line_crash").is_not_null()),
        ("power_lost_in_flight", pl.col("line_boot").is_not_null()),
        ("reversal_deleted_unsent", pl.col("reversal_deleted").is_in(["max_retries", "operator_clear"])),
        (
            "reversal_pending",
            (pl.col("line_timeout").is_not_null() | pl.col("line_crash").is_not_null())
            & pl.col("reversal_deleted").is_null(),
        ),
        ("printer_fault_after_approval", (pl.col("printer_code").is_not_null()) & (merchant == "APPROVED")),
        (
            "amount_sent_differs",
            pl.col("amount_sent").is_not_null()
            & pl.col("amount_entered").is_not_null()
            & (pl.col("amount_sent") != pl.col("amount_entered")),
        ),
        ("same_card_and_amount_as_previous", charge_types & previous_same.fill_null(False)),
        ("cleared_more_than_once", pl.col("cleared_count") > 1),
        ("cleared_to_other_mid", pl.col("settled_mid").is_not_null() & (pl.col("settled_mid") != pl.col("mid"))),
        (
            "approved_not_cleared",
            pl.col("settle_covers")
            & (pl.col("cleared_count") == 0)
            & (merchant == "APPROVED")
            & pl.col("voided_by").is_null()
            & pl.col("txn_type").is_in(["SALE", "REFUND", "PREAUTH_COMPLETE"]),
        ),
        ("offline_not_uploaded", pl.col("line_saf_queued").is_not_null() & pl.col("line_upload").is_null()),
        # the merchant holds an approval the network never gave: the merchant's loss, no cardholder's (for review)
        (
            "approved_not_by_host",
            (merchant == "APPROVED")
            & pl.col("line_saf_queued").is_null()
            & pl.col("line_tx").is_not_null()
            & (pl.col("cleared_count").fill_null(0) == 0)
            & pl.col("host_covers")
            & (~host_seen | (pl.col("host_rc").is_not_null() & ~host_approved)),
        ),
    ]
    # each row's flags as a bit mask, then each distinct mask's list of names (a list per row built by
    # concatenating one-name lists costs ten times the conditions)
    mask = pl.sum_horizontal(
        pl.when(cond.fill_null(False)).then(pl.lit(1 << bit, pl.Int64)).otherwise(pl.lit(0, pl.Int64))
        for bit, (_, cond) in enumerate(flags)
    )
    t = t.with_columns(_flags=mask)
    masks = t["_flags"].unique().to_list()
    names = pl.DataFrame(
        {"_flags": masks, "flags": [[name for bit, (name, _) in enumerate(flags) if m >> bit & 1] for m in masks]},
        schema={"_flags": pl.Int64, "flags": pl.List(pl.String)},
    )
    t = t.join(names, on="_flags", how="left", maintain_order="left").drop("_flags")
    return t.select(
        pl.col("attempt").alias("_attempt"),
        *[
            (pl.col(c) if c in t.columns else pl.lit(None)).cast(dtype).alias(c)
            for c, dtype in TRANSACTIONS_SCHEMA.items()
        ],
    )


# -- devices ----------------------------------------------------------------------------


def devices(events: pl.DataFrame, clocks: pl.DataFrame) -> pl.DataFrame:
    """One row per terminal device, with its role when a TID moved between devices (a device
    whose log names no TID has none: ``devices_on_tid`` null, role "no TID in its log")."""
    terminal = (
        events.lazy()
        .filter(TERMINAL)
        .select("path", "line", "device", "kind", "stan", "mti", "tid", "mid", "app_version", "ts_utc", "txn")
        .collect()
    )
    k = pl.col("kind")
    stan_num = pl.col("stan").cast(pl.Int64, strict=False)
    tx = terminal.filter(k == "iso.tx", pl.col("mti").is_in(["0100", "0200", "0500", "0800"])).sort("path", "line")
    resets = (
        tx.with_columns(_drop=(stan_num < stan_num.shift(1).over("path")) & (stan_num.shift(1).over("path") < 999000))
        .group_by("device")
        .agg(pl.col("_drop").sum().alias("stan_resets"))
    )
    info = (
        terminal.group_by("device")
        .agg(
            pl.col("path").first(),
            pl.col("tid").drop_nulls().mode().first().alias("tid"),
            pl.col("mid").drop_nulls().mode().first().alias("mid"),
            pl.col("app_version").drop_nulls().first().alias("app_version"),
            # a clock-set line carries the time before the set: it says nothing of when the device was seen
            pl.col("ts_utc").filter(~k.is_in(["clock.set", "clock.step"])).min().alias("first_seen"),
            pl.col("ts_utc").filter(~k.is_in(["clock.set", "clock.step"])).max().alias("last_seen"),
            pl.len().alias("events"),
            # a START logged twice is one transaction
            pl.col("txn").filter(k == "txn.start").drop_nulls().n_unique().alias("transactions"),
            (k == "tms.init").sum().alias("inits"),
            _first(pl.col("ts_utc"), k == "tms.release").alias("released_at"),
            (k.is_in(["power.boot", "log.divider"])).sum().alias("boots"),
        )
        .join(resets, on="device", how="left")
    )
    skew = (
        clocks.sort("matches", descending=True)
        .group_by("device")
        .agg(
            pl.col("skew_s").first().alias("skew_s"),
            pl.col("matches").sum().alias("clock_matches"),
            pl.len().alias("clock_segments"),
        )
    )
    info = info.join(skew, on="device", how="left").sort("first_seen")
    has_tid = pl.col("tid").is_not_null()  # devices without a TID share nothing: no group, no order
    info = info.with_columns(
        devices_on_tid=pl.when(has_tid).then(pl.len().over("tid")),
        _rank=pl.col("first_seen").rank("ordinal").over("tid"),
        _prev_last=pl.when(has_tid).then(pl.col("last_seen").shift(1).over("tid", order_by="first_seen")),
        _next_first=pl.when(has_tid).then(pl.col("first_seen").shift(-1).over("tid", order_by="first_seen")),
    )
    quarter_hours = (pl.col("skew_s") / 900).round() * 900
    info = info.with_columns(
        zone_hint=pl.when((pl.col("skew_s").abs() >= 1800) & ((pl.col("skew_s") - quarter_hours).abs() < 120)).then(
            pl.format(
                "clock is {} h from the host: its log is probably local time; give --tz for it",
                (quarter_hours / 3600).round(2),
            )
        )
    )
    return (
        info.with_columns(
            role=pl.when(~has_tid)
            .then(pl.lit("no TID in its log"))
            .when(pl.col("devices_on_tid") == 1)
            .then(pl.lit("only device on its TID"))
            .when(pl.col("_next_first").is_not_null())
            .then(pl.lit("replaced (older device on a shared TID)"))
            .otherwise(pl.lit("replacement (newer device on a shared TID)")),
            overlap_s=pl.when(pl.col("_prev_last") > pl.col("first_seen")).then(
                (pl.col("_prev_last") - pl.col("first_seen")).dt.total_seconds()
            ),
            counter_resets=pl.col("inits") + pl.col("stan_resets").fill_null(0),
        )
        .drop("_rank", "_prev_last", "_next_first", "stan_resets", "inits")
        .sort("tid", "first_seen")
    )


# -- assembly ---------------------------------------------------------------------------


def streams(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Which terminal files continue one another: path, stream (the first file's path), offset (lines before).

    A device's log given in several files that follow one another in time (a rotated log: ``X.log.1``
    then ``X.log``) is one stream, so that a transaction cut by the rotation stays one transaction;
    files that overlap in time stay streams of their own.
    """
    files = (
        events.lazy()
        .filter(TERMINAL)
        .group_by("path")
        .agg(
            pl.col("device").drop_nulls().first(),
            pl.col("ts").min().alias("_from"),
            pl.col("ts").max().alias("_to"),
            pl.col("line_end").max().alias("_lines"),
        )
        .collect()
        .sort("device", "_from", "path", nulls_last=True)
    )
    rows = []
    previous: dict[str, Any] | None = None
    for f in files.iter_rows(named=True):
        follows = (
            previous is not None
            and f["device"] is not None
            and f["device"] == previous["device"]
            and f["_from"] is not None
            and previous["_to"] is not None
            and f["_from"] >= previous["_to"]
        )
        if follows:
            stream, offset = previous["stream"], previous["offset"] + previous["_lines"]
        else:
            stream, offset = f["path"], 0
        previous = {**f, "stream": stream, "offset": offset}
        rows.append({"path": f["path"], "stream": stream, "offset": offset})
    return pl.DataFrame(rows, schema={"path": pl.String, "stream": pl.String, "offset": pl.Int64})


def _to_streams(events: pl.DataFrame, joined: pl.DataFrame) -> pl.DataFrame:
    """Events with ``path``/``line`` in stream space (the file's own ``src_path``/``src_line`` kept)."""
    events = events.with_columns(src_path=pl.col("path"), src_line=pl.col("line"))
    if joined.filter(pl.col("offset") > 0).is_empty():
        return events
    events = (
        events.join(joined, on="path", how="left", maintain_order="left")
        .with_columns(
            path=pl.coalesce("stream", "path"),
            line=pl.col("line") + pl.col("offset").fill_null(0),
            line_end=pl.col("line_end") + pl.col("offset").fill_null(0),
        )
        .drop("stream", "offset")
    )
    return events.sort("path", "line", maintain_order=True)


#: Event columns ``build`` does not read (but ``mark`` the texts): its work leaves them out (copied through its
#: sorts and joins, they were nearly two thirds of a group's bytes) and its events take them back at the end,
#: in the chunks they came in (the other columns it puts in one piece first).
CARRIED = frozenset("text message attrs ts_raw format dialect tag pid thread level keyword serial uptime".split())
#: The row number of each event in ``build``'s input, carried through its work.
_ORIGIN = "_origin"


def _in_order(carried: pl.DataFrame, origin: pl.Series) -> pl.DataFrame:
    """``carried`` (rows in the input's order) in the order of ``origin``, the input's row number of each row:
    as it is when that order is the input's (no copy)."""
    if origin.equals(pl.int_range(0, origin.len(), dtype=origin.dtype, eager=True), check_names=False):
        return carried
    return carried[origin]


def build(loaded: Loaded, given: tuple[bool, bool] | None = None) -> Timeline:
    """The timeline of an ingest (see the module docstring); ``given`` as for ``transactions`` (a group
    of a wider ingest: ``forensics.fleet``)."""
    carried = loaded.events.select(c for c in loaded.events.columns if c in CARRIED)
    # one chunk a column: a frame read in pieces (Parquet row groups, batches) is copied whole by the first
    # column added to it that is in one piece, and again by the next
    events = loaded.events.drop(carried.columns).rechunk()
    events = events.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(_ORIGIN))
    zones = host_zones(events, loaded.inputs)
    logged = _in_host_zone(events, zones)
    joined = streams(logged)
    events = _to_streams(logged, joined)
    events = mark(events.hstack(_in_order(carried.select("text"), events[_ORIGIN]))).drop("text")
    host = host_pairs(events)
    terminal = (
        events.lazy()
        .filter(TERMINAL)
        .select("path", "line", "device", "segment", "kind", "ts", "value", "mti", "tid", "stan")
        .collect()
    )
    items = events.lazy().filter(pl.col("kind") == "settle.item").select("tid", "stan", "ts").collect()
    clocks = estimate_clocks(terminal, host, items)
    corrected = place_settlement(apply_clocks(events, clocks))
    settlement = corrected.filter(pl.col("kind") == "settle.item")
    txns = transactions(corrected, host, settlement, given)
    txn_of = corrected.select("path", "attempt").join(
        txns.select("path", pl.col("_attempt").alias("attempt"), "txn"),
        on=["path", "attempt"],
        how="left",
        maintain_order="left",
    )["txn"]
    corrected = (
        corrected.with_columns(txn=txn_of, stream=pl.col("path"), seq=pl.col("line"))
        .with_columns(path=pl.col("src_path"), line=pl.col("src_line"))
        .drop("src_path", "src_line")
    )
    corrected = settle_after_requests(corrected, txns)
    built = devices(corrected, clocks)
    # the carried columns back, in the input's column order, the build's columns after them
    added = [c for c in corrected.columns if c not in loaded.events.columns and c != _ORIGIN]
    corrected = corrected.hstack(_in_order(carried, corrected[_ORIGIN])).select(*loaded.events.columns, *added)
    placed = [c for c in settlement.columns if c not in loaded.events.columns and c != _ORIGIN]
    return Timeline(
        transactions=txns.drop("_attempt"),
        events=corrected,
        devices=built,
        clocks=pl.concat([clocks, _host_zone_clocks(zones)], how="vertical_relaxed") if zones.height else clocks,
        host=host,
        settlement=corrected.filter(pl.col("kind") == "settle.item")
        .with_columns(src_path=pl.col("path"), src_line=pl.col("line"))  # a clearing file is no terminal stream
        .select(*loaded.events.columns, *placed),
        loaded=loaded,
    )
