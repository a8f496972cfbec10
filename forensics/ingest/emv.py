"""EMV data in ISO 8583 field 55: BER-TLV, read wherever it is logged."""

from __future__ import annotations


def emv_tlv(hex_text: str) -> dict[str, str]:
    """Top-level BER-TLV tags of an EMV DE55 hex string ({"9F36": "001A"}); {} if not TLV."""
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
            return out
        tag = data[start:i].hex().upper()
        length = data[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[i : i + n], "big")
            i += n
        if i + length > len(data):
            return out
        out[tag] = data[i : i + length].hex().upper()
        i += length
    return out
