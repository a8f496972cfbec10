"""jPOS Q2 log (jpos.lark): a <log> block read as a flat run of tags, given its meaning here:
ISO 8583 fields (nested isomsg as ``55.9F36``-style paths, EMV TLV in field 55), timeouts,
disconnects, exceptions. ``blocks.JposBlocks`` is the column twin for plain blocks."""

from __future__ import annotations

import re
from typing import Any

from forensics.ingest.emv import emv_tlv, emv_words
from forensics.ingest.envelopes import Envelope, text
from forensics.money import currency

from .blocks import EVENT_KINDS, JposBlocks

#: jPOS CMF DE4: ISO 4217 numeric currency, exponent, 12-digit amount
_CMF = re.compile(r"(\d{3})(\d)(\d{12})")
_ATTR = re.compile(r'([\w.:-]+)="([^"]*)"')
_TAG_NAME = re.compile(r"</?([A-Za-z][\w.:-]*)")
#: the bytes after "--- data ---" as the jpos dialect's [[wire]] decodes them: "MTI DE<n>=value ..."
_DECODED = re.compile(r'(\d{4})((?: DE\d+(?:\.[0-9A-Z]+)?=(?:"(?:[^"\\]|\\.)*"|\S+))*)')
_DECODED_FIELD = re.compile(r' DE(\d+(?:\.[0-9A-Z]+)?)=("(?:[^"\\]|\\.)*"|\S+)')
#: tags whose body is a stack trace or a message, not tags ("<init>" is a Java frame)
_TEXT_TAGS = ("exception", "iso-exception")


class Jpos(Envelope):
    """A <log> block -> event columns, with ``_iso`` (ISO fields) and ``_attrs`` for the registry."""

    def start(self, c: list[Any]) -> dict[str, Any]:
        _prefix, log_open, *rest = c
        items = [item for item in rest if isinstance(item, tuple)]
        closed = any(getattr(t, "type", None) == "LOG_CLOSE" for t in rest)
        return interpret(dict(_ATTR.findall(text(log_open))), items, closed)

    def empty_tag(self, c: list[Any]) -> tuple[str, str]:
        return "empty", text(c[0])

    def open_tag(self, c: list[Any]) -> tuple[str, str]:
        return "open", text(c[0])

    def close_tag(self, c: list[Any]) -> tuple[str, str]:
        return "close", text(c[0])

    def comment(self, c: list[Any]) -> tuple[str, str]:
        return "comment", text(c[0])

    def text(self, c: list[Any]) -> tuple[str, str]:
        return "text", text(c[0])


