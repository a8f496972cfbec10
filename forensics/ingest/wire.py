"""ISO 8583 wire dumps: messages a terminal app logs as their packed bytes, decoded through a
declared field spec.

A dialect file's ``[[wire]]`` tables say where a dump stands in a record (``match``, group
``dump``), how it is written (``encoding``: ``hex``, spaces between bytes allowed, or ``text``,
the message's own characters) and which field spec reads it (``spec``: a name of
``forensics/data/iso8583_wire.toml``, whose specs start from pyiso8583's starter specs; ``fields``
changes fields one by one). Before the card guard sees a record, each dump in it is decoded with
pyiso8583 and replaced by the ``MTI DE<n>=value`` dump the dialect rules read (the reference
dialect's ``Comm: TX`` form), so the card guard masks or wipes its card data (DE2, DE35, DE45,
DE52, DE55 tags 5A and 57) exactly as in plain text. A dump that does not decode is replaced by
``[WIPED]`` (it may hold card data nobody could find) and the record is unparsed with
pyiso8583's reason, which names the field and the byte position.
"""

from __future__ import annotations

import copy
import functools
import re
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import iso8583
import iso8583.specs

from forensics.errors import DialectError
from forensics.ingest.emv import emv_tlv
from forensics.ingest.pan import is_pan

WIPED = "[WIPED]"
ENCODINGS = ("hex", "text", "hexdump")
_KEYS = {"match", "spec", "encoding", "fields", "sample", "kept"}
#: a hexdump line (offset, up to 16 bytes in hex, the bytes as characters): group 1 the hex column
_HEXDUMP_LINE = re.compile(r"[ \t]*[0-9A-Fa-f]{4,8}  ([0-9A-Fa-f]{2}(?:  ?[0-9A-Fa-f]{2}){0,15})(?: .*)?")
_SAMPLE_KEYS = {"dump", "expect"}
#: a message written as XML (jPOS XMLPackager), maybe behind a length prefix of up to 4 bytes
_XML_MESSAGE = re.compile(rb"^[\x00-\xff]{0,4}?\s*<isomsg[\s>]")
#: pyiso8583's field spec keys a declaration may set, with their TOML types.
_FIELD_KEYS: dict[str, type | tuple[type, ...]] = {
    "data_enc": str,
    "len_enc": str,
    "len_type": int,
    "max_len": int,
    "len_count": str,
    "left_pad": str,
    "right_pad": str,
    "desc": str,
}
#: Elements never written as one DE<n>= value: the header, MTI and bitmaps.
_NOT_ELEMENTS = {"h", "t", "p", "1"}
#: EMV tags in DE55 holding card data the card guard has no context for (track 1 equivalent,
#: cardholder name, track discretionary data, contactless track 2): wiped here. 5A and 57 are left to
#: the guard's DE55.5A= and DE55.57= contexts (masked and wiped, each a compliance row).
_EMV_WIPED = {"56", "5F20", "9F1F", "9F20", "9F6B"}
#: Track and PIN elements: written as one word, which the guard's DE35=, DE45= and DE52= contexts
#: wipe whole (each a compliance row).
_ONE_WORD = {"35", "45", "52"}
_NOT_ONE_WORD = re.compile(r'[\s"*_]')
#: Elements the card guard reads by their own context (DE2 masked; ids left alone: STAN, institution
#: ids, RRN, TID, MID, as cards.ID_FIELDS).
_OWN_CONTEXT = {"2", "11", "32", "33", "37", "41", "42"}
#: An EMV application PAN as the guard's DE55.5A= context masks it.
_EMV_PAN = re.compile(r"\d{13,19}F?")
_DIGIT_RUN = re.compile(r"\d{13,}")
_DIGITS = re.compile(r"\d{12,19}")


def _hides_pan(value: str) -> bool:
    """True when ``value`` holds 13 to 19 digits in a row that may be a card number, whatever is
    glued to them (a hex dump's value the card guard would take for a longer number or a hash)."""
    for run in _DIGIT_RUN.findall(value):
        for size in range(13, min(19, len(run)) + 1):
            if any(is_pan(run[i : i + size]) for i in range(len(run) - size + 1)):
                return True
    return False


_PLAIN = re.compile(r'[^\s"\\]+')


