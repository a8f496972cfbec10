"""Vendor styles: the reference app's facts as other vendors' terminal apps phrase them.

A simulated device writes its app lines in the reference dialect (spec/terminal-logs.md section 2):
a tag and a ``KEYWORD key=value`` payload. A vendor style translates each such line, as it is
written, into the (tag, message) its own app would log, so every style of a case describes the
same world, byte for byte the same times, counters and amounts. Each translation carries every
fact of the reference line (a key it does not consume is an error), in the vendor's own words,
units and shapes, and each style has its dialect file in ``forensics/dialects/`` that reads it
back. Two vendors besides the reference:

- ``orbit``: an Android app (home platform logcat) that logs one JSON object per line under
  a component tag (``TxnEngine``, ``HostLink-1`` numbered by host, ...), with the event name
  in ``evt``, nested objects, amounts in minor units with a numeric ISO 4217 currency, lowercase
  words (``approved``, ``icc``, ``retry_limit``) and its ISO messages as a ``de`` object.
- ``quill``: a Linux app (home platform syslog) that logs sentences under one program name,
  ``quilld[pid]: [Txn] Invoice 000045 approved (trace 000412, response 00, ...)``, with amounts in
  major units after the currency and ISO dumps as ``F4=...``.

The system's own lines (kernel, healthd, a Java crash) are not the app's and stay as they are.
On a platform that is not the vendor's home (a family's Linux terminal under ``orbit``) the same
app logs the same way through that platform's log: the family decides the hardware, so a case
describes one world whatever the style.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from forensics.ingest.dialect import parse_payload
from forensics.money import currency, major_to_minor

#: The reference app's own tags: the lines a vendor style rephrases.
APP_TAGS = frozenset(
    {"TransProcess", "Comm", "Reversal", "SAF", "Batch", "Printer", "EmvProcess", "PinPad", "UI", "PowerFail", "TMS"}
)
_EMV_ERROR = re.compile(r"(?P<name>[A-Z][A-Z_]*)\((?P<code>-?\d+)\)")


class _Facts:
    """The facts of one reference payload; a phrase takes what it says, and every fact must be taken."""

    def __init__(self, tag: str, payload: str) -> None:
        parsed = parse_payload(payload)
        if parsed is None:
            raise ValueError(f"not a reference payload: {tag}: {payload!r}")
        self.tag, self.payload = tag, payload
        self.keyword, words, pairs = parsed
        self.words = list(words)
        self.pairs = dict(pairs)

    def pop(self, key: str) -> str:
        """A key's value, which the line must hold."""
        if key not in self.pairs:
            raise ValueError(f"{self.tag}: {self.payload!r} has no {key}=")
        return self.pairs.pop(key)

    def get(self, key: str) -> str | None:
        """A key's value, or None when the line does not hold it."""
        return self.pairs.pop(key, None)

    def word(self) -> str:
        """The next positional word."""
        if not self.words:
            raise ValueError(f"{self.tag}: {self.payload!r} lacks a positional word")
        return self.words.pop(0)

    def check_all_said(self) -> None:
        """Raise when a fact of the reference line was not carried over."""
        if self.words or self.pairs:
            raise ValueError(f"{self.tag}: {self.payload!r}: the vendor style drops {self.words or sorted(self.pairs)}")


def _minor(major: str, code: str) -> int:
    cur = currency(code)
    money = major_to_minor(major, cur.exponent if cur else None)
    if money is None:
        raise ValueError(f"not an amount: {major!r}")
    return money[0]


def _numeric(code: str) -> str:
    cur = currency(code)
    if cur is None:
        raise ValueError(f"unknown currency {code!r}")
    return cur.numeric


def _iso_elements(facts: _Facts) -> dict[str, str]:
    """``DE4=...`` pairs -> {"4": ...}, in the order logged."""
    out = {}
    for key in list(facts.pairs):
        if key.startswith("DE"):
            out[key[2:]] = facts.pairs.pop(key)
    return out


