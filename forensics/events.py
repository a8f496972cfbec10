"""The events table: the one declared schema every stage reads and writes.

Every input format fills the same columns; a column a format does not know stays null.
Identifiers (STAN, invoice, RRN, TID, ...) are strings as logged (leading zeros kept, padding
trimmed). Money is never a float: ``amount`` is an integer in minor units and ``exponent`` says
how many of its digits are decimals (ISO 4217: USD 2, JPY 0, KWD 3).

Naming: ``tid`` is the terminal ID (ISO 8583 DE41) as in the findings contract; the logcat
thread id is ``thread``.
"""

from __future__ import annotations

import polars as pl

UTC_US = pl.Datetime("us", "UTC")

#: column -> (dtype, meaning). Order is the column order of the table.
EVENT_COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "path": (pl.String(), "input path as given"),
    "line": (pl.Int64(), "1-based number of the record's first line"),
    "line_end": (pl.Int64(), "number of the record's last line (multi-line records)"),
    "format": (pl.String(), "envelope format name (its folder: grammars/<format>/)"),
    "role": (
        pl.String(),
        "what the input is, as its format declares (grammars/<format>/format.toml): terminal (a payment "
        "terminal's own log), host (the acquirer host's ISO 8583 log), settlement (the acquirer's clearing "
        "file) or system (another system's log); stages select on it, never on a format name",
    ),
    "dialect": (pl.String(), "dialect that gave the kind, if any"),
    "ts": (UTC_US, "event time in UTC, as logged (no skew correction)"),
    "ts_raw": (pl.String(), "timestamp text as logged"),
    "host": (pl.String(), "syslog HOST / jPOS realm"),
    "device": (pl.String(), "device identity: TMS serial, syslog host, --device, file stem"),
    "tag": (pl.String(), "logcat tag, syslog program, or the dialect tag inside the message"),
    "pid": (pl.Int64(), "process id"),
    "thread": (pl.Int64(), "thread id (logcat TID)"),
    "level": (pl.String(), "severity letter V D I W E F"),
    "message": (pl.String(), "message after the envelope (dialect tag prefix removed)"),
    "text": (pl.String(), "the record as logged (card data masked)"),
    "kind": (pl.String(), "normalised event kind (see KINDS)"),
    "keyword": (pl.String(), "dialect keyword (RESULT, TX, STATUS, ...)"),
    "txn_type": (pl.String(), "transaction type (SALE, REFUND, VOID, ...)"),
    "status": (pl.String(), "outcome word (APPROVED, DECLINED, COMM_ERROR, ok, fail)"),
    "mti": (pl.String(), "ISO 8583 message type indicator"),
    "proc": (pl.String(), "ISO 8583 processing code (DE3)"),
    "stan": (pl.String(), "system trace audit number (DE11)"),
    "inv": (pl.String(), "invoice number (DE62)"),
    "orig_inv": (pl.String(), "invoice of the original transaction"),
    "batch": (pl.String(), "batch number"),
    "rrn": (pl.String(), "retrieval reference number (DE37)"),
    "orig_rrn": (pl.String(), "RRN of the original transaction"),
    "auth": (pl.String(), "approval code (DE38)"),
    "rc": (pl.String(), "response code (DE39)"),
    "tid": (pl.String(), "terminal ID (DE41), padding trimmed"),
    "mid": (pl.String(), "merchant ID (DE42), padding trimmed"),
    "entry": (pl.String(), "entry mode (chip, contactless, swipe, fallback, manual) or DE22"),
    "atc": (pl.String(), "EMV application transaction counter (9F36)"),
    "amount": (pl.Int64(), "amount in minor units"),
    "tip": (pl.Int64(), "tip in minor units"),
    "currency": (pl.String(), "ISO 4217 alphabetic code"),
    "exponent": (pl.Int8(), "decimal digits of amount and tip"),
    "card": (pl.String(), "card number, masked to first 6 / last 4"),
    "card_id": (pl.String(), "keyed HMAC-SHA256 of the card (joins sightings)"),
    "operator": (pl.String(), "operator id"),
    "source": (pl.String(), "amount source: keypad or ecr"),
    "serial": (pl.String(), "device serial number"),
    "app_version": (pl.String(), "payment app version"),
    "reason": (pl.String(), "reason word (reversal deletion, connect failure)"),
    "code": (pl.Int64(), "numeric status code (printer, EMV)"),
    "uptime": (pl.Float64(), "kernel uptime in seconds"),
    "value": (pl.Float64(), "a measured number: clock step in seconds, time set (epoch seconds)"),
    "attrs": (pl.String(), "other key=value fields as a JSON object, keys sorted"),
}