@dataclass(frozen=True)
class Wire:
    """One declared wire dump: where it stands, how it is written, the spec that reads it."""

    where: str
    match: re.Pattern[str]
    spec_name: str
    encoding: str
    spec: dict[str, dict[str, Any]] = field(repr=False)
    #: a dump that does not decode leaves its record read (the dump as written, for the card guard),
    #: the reason in the event's ``attrs.undecoded``
    kept: bool = False

    @property
    def screen(self) -> str:
        """``match`` with the dump's group unnamed (the card screen keeps such lines off the fast path)."""
        return self.match.pattern.replace("(?P<dump>", "(?:")

    def decode(self, dump: str) -> dict[str, str]:
        """The fields of one dump ("t" the MTI, "2".. the elements); ValueError (pyiso8583's
        DecodeError among them) when it does not decode."""
        return _decode(self, dump)


@functools.cache
def _specs() -> dict[str, dict[str, Any]]:
    return tomllib.loads(files("forensics").joinpath("data/iso8583_wire.toml").read_text(encoding="utf-8"))["spec"]


def spec_names() -> list[str]:
    """The field specs a ``[[wire]]`` may name."""
    return sorted(_specs())


def _changed(where: str, spec: dict[str, dict[str, Any]], fields: Any) -> dict[str, dict[str, Any]]:
    """``spec`` with ``fields`` (field -> {pyiso8583 key: value}) applied, checked."""
    if not isinstance(fields, dict):
        raise DialectError(f"{where}: field 'fields': must be a table of field = {{ key = value }}")
    for element, keys in fields.items():
        if element not in spec and not (element.isdigit() and 2 <= int(element) <= 128):
            raise DialectError(f"{where}: field 'fields.{element}': not an ISO 8583 field (t, p, 2..128)")
        if not isinstance(keys, dict):
            raise DialectError(f"{where}: field 'fields.{element}': must be a table of pyiso8583 spec keys")
        for key, value in keys.items():
            if key not in _FIELD_KEYS:
                keys_known = ", ".join(_FIELD_KEYS)
                raise DialectError(f"{where}: field 'fields.{element}.{key}': not a spec key ({keys_known})")
            if not isinstance(value, _FIELD_KEYS[key]) or isinstance(value, bool):
                raise DialectError(f"{where}: field 'fields.{element}.{key}': must be a {_FIELD_KEYS[key].__name__}")
        base = spec.get(element, {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 1})
        spec[element] = {**base, **keys, "desc": keys.get("desc", base.get("desc", f"field {element}"))}
    return spec


@functools.cache
def named_spec(name: str) -> dict[str, dict[str, Any]]:
    """A field spec of iso8583_wire.toml, built on its pyiso8583 starter spec."""
    raw = _specs()[name]
    where = f"iso8583_wire.toml: spec {name!r}"
    base = getattr(iso8583.specs, raw.get("base", ""), None)
    if not isinstance(base, dict):
        raise DialectError(f"{where}: field 'base': not a pyiso8583 starter spec ('default', 'default_ascii')")
    return _changed(where, copy.deepcopy(base), raw.get("fields", {}))


def read_wire(where: str, raw: Any) -> Wire:
    """A dialect's ``[[wire]]`` table, checked (its samples decoded)."""
    if not isinstance(raw, dict):
        raise DialectError(f"{where}: must be a table ([[wire]])")
    unknown = set(raw) - _KEYS
    if unknown:
        raise DialectError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    pattern = raw.get("match")
    if not isinstance(pattern, str):
        raise DialectError(f"{where}: field 'match' is required (a regular expression with a group 'dump')")
    try:
        match = re.compile(pattern)
    except re.error as exc:
        raise DialectError(f"{where}: field 'match': bad regular expression: {exc}") from exc
    if "dump" not in match.groupindex:
        raise DialectError(f"{where}: field 'match': no group 'dump' (where the message's bytes stand)")
    name = raw.get("spec")
    if name not in _specs():
        known = ", ".join(spec_names())
        raise DialectError(f"{where}: field 'spec': {name!r} is not a spec of iso8583_wire.toml ({known})")
    encoding = raw.get("encoding", "hex")
    if encoding not in ENCODINGS:
        raise DialectError(f"{where}: field 'encoding': must be one of {', '.join(ENCODINGS)}, not {encoding!r}")
    spec = _changed(where, copy.deepcopy(named_spec(name)), raw.get("fields", {}))
    if not isinstance(raw.get("kept", False), bool):
        raise DialectError(f"{where}: field 'kept': must be true or false")
    wire = Wire(where, match, name, encoding, spec, raw.get("kept", False))
    for j, sample in enumerate(raw.get("sample", []), start=1):
        if not isinstance(sample, dict) or set(sample) - _SAMPLE_KEYS or not isinstance(sample.get("dump"), str):
            raise DialectError(f"{where}: sample {j}: fields are 'dump' (a string) and 'expect' (field = value)")
        try:
            got = wire.decode(sample["dump"])
        except ValueError as exc:
            raise DialectError(f"{where}: sample {j}: does not decode: {exc}") from None
        for element, want in sample.get("expect", {}).items():
            if got.get(element) != want:
                raise DialectError(f"{where}: sample {j}: field {element} is {got.get(element)!r}, expected {want!r}")
    return wire