#: Each reference app line, by (tag, keyword), and the method of a vendor style that says it.
PHRASES: dict[tuple[str, str], str] = {
    ("TransProcess", "START"): "start",
    ("TransProcess", "CARD"): "card",
    ("TransProcess", "RESULT"): "result",
    ("TransProcess", "TIMEOUT"): "timeout",
    ("TransProcess", "CANCEL"): "cancel",
    ("Comm", "CONNECT"): "connect",
    ("Comm", "TX"): "iso",
    ("Comm", "RX"): "iso",
    ("Reversal", "SAVED"): "reversal",
    ("Reversal", "SEND"): "reversal",
    ("Reversal", "DELETED"): "reversal",
    ("SAF", "QUEUED"): "saf_queued",
    ("SAF", "UPLOAD"): "saf_upload",
    ("Batch", "SETTLE"): "settle",
    ("Batch", "RESULT"): "settle_result",
    ("Batch", "UPLOAD"): "batch_upload",
    ("Printer", "STATUS"): "printer_status",
    ("Printer", "PRINT"): "printed",
    ("EmvProcess", "ERROR"): "emv_error",
    ("EmvProcess", "FALLBACK"): "fallback",
    ("PinPad", "PIN"): "pin",
    ("UI", "LOGIN"): "login",
    ("UI", "MENU"): "menu",
    ("UI", "KEY"): "key",
    ("PowerFail", "RECOVER"): "recover",
    ("TMS", "device"): "identity",
    ("TMS", "INIT"): "init",
    ("TMS", "PARAM"): "param",
    ("TMS", "RELEASE"): "release",
}


class Speaker:
    """Translates one device's reference app lines into a vendor's; one per device (it may keep state)."""

    def __init__(self, currency_code: str, android: bool) -> None:
        """``currency_code``: the merchant's currency; ``android``: the device logs to logcat (else syslog)."""
        self.cur = currency_code
        self.android = android

    def say(self, tag: str, payload: str) -> tuple[str, str]:
        """(tag as logged, message) for a reference app line."""
        facts = _Facts(tag, payload)
        keyword = "ERROR" if tag == "EmvProcess" and _EMV_ERROR.fullmatch(facts.keyword) else facts.keyword
        phrase = PHRASES.get((tag, keyword))
        if phrase is None:
            raise ValueError(f"{type(self).__name__} has no phrase for {tag}: {payload!r}")
        said: tuple[str, str] = getattr(self, phrase)(facts)
        facts.check_all_said()
        return said


# -- orbit: JSON objects on Android --------------------------------------------------------------

_ORBIT_TYPES = {
    "SALE": "sale",
    "REFUND": "refund",
    "VOID": "void",
    "PREAUTH": "preauth",
    "PREAUTH_COMPLETE": "completion",
    "PREAUTH_VOID": "preauth_void",
    "TIP_ADJUST": "tip_adjust",
    "BALANCE": "balance",
}
_ORBIT_ENTRY = {"chip": "icc", "contactless": "ctls", "swipe": "msr", "fallback": "fallback_msr", "manual": "keyed"}
_ORBIT_SOURCE = {"keypad": "keyed", "ecr": "pos_link"}
_ORBIT_OUTCOME = {"APPROVED": "approved", "DECLINED": "declined", "COMM_ERROR": "comm_failure"}
_ORBIT_DELETED = {
    "acked": "host_ack",
    "approved": "original_approved",
    "max_retries": "retry_limit",
    "operator_clear": "operator",
}
_ORBIT_PRINTER = {"0": "ready", "1": "busy", "2": "paper_out", "4": "fault", "8": "overheat", "9": "low_voltage"}
_ORBIT_MENU = {"Clear Reversal": "clear_reversal", "Reprint Last": "reprint_last"}
_ORBIT_STAGE = {"BEGIN_SEND_ISO": "send_iso", "BEGIN_BATCH_UPDATE": "batch_update"}
_ORBIT_ACTION = {"none": "skip", "reprint": "reprint", "reversal": "reverse"}