def interpret(header: dict[str, str], items: list[tuple[str, str]], closed: bool) -> dict[str, Any]:
    """Give a <log> block's tags their meaning: ISO fields, timeouts, disconnects, exceptions."""
    fields: dict[str, str] = {}
    stack: list[str] = []
    isomsg_path: list[str] = []
    event_tag: str | None = None
    kind: str | None = None
    pieces: list[str] = []
    exception: str | None = None
    amount_currency: str | None = None
    messages = 0  # outer isomsgs seen: a transaction manager's context may hold a request and its response
    other_mti: list[str] = []
    repeated: list[str] = []  # fields written again with another value (interleaved writers, merge conflicts)
    for item_kind, raw in items:
        inside_text = next((tag for tag in _TEXT_TAGS if tag in stack), None)
        if item_kind == "text" or (inside_text and not raw.startswith(f"</{inside_text}")):
            pieces.append(raw)  # stack traces hold "<init>": inside <exception> tags are text
            continue
        if item_kind in ("open", "empty"):
            name = _TAG_NAME.match(raw).group(1)  # type: ignore[union-attr]
            attrs = dict(_ATTR.findall(raw))
            if event_tag is None:
                event_tag = name
            if name == "field" and "id" in attrs and messages > 1:
                if not isomsg_path[1:] and attrs["id"] == "0":  # the event is the first message's
                    other_mti.append(attrs.get("value", "").strip(" "))
            elif name == "field" and "id" in attrs:
                path = ".".join([*filter(None, isomsg_path), attrs["id"]])
                value = attrs.get("value", "").strip(" ")  # jPOS pads fixed fields (DE38, DE41, DE42)
                if fields.setdefault(path, value) != value:  # an isomsg holds a field once: the text is mixed
                    repeated.append(path)
                if path == "4" and "currency" in attrs:  # an ISOAmount: value in major units
                    amount_currency = attrs["currency"]
            elif name == "isomsg" and item_kind == "open":
                messages += not isomsg_path
                isomsg_path.append(attrs.get("id", "") if isomsg_path else "")
            elif name == "io-timeout":
                kind = "host.timeout"
            elif name == "peer-disconnect":
                kind = kind or "host.disconnect"
            elif name == "exception":
                kind = kind or "host.error"
                exception = attrs.get("name")
            elif name == "iso-exception":  # a message that could not be packed or unpacked
                kind = kind or "host.error"
            if item_kind == "open":
                stack.append(name)
        elif item_kind == "close":
            name = _TAG_NAME.match(raw).group(1)  # type: ignore[union-attr]
            if name == "isomsg" and isomsg_path:
                isomsg_path.pop()
            if name in stack:
                while stack and stack.pop() != name:
                    pass
    texts = [line.strip() for line in "".join(pieces).splitlines() if line.strip()]
    attrs: dict[str, Any] = {}
    if not fields and (data := _data_fields(texts)):  # no message but the bytes jPOS could not unpack, decoded
        fields = data
        attrs["decoded"] = "--- data ---"
    if "4" in fields:
        fields["4"], amount_currency = amount(fields["4"], amount_currency)
        if amount_currency is not None and fields.setdefault("49", amount_currency) != amount_currency:
            attrs["DE4_currency"] = amount_currency
    if "55" in fields:
        tags = emv_tlv(fields["55"])
        fields.update({f"55.{tag}": value for tag, value in tags.items()})
        words = emv_words(tags)
        if words:
            attrs["emv"] = words
    out: dict[str, Any] = {
        "ts_raw": header.get("at"),
        "host": header.get("realm"),
        "tag": event_tag,
        "kind": kind or EVENT_KINDS.get(event_tag or "", "host.log"),
    }
    if "lifespan" in header:
        attrs["lifespan_ms"] = header["lifespan"].removesuffix("ms").strip()
    if exception:
        attrs["exception"] = exception
    if not closed:
        attrs["truncated"] = "true"
    if other_mti:
        attrs["other_mti"] = ",".join(other_mti)
    if repeated:
        attrs["repeated_fields"] = ",".join(repeated)
    message = "\n".join(texts) if texts else None
    if exception and not message:
        message = exception
    out["message"] = message
    out["_iso"] = fields
    out["_attrs"] = attrs
    return out


def _data_fields(texts: list[str]) -> dict[str, str]:
    """The ISO fields of the decoded ``--- data ---`` line among a block's text lines ("0" the MTI)."""
    for before, line in zip(texts, texts[1:], strict=False):
        m = _DECODED.fullmatch(line) if before == "--- data ---" else None
        if m is not None:
            fields = {"0": m.group(1)}
            for element, value in _DECODED_FIELD.findall(m.group(2)):
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                fields[element] = value
            return fields
    return {}


def amount(value: str, currency_code: str | None) -> tuple[str, str | None]:
    """DE4 as jPOS writes it -> (its text for the ``amount:minor`` column, its currency if it says).

    ``000000001250`` (ISO: minor units) stays; ``12.50`` (an ISOAmount, or a decimal) is major units;
    ``8582000000001250`` (jPOS CMF: currency, exponent, amount) gives minor units of currency 858
    when its exponent is the currency's, else the major amount it means.
    """
    cmf = _CMF.fullmatch(value)
    if currency_code is not None or cmf is None:
        return value, currency_code
    code, exponent, digits = cmf.group(1), int(cmf.group(2)), int(cmf.group(3))
    known = currency(code)
    if known is not None and known.exponent == exponent:
        return str(digits), code
    if exponent == 0:
        return f"{digits}.0", code
    return f"{digits // 10**exponent}.{digits % 10**exponent:0{exponent}d}", code


TRANSFORMER = Jpos
#: the column twin of plain blocks (the fast path's)
BLOCK_TWIN = JposBlocks