EVENTS_SCHEMA = pl.Schema({name: dtype for name, (dtype, _) in EVENT_COLUMNS.items()})

_INT_BITS = {pl.Int8(): 8, pl.Int16(): 16, pl.Int32(): 32, pl.Int64(): 64}


def fits(name: str, value: int) -> bool:
    """Whether ``value`` fits the integer column ``name`` of the events table."""
    bits = _INT_BITS[EVENT_COLUMNS[name][0]]
    return -(1 << (bits - 1)) <= value < 1 << (bits - 1)


UNPARSED_SCHEMA = pl.Schema(
    {
        "path": pl.String(),
        "line": pl.Int64(),
        "line_end": pl.Int64(),
        "format": pl.String(),
        "text": pl.String(),
        "reason": pl.String(),
    }
)

COMPLIANCE_SCHEMA = pl.Schema(
    {
        "kind": pl.String(),
        "path": pl.String(),
        "line": pl.Int64(),
        "field": pl.String(),
        "masked": pl.String(),
    }
)

INPUTS_SCHEMA = pl.Schema(
    {
        "path": pl.String(),
        "sha256": pl.String(),
        "bytes": pl.Int64(),
        "lines": pl.Int64(),
        "parsed": pl.Int64(),
        "unparsed": pl.Int64(),
        "format": pl.String(),
        "role": pl.String(),
        "device": pl.String(),
        "tz": pl.String(),
        "tz_assumed": pl.Boolean(),
        "year_source": pl.String(),
        "notes": pl.String(),
    }
)

#: The normalised event kinds, with what each means.
KINDS: dict[str, str] = {
    "txn.start": "a transaction begins (type, amount, operator, source)",
    "txn.card": "card read (entry mode, masked PAN, ATC)",
    "txn.result": "outcome shown to the merchant",
    "txn.timeout": "no response within the timeout",
    "txn.cancel": "transaction cancelled on the terminal",
    "iso.tx": "ISO 8583 message sent by the terminal",
    "iso.rx": "ISO 8583 message received by the terminal",
    "comm.connect": "connection attempt to the host",
    "reversal.saved": "reversal record written",
    "reversal.send": "reversal sent",
    "reversal.deleted": "reversal record deleted (reason says why)",
    "saf.queued": "offline item queued for store-and-forward",
    "saf.upload": "offline item uploaded",
    "batch.settle": "settlement request with batch totals",
    "batch.result": "settlement response",
    "batch.upload": "one item uploaded during batch upload",
    "printer.status": "printer status report",
    "printer.print": "receipt printed",
    "emv.error": "card reader / EMV kernel error",
    "emv.fallback": "fallback from chip to another entry mode",
    "pinpad.status": "PIN pad status report",
    "power.battery": "battery report",
    "power.boot": "device boot (kernel uptime near zero)",
    "power.recover": "power-fail recovery after a boot or crash",
    "hw.usb_disconnect": "a USB peripheral disconnected",
    "kernel.log": "other kernel line",
    "ui.login": "operator login",
    "ui.menu": "operator menu action",
    "ui.key": "operator keyed a value",
    "app.crash": "application crash (stack trace in message)",
    "tms.device": "device identity line",
    "tms.init": "device initialised (counters set)",
    "tms.param": "parameter download",
    "tms.release": "terminal ID released from a device",
    "host.rx": "host received an ISO message",
    "host.tx": "host sent an ISO message",
    "host.timeout": "host channel read timeout",
    "host.disconnect": "host channel peer disconnect",
    "host.error": "host-side exception",
    "host.log": "other host log block",
    "settle.item": "one cleared item in the settlement file",
    "clock.step": "system clock stepped (value: seconds added)",
    "clock.set": "system clock set (value: the new time, epoch seconds)",
    "log.divider": "logcat buffer divider",
    "file.header": "header row of a tabular file",
    "log": "line of another app or an unknown keyword",
}


def conform(frame: pl.DataFrame, schema: pl.Schema = EVENTS_SCHEMA) -> pl.DataFrame:
    """Return ``frame`` with exactly ``schema``'s columns, in order, missing ones null."""
    return frame.select(
        [
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in schema.items()
        ]
    )