class Orbit(Speaker):
    """Orbit Pay: an Android app logging one JSON object per line under a component tag."""

    def __init__(self, currency_code: str, android: bool) -> None:
        super().__init__(currency_code, android)
        self.link = 1  # the host link the last connection used: acq1 -> HostLink-1

    def _money(self, major: str, code: str | None = None) -> dict[str, Any]:
        code = code or self.cur
        return {"minor": _minor(major, code), "ccy": _numeric(code)}

    @staticmethod
    def _json(tag: str, obj: dict[str, Any]) -> tuple[str, str]:
        return tag, json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

    def start(self, f: _Facts) -> tuple[str, str]:
        cur = f.pop("cur")
        txn: dict[str, Any] = {
            "type": _ORBIT_TYPES[f.pop("type")],
            "invoice": f.pop("inv"),
            "amount": self._money(f.pop("amount"), cur),
        }
        tip = f.get("tip")
        if tip is not None:
            txn["tip"] = self._money(tip, cur)
        original = {k: v for k, v in (("invoice", f.get("orig_inv")), ("rrn", f.get("orig_rrn"))) if v is not None}
        if original:
            txn["original"] = original
        obj = {"evt": "begin", "txn": txn, "operator": {"id": f.pop("op")}, "amountSource": _ORBIT_SOURCE[f.pop("src")]}
        return self._json("TxnEngine", obj)

    def card(self, f: _Facts) -> tuple[str, str]:
        card = {"read": _ORBIT_ENTRY[f.pop("entry")], "pan": f.pop("pan")}
        atc = f.get("atc")
        if atc is not None:
            card["atc"] = atc
        return self._json("TxnEngine", {"evt": "card", "card": card})

    def result(self, f: _Facts) -> tuple[str, str]:
        obj: dict[str, Any] = {"evt": "end", "outcome": _ORBIT_OUTCOME[f.pop("status")], "invoice": f.pop("inv")}
        obj["stan"] = f.pop("stan")
        host = {k: v for k, v in (("rc", f.get("rc")), ("authCode", f.get("auth")), ("rrn", f.get("rrn"))) if v}
        if host:
            obj["host"] = host
        return self._json("TxnEngine", obj)

    def timeout(self, f: _Facts) -> tuple[str, str]:
        obj = {
            "evt": "timeout",
            "stan": f.pop("stan"),
            "waitedMs": int(f.pop("waited_ms")),
            "reversal": f.pop("reversal"),
        }
        return self._json("TxnEngine", obj)

    def cancel(self, f: _Facts) -> tuple[str, str]:
        return self._json("TxnEngine", {"evt": "cancel", "invoice": f.pop("inv"), "operator": {"id": f.pop("op")}})

    def connect(self, f: _Facts) -> tuple[str, str]:
        host = f.pop("host")
        self.link = int(host.removeprefix("acq"))
        status = f.word()
        obj: dict[str, Any] = {"evt": "connect", "result": {"ok": "connected", "fail": "failed"}[status]}
        if status == "ok":
            obj["latencyMs"] = int(f.pop("ms"))
        else:
            obj["error"] = f.pop("reason")
        return self._json(f"HostLink-{self.link}", obj)

    def iso(self, f: _Facts) -> tuple[str, str]:
        de: dict[str, Any] = {}
        for element, value in _iso_elements(f).items():
            head, _, sub = element.partition(".")
            if sub:
                de.setdefault(head, {})[sub] = value
            else:
                de[element] = value
        obj = {"evt": {"TX": "send", "RX": "recv"}[f.keyword], "mti": f.word(), "de": de}
        return self._json(f"HostLink-{self.link}", obj)

    def reversal(self, f: _Facts) -> tuple[str, str]:
        obj: dict[str, Any] = {"evt": {"SAVED": "saved", "SEND": "send", "DELETED": "cleared"}[f.keyword]}
        obj["stan"] = f.pop("stan")
        if f.keyword == "SEND":
            obj["attempt"] = int(f.pop("try"))
        if f.keyword == "DELETED":
            obj["cause"] = _ORBIT_DELETED[f.pop("reason")]
        return self._json("ReversalStore", obj)

    def saf_queued(self, f: _Facts) -> tuple[str, str]:
        advice = {
            "mti": f.pop("mti"),
            "stan": f.pop("stan"),
            "invoice": f.pop("inv"),
            "amount": self._money(f.pop("amount")),
        }
        return self._json("OfflineQueue", {"evt": "queued", "advice": advice, "depth": int(f.pop("depth"))})

    def saf_upload(self, f: _Facts) -> tuple[str, str]:
        host = {k: v for k, v in (("rc", f.pop("rc")), ("rrn", f.get("rrn"))) if v is not None}
        obj = {"evt": "uploaded", "advice": {"stan": f.pop("stan")}, "host": host, "depth": int(f.pop("depth"))}
        return self._json("OfflineQueue", obj)

    def settle(self, f: _Facts) -> tuple[str, str]:
        obj = {
            "evt": "close",
            "batch": f.pop("batch"),
            "count": int(f.pop("count")),
            "net": self._money(f.pop("total")),
        }
        return self._json("Settlement", obj)

    def settle_result(self, f: _Facts) -> tuple[str, str]:
        return self._json("Settlement", {"evt": "closed", "batch": f.pop("batch"), "host": {"rc": f.pop("rc")}})

    def batch_upload(self, f: _Facts) -> tuple[str, str]:
        return self._json("Settlement", {"evt": "upload", "stan": f.pop("stan"), "invoice": f.pop("inv")})

    def printer_status(self, f: _Facts) -> tuple[str, str]:
        code = f.pop("code")
        f.pop("text")  # the state word says it: PAX code 2 "Out of paper" is paper_out
        return self._json("PrinterSvc", {"evt": "status", "code": int(code), "state": _ORBIT_PRINTER[code]})

    def printed(self, f: _Facts) -> tuple[str, str]:
        obj = {"evt": "printed", "doc": f.word(), "invoice": f.pop("inv"), "copy": f.pop("copy"), "result": f.word()}
        return self._json("PrinterSvc", obj)

    def emv_error(self, f: _Facts) -> tuple[str, str]:
        m = _EMV_ERROR.fullmatch(f.keyword)
        assert m is not None
        obj = {"evt": "error", "ret": int(m["code"]), "name": m["name"], "retry": int(f.pop("retry"))}
        return self._json("EmvKernel", obj)

    def fallback(self, f: _Facts) -> tuple[str, str]:
        return self._json("EmvKernel", {"evt": "fallback", "to": _ORBIT_ENTRY[f.pop("to")]})

    def pin(self, f: _Facts) -> tuple[str, str]:
        if f.word() != "entered":
            raise ValueError(f"PinPad: {f.payload!r}")
        return self._json("PinEntry", {"evt": "pin", "digits": int(f.pop("len")), "blocks": int(f.pop("blocks"))})

    def login(self, f: _Facts) -> tuple[str, str]:
        return self._json("PosUi", {"evt": "login", "operator": {"id": f.pop("op")}})

    def menu(self, f: _Facts) -> tuple[str, str]:
        return self._json("PosUi", {"evt": "menu", "item": _ORBIT_MENU[f.pop("item")], "operator": {"id": f.pop("op")}})

    def key(self, f: _Facts) -> tuple[str, str]:
        obj = {"evt": "keyed", "amount": self._money(f.pop("amount")), "operator": {"id": f.pop("op")}}
        return self._json("PosUi", obj)

    def recover(self, f: _Facts) -> tuple[str, str]:
        obj = {"evt": "resume", "stage": _ORBIT_STAGE[f.pop("state")], "action": _ORBIT_ACTION[f.pop("action")]}
        return self._json("Recovery", obj)

    def identity(self, f: _Facts) -> tuple[str, str]:
        obj = {
            "evt": "identity",
            "device": {"serial": f.pop("serial")},
            "terminal": {"tid": f.pop("tid"), "mid": f.pop("mid")},
            "app": {"version": f.pop("app")},
        }
        return self._json("DeviceMgr", obj)

    def init(self, f: _Facts) -> tuple[str, str]:
        obj = {
            "evt": "provisioned",
            "device": {"serial": f.pop("serial")},
            "terminal": {"tid": f.pop("tid")},
            "counters": {"stan": f.pop("stan"), "invoice": f.pop("inv"), "batch": f.pop("batch")},
        }
        return self._json("DeviceMgr", obj)

    def param(self, f: _Facts) -> tuple[str, str]:
        what, result = f.word(), f.word()
        obj = {"evt": "params", "op": what, "result": result, "terminal": {"tid": f.pop("tid"), "mid": f.pop("mid")}}
        return self._json("DeviceMgr", obj)

    def release(self, f: _Facts) -> tuple[str, str]:
        obj = {"evt": "unbind", "device": {"serial": f.pop("serial")}, "terminal": {"tid": f.pop("tid")}}
        return self._json("DeviceMgr", obj)


