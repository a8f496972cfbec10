"""EMV data in ISO 8583 field 55: BER-TLV, read wherever it is logged."""

from __future__ import annotations

import functools
import tomllib
from importlib.resources import files
from typing import Any


def emv_tlv(hex_text: str, whole: bool = False) -> dict[str, str]:
    """Top-level BER-TLV tags of an EMV DE55 hex string ({"9F36": "001A"}); {} if not TLV (with
    ``whole``, also when any byte is left over or a tag is cut: the tags read only if they are all)."""
    try:
        data = bytes.fromhex(hex_text.strip())
    except ValueError:
        return {}
    out: dict[str, str] = {}
    i = 0
    while i < len(data):
        start = i
        if data[i] & 0x1F == 0x1F:
            i += 1
            while i < len(data) and data[i] & 0x80:
                i += 1
        i += 1
        if i >= len(data):
            return {} if whole else out
        tag = data[start:i].hex().upper()
        length = data[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[i : i + n], "big")
            i += n
        if i + length > len(data):
            return {} if whole else out
        out[tag] = data[i : i + length].hex().upper()
        i += length
    return out


@functools.cache
def _table() -> dict[str, Any]:
    return tomllib.loads(files("forensics").joinpath("data/emv.toml").read_text(encoding="utf-8"))


#: Tags whose bits or bytes ``emv_words`` says in words.
SAID = ("95", "9B", "9F34")


def emv_words(tags: dict[str, str]) -> str | None:
    """A DE55 in words, for the analyst: each tag by name with its value (card data by name only),
    the TVR and TSI bits set and the CVM Results (forensics/data/emv.toml). None unless the TLV
    holds one of them (``SAID``)."""
    if not any(tag in tags for tag in SAID):
        return None
    table = _table()
    parts = []
    for tag, value in tags.items():
        name = table["names"].get(tag, "unknown tag")
        if tag in table["card"]:
            parts.append(f"{tag} {name}")
            continue
        said = (
            _bits(table["bits"][tag], value)
            if tag in table["bits"]
            else _cvm(table["cvm"], value)
            if tag == "9F34"
            else ""
        )
        parts.append(f"{tag} {name} {value}" + (f" ({said})" if said else ""))
    return "; ".join(parts)


def _bits(meanings: dict[str, str], value: str) -> str:
    """The meanings of the bits set in ``value`` (hex), "none set" when none is."""
    try:
        data = bytes.fromhex(value)
    except ValueError:
        return ""
    said = [
        meanings[f"{byte + 1}.{bit}"]
        for byte, octet in enumerate(data)
        for bit in range(8, 0, -1)
        if octet & (1 << (bit - 1)) and f"{byte + 1}.{bit}" in meanings
    ]
    return ", ".join(said) if said else "none set"


def _cvm(table: dict[str, dict[str, str]], value: str) -> str:
    """CVM Results: method (and whether a failure goes on to the next), condition, result."""
    if len(value) != 6:
        return ""
    method, condition, result = value[:2], value[2:4], value[4:]
    code = f"{int(method, 16) & 0x3F:02X}" if all(c in "0123456789ABCDEFabcdef" for c in method) else method
    words = [
        table["method"].get(code, f"method {code}"),
        table["condition"].get(condition.upper(), f"condition {condition}"),
        table["result"].get(result, f"result {result}"),
    ]
    return ", ".join(words)