def _bytes(wire: Wire, dump: str) -> bytes:
    if wire.encoding == "text":
        return dump.encode("latin-1")
    if wire.encoding == "hexdump":
        lines = [_HEXDUMP_LINE.fullmatch(line.rstrip("\r")) for line in dump.rstrip("\n").split("\n")]
        if not all(lines):
            raise ValueError("a line of the dump is not offset, hex bytes, characters")
        return bytes.fromhex("".join(m.group(1).replace(" ", "") for m in lines if m))
    digits = "".join(dump.split())
    if len(digits) % 2:
        raise ValueError(f"{len(digits)} hex digits, an odd number: not whole bytes")
    return bytes.fromhex(digits)


def _decode(wire: Wire, dump: str) -> dict[str, str]:
    try:
        data = _bytes(wire, dump)
    except UnicodeEncodeError:
        raise ValueError("characters outside one byte each") from None
    if _XML_MESSAGE.match(data):
        raise ValueError("an XML message (jPOS XMLPackager: <isomsg> as text on the wire), not ISO 8583 packed fields")
    decoded, _ = iso8583.decode(data, wire.spec)
    return decoded


def _value(value: str) -> str:
    """A field value as a logfmt value (quoted, escaped, when it is not one plain word)."""
    if _PLAIN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group(0)):02x}", escaped) + '"'


def render(decoded: dict[str, str]) -> str:
    """A decoded message as ``MTI DE<n>=value ...`` (elements in number order), in the forms the
    card guard reads: DE55 by tag only (``DE55.5A=``, ``DE55.9F36=``; other card data tags and a
    DE55 that is not whole BER-TLV wiped), and track and PIN data as one word."""
    parts = [decoded.get("t", "")]
    for element in sorted((k for k in decoded if k not in _NOT_ELEMENTS), key=int):
        value = decoded[element]
        if element == "55":
            tags = emv_tlv(value, whole=True)
            if not tags:
                parts.append(f"DE55={WIPED}")  # not TLV throughout: card data in it could not be found
            for tag, v in tags.items():
                if tag == "5A":  # masked by the guard when it is a card number, else not shown
                    wipe = not _EMV_PAN.fullmatch(v)
                else:  # 57 is wiped whole by the guard
                    wipe = tag != "57" and (tag in _EMV_WIPED or _hides_pan(v))
                parts.append(f"DE55.{tag}={WIPED if wipe else v}")
        elif element == "2" and not _DIGITS.fullmatch(value):
            parts.append(f"DE2={WIPED}")  # not a card number the guard would mask: none of it shown
        elif element in _ONE_WORD:
            # one word the guard wipes whole; a value it would pass over (blanks, quotes, a mask's
            # "*" or "_") is wiped here
            parts.append(f"DE{element}=" + (WIPED if _NOT_ONE_WORD.search(value) or not value else value))
        elif element not in _OWN_CONTEXT and _hides_pan(value):
            parts.append(f"DE{element}={WIPED}")  # a card number glued to other characters
        else:
            parts.append(f"DE{element}={_value(value)}")
    return " ".join(p for p in parts if p)


def rewrite(wires: tuple[Wire, ...], text: str) -> tuple[str, str | None, list[str]]:
    """``text`` with each declared dump in it decoded and replaced by its ``DE<n>=`` dump; the
    reason when one does not decode (that dump is then ``[WIPED]``), and the reasons of the
    ``kept`` dumps that do not decode (left as written, their record read)."""
    reasons: list[str] = []
    kept: list[str] = []
    for wire in wires:

        def replace(m: re.Match[str], wire: Wire = wire) -> str:
            dump = m.group("dump")
            if dump is None:
                return m.group(0)
            try:
                new = render(_decode(wire, dump)) + "\n" * dump.endswith("\n")
            except ValueError as exc:
                reason = f"ISO 8583 dump (spec {wire.spec_name}) does not decode: {exc}"
                if wire.kept:
                    kept.append(reason)
                    return m.group(0)
                new = WIPED
                reasons.append(reason)
            start, end = m.span("dump")
            return m.group(0)[: start - m.start(0)] + new + m.group(0)[end - m.start(0) :]

        text = wire.match.sub(replace, text)
    return text, "; ".join(reasons) or None, kept