# -- quill: sentences on Linux -------------------------------------------------------------------

_QUILL_TYPES = {
    "SALE": "Sale",
    "REFUND": "Refund",
    "VOID": "Void",
    "PREAUTH": "Pre-authorisation",
    "PREAUTH_COMPLETE": "Completion",
    "PREAUTH_VOID": "Pre-authorisation void",
    "TIP_ADJUST": "Tip adjustment",
    "BALANCE": "Balance enquiry",
}
_QUILL_ENTRY = {"chip": "chip", "contactless": "tap", "swipe": "swipe", "fallback": "fallback swipe", "manual": "keyed"}
_QUILL_SOURCE = {"keypad": "keyed in", "ecr": "from the till"}
_QUILL_OUTCOME = {"APPROVED": "approved", "DECLINED": "declined", "COMM_ERROR": "failed"}
_QUILL_DELETED = {
    "acked": "host acknowledged",
    "approved": "original approved",
    "max_retries": "retry limit reached",
    "operator_clear": "cleared by operator",
}
_QUILL_PRINTER = {
    "0": "ready",
    "1": "busy",
    "2": "out of paper",
    "4": "malfunction",
    "8": "overheated",
    "9": "voltage too low",
}
_QUILL_MENU = {"Clear Reversal": "Clear reversal", "Reprint Last": "Reprint last receipt"}
_QUILL_STAGE = {"BEGIN_SEND_ISO": "sending to host", "BEGIN_BATCH_UPDATE": "updating the batch"}
_QUILL_ACTION = {"none": "nothing to do", "reprint": "reprinting the receipt", "reversal": "sending a reversal"}


class Quill(Speaker):
    """Quill POS: a Linux app logging sentences, ``[Txn] Invoice 000045 approved (...)``, under one program."""

    def _say(self, tag: str, sentence: str) -> tuple[str, str]:
        return ("Quill" if self.android else "quilld"), f"[{tag}] {sentence}"

    def start(self, f: _Facts) -> tuple[str, str]:
        cur = f.pop("cur")
        parts = [f"{_QUILL_TYPES[f.pop('type')]} started: invoice {f.pop('inv')}, amount {cur} {f.pop('amount')}"]
        tip = f.get("tip")
        if tip is not None:
            parts.append(f"tip {cur} {tip}")
        orig_inv, orig_rrn = f.get("orig_inv"), f.get("orig_rrn")
        if orig_inv is not None:
            parts.append(f"original invoice {orig_inv}")
        if orig_rrn is not None:
            parts.append(f"original RRN {orig_rrn}")
        parts.append(f"operator {f.pop('op')}, amount {_QUILL_SOURCE[f.pop('src')]}")
        return self._say("Txn", ", ".join(parts))

    def card(self, f: _Facts) -> tuple[str, str]:
        sentence = f"Card read by {_QUILL_ENTRY[f.pop('entry')]}: {f.pop('pan')}"
        atc = f.get("atc")
        return self._say("Card", sentence + (f", ATC {atc}" if atc is not None else ""))

    def result(self, f: _Facts) -> tuple[str, str]:
        status, inv, stan = f.pop("status"), f.pop("inv"), f.pop("stan")
        details = [f"trace {stan}"]
        for key, words in (("rc", "response"), ("auth", "auth code"), ("rrn", "RRN")):
            value = f.get(key)
            if value:
                details.append(f"{words} {value}")
        return self._say("Txn", f"Invoice {inv} {_QUILL_OUTCOME[status]} ({', '.join(details)})")

    def timeout(self, f: _Facts) -> tuple[str, str]:
        seconds = int(f.pop("waited_ms")) / 1000
        if f.pop("reversal") != "pending":
            raise ValueError(f"TIMEOUT: {f.payload!r}")
        return self._say("Host", f"No response for trace {f.pop('stan')} after {seconds:g} s, reversal pending")

    def cancel(self, f: _Facts) -> tuple[str, str]:
        return self._say("Txn", f"Invoice {f.pop('inv')} cancelled by operator {f.pop('op')}")

    def connect(self, f: _Facts) -> tuple[str, str]:
        host = f.pop("host")
        if f.word() == "ok":
            return self._say("Host", f"Connected to {host} in {f.pop('ms')} ms")
        return self._say("Host", f"Cannot connect to {host}: {f.pop('reason')}")

    def iso(self, f: _Facts) -> tuple[str, str]:
        verb = {"TX": "Sent", "RX": "Received"}[f.keyword]
        mti = f.word()
        dump = " ".join(f"F{element}={value}" for element, value in _iso_elements(f).items())
        return self._say("Host", f"{verb} {mti} {dump}")

    def reversal(self, f: _Facts) -> tuple[str, str]:
        stan = f.pop("stan")
        if f.keyword == "SAVED":
            return self._say("Rev", f"Reversal saved for trace {stan}")
        if f.keyword == "SEND":
            return self._say("Rev", f"Sending reversal for trace {stan}, attempt {f.pop('try')}")
        return self._say("Rev", f"Reversal for trace {stan} dropped: {_QUILL_DELETED[f.pop('reason')]}")

    def saf_queued(self, f: _Facts) -> tuple[str, str]:
        sentence = (
            f"Advice {f.pop('mti')} queued: trace {f.pop('stan')}, invoice {f.pop('inv')}, amount {f.pop('amount')}, "
            f"{f.pop('depth')} waiting"
        )
        return self._say("Offline", sentence)

    def saf_upload(self, f: _Facts) -> tuple[str, str]:
        stan, rc, rrn = f.pop("stan"), f.pop("rc"), f.get("rrn")
        sentence = f"Advice trace {stan} uploaded: response {rc}" + (f", RRN {rrn}" if rrn else "")
        return self._say("Offline", f"{sentence}, {f.pop('depth')} waiting")

    def settle(self, f: _Facts) -> tuple[str, str]:
        sentence = f"Closing batch {f.pop('batch')}: {f.pop('count')} items, net total {f.pop('total')}"
        return self._say("Settle", sentence)

    def settle_result(self, f: _Facts) -> tuple[str, str]:
        return self._say("Settle", f"Host answered {f.pop('rc')} to batch {f.pop('batch')}")

    def batch_upload(self, f: _Facts) -> tuple[str, str]:
        return self._say("Settle", f"Uploading trace {f.pop('stan')} (invoice {f.pop('inv')})")

    def printer_status(self, f: _Facts) -> tuple[str, str]:
        code = f.pop("code")
        f.pop("text")  # the vendor's own words for the code say it
        return self._say("Print", f"Printer error {code}: {_QUILL_PRINTER[code]}")

    def printed(self, f: _Facts) -> tuple[str, str]:
        document, inv, copy, result = f.word(), f.pop("inv"), f.pop("copy"), f.word()
        done = {"ok": "printed", "fail": "not printed"}[result]
        return self._say("Print", f"{copy.capitalize()} {document} for invoice {inv} {done}")

    def emv_error(self, f: _Facts) -> tuple[str, str]:
        m = _EMV_ERROR.fullmatch(f.keyword)
        assert m is not None
        return self._say("Card", f"Chip error {m['name']} ({m['code']}), retry {f.pop('retry')}")

    def fallback(self, f: _Facts) -> tuple[str, str]:
        return self._say("Card", f"Falling back to {_QUILL_ENTRY[f.pop('to')]}")

    def pin(self, f: _Facts) -> tuple[str, str]:
        if f.word() != "entered":
            raise ValueError(f"PinPad: {f.payload!r}")
        return self._say("Pin", f"PIN entered: {f.pop('len')} digits, {f.pop('blocks')} block")

    def login(self, f: _Facts) -> tuple[str, str]:
        return self._say("Operator", f"Operator {f.pop('op')} signed in")

    def menu(self, f: _Facts) -> tuple[str, str]:
        item = _QUILL_MENU[f.pop("item")]
        return self._say("Operator", f"Operator {f.pop('op')} chose '{item}'")

    def key(self, f: _Facts) -> tuple[str, str]:
        return self._say("Operator", f"Operator {f.pop('op')} keyed amount {f.pop('amount')}")

    def recover(self, f: _Facts) -> tuple[str, str]:
        stage, action = _QUILL_STAGE[f.pop("state")], _QUILL_ACTION[f.pop("action")]
        return self._say("Recovery", f"Power failure while {stage}: {action}")

    def identity(self, f: _Facts) -> tuple[str, str]:
        sentence = f"Terminal {f.pop('serial')} is TID {f.pop('tid')}, MID {f.pop('mid')}, software {f.pop('app')}"
        return self._say("Mgmt", sentence)

    def init(self, f: _Facts) -> tuple[str, str]:
        sentence = (
            f"Terminal {f.pop('serial')} set up as TID {f.pop('tid')}: trace {f.pop('stan')}, "
            f"invoice {f.pop('inv')}, batch {f.pop('batch')}"
        )
        return self._say("Mgmt", sentence)

    def param(self, f: _Facts) -> tuple[str, str]:
        what, result = f.word(), f.word()
        if what != "download":
            raise ValueError(f"PARAM: {f.payload!r}")
        done = {"ok": "done", "fail": "failed"}[result]
        return self._say("Mgmt", f"Parameter download {done} for TID {f.pop('tid')}, MID {f.pop('mid')}")

    def release(self, f: _Facts) -> tuple[str, str]:
        return self._say("Mgmt", f"TID {f.pop('tid')} released by terminal {f.pop('serial')}")


@dataclass(frozen=True)
class Vendor:
    """A terminal app's logging style: its name, its home platform and how it says the reference facts."""

    name: str
    title: str
    platform: str  # "logcat" or "syslog": where the app usually runs (volume mode's default)
    speaker: type[Speaker] | None  # None: the reference app itself


VENDORS: dict[str, Vendor] = {
    v.name: v
    for v in (
        Vendor("reference", "the reference app (spec section 2): TAG: KEYWORD key=value", "logcat", None),
        Vendor(
            "orbit", "Orbit Pay (Android): one JSON object per line, minor units, numeric currency", "logcat", Orbit
        ),
        Vendor("quill", "Quill POS (Linux): [Tag] sentences, ISO dumps as F4=...", "syslog", Quill),
    )
}


def vendor(name: str) -> Vendor:
    """The vendor style ``name``; ValueError naming the known ones otherwise."""
    if name not in VENDORS:
        raise ValueError(f"unknown vendor {name!r}; known: {', '.join(VENDORS)}")
    return VENDORS[name]
