"""Card data protection at ingest: mask PANs, wipe track and PIN data, key a card id.

Runs on a record's raw text before it is parsed, so no column, table or error message can
hold a full card number. Each full PAN, track or PIN block seen becomes a compliance record.
PCI DSS v4.0.1 req. 3.3.1 (no sensitive authentication data after authorization), 3.4.1
(first 6 / last 4 at most when displayed), 3.5.1.1 (keyed hashes).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from forensics.ingest.envelopes import emv_tlv
from forensics.ingest.fastpath import strip_lookarounds

WIPED = "[WIPED]"

# (field name, pattern with group "v", action). Contexts are where card data is written:
# key=value payloads, ISO 8583 DEn= fields, jPOS <field id="n" value="..."/>.
_CONTEXTS: tuple[tuple[str, str, str], ...] = (
    ("pan", r"\bpan=(?P<v>\d{13,19})(?!\d)", "mask"),
    ("DE2", r"\bDE2=(?P<v>\d{13,19})(?!\d)", "mask"),
    ("DE55.5A", r"\bDE55\.5A=(?P<v>\d{13,19})F?(?![\dA-F])", "mask"),
    ("field 2", r'<field id="2" value="(?P<v>\d{13,19})"', "mask"),
    ("DE35", r"\bDE35=(?P<v>[^\s\"]+)", "track"),
    ("track2", r"\btrack2=(?P<v>[^\s\"]+)", "track"),
    ("DE45", r"\bDE45=(?P<v>[^\s\"]+)", "track"),
    ("DE55.57", r"\bDE55\.57=(?P<v>[^\s\"]+)", "track"),
    ("field 35", r'<field id="35" value="(?P<v>[^"]+)"', "track"),
    ("field 45", r'<field id="45" value="(?P<v>[^"]+)"', "track"),
    ("DE55", r"\bDE55=(?P<v>[0-9A-Fa-f]{4,})", "tlv"),
    ("field 55", r'<field id="55" value="(?P<v>[0-9A-Fa-f]{4,})"', "tlv"),
    ("DE52", r"\bDE52=(?P<v>[^\s\"]+)", "pin"),
    ("pinblock", r"\bpinblock=(?P<v>[^\s\"]+)", "pin"),
    ("field 52", r'<field id="52" value="(?P<v>[^"]+)"', "pin"),
)
_KIND = {"mask": "full_pan", "track": "track_data", "pin": "pin_block"}
# EMV tags holding card data inside DE55: 5A application PAN, 57 track 2 equivalent.
_EMV_CARD_TAGS = {"5A": "full_pan", "57": "track_data"}
# Already-masked PANs in any fill (jPOS ProtectedLogListener writes "_"): one format out.
_MASKED = re.compile(r"(?<![\dA-Za-z])(\d{6})([*_Xx#]{3,9})(\d{4})(?![\dA-Za-z])")
_PAN_IN_TRACK = re.compile(r"^;?%?B?(\d{13,19})")
_QUICK = re.compile(r"pan=\d|DE2=\d|DE5|field id=\"55\"|DE35|DE45|track2|pinblock|field id=\"(?:2|35|45|52)\"|\d{6}[*_Xx#]{3}")


@dataclass(frozen=True)
class Sighting:
    """One piece of card data found in a record."""

    kind: str
    field: str
    masked: str


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits kept, the rest as ``*``."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class CardGuard:
    """Masks card data in record text and keys card ids with one secret per run or case."""

    def __init__(self, key: bytes | str | None = None, extra_contexts: dict[str, str] | None = None):
        if key is None:
            env = os.environ.get("FORENSICS_CARD_KEY")
            key = env.encode() if env else os.urandom(32)
        self._key = key.encode() if isinstance(key, str) else key
        contexts = list(_CONTEXTS)
        for name, pattern in (extra_contexts or {}).items():
            contexts.append((name, pattern, "mask"))
        self._contexts = [(name, re.compile(p, re.MULTILINE), action) for name, p, action in contexts]
        self._always = bool(extra_contexts)

    @property
    def key(self) -> bytes:
        """The secret keying card ids (handed to worker processes; never written anywhere)."""
        return self._key

    def with_contexts(self, extra: dict[str, str]) -> CardGuard:
        """The same key with format-specific PAN contexts added."""
        return CardGuard(self._key, extra)

    def protect(self, text: str) -> tuple[str, list[Sighting]]:
        """Return ``text`` with card data masked or wiped, and what was found."""
        if not self._always and not _QUICK.search(text):
            return text, []
        found: list[Sighting] = []
        for name, pattern, action in self._contexts:
            text = pattern.sub(functools.partial(self._replace, name=name, action=action, found=found), text)
        text = _MASKED.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)
        return text, found

    @staticmethod
    def _replace(m: re.Match[str], name: str, action: str, found: list[Sighting]) -> str:
        value = m.group("v")
        if value == WIPED or "*" in value or "_" in value:
            return m.group(0)
        if action == "mask":
            replacement = mask_pan(value)
            found.append(Sighting(_KIND[action], name, replacement))
        elif action == "tlv":
            tags = emv_tlv(value)
            leaked = [tag for tag in _EMV_CARD_TAGS if tag in tags]
            if not leaked:
                return m.group(0)
            for tag in leaked:
                found.append(Sighting(_EMV_CARD_TAGS[tag], f"{name}.{tag}", _track_mask(tags[tag].replace("D", "="))))
            replacement = WIPED
        else:
            replacement = WIPED
            found.append(Sighting(_KIND[action], name, _track_mask(value) if action == "track" else WIPED))
        start, end = m.span("v")
        return m.group(0)[: start - m.start(0)] + replacement + m.group(0)[end - m.start(0) :]

    def card_id(self, masked: str | None) -> str | None:
        """Keyed HMAC-SHA256 of a masked card number: equal cards give equal ids in one case."""
        if not masked:
            return None
        return self._card_id(masked)

    @functools.lru_cache(maxsize=1 << 16)  # noqa: B019 (one guard per load; the cache dies with it)
    def _card_id(self, masked: str) -> str:
        digest = hmac.new(self._key, masked.encode(), hashlib.sha256).hexdigest()
        return digest[:16]


def _track_mask(track: str) -> str:
    pan = _PAN_IN_TRACK.match(track)
    return mask_pan(pan.group(1)) if pan else WIPED


def screen_pattern() -> str:
    """A lookaround-free regular expression matching every line ``protect`` could change or
    report on (a superset: the fast path leaves such lines to the per-record path)."""
    alternatives = [strip_lookarounds(p).replace("(?P<v>", "(?:") for _, p, _ in _CONTEXTS]
    # a masked PAN whose fill is not all '*' (protect() rewrites it); fill length left open
    alternatives.append(r"(?:^|[^0-9A-Za-z])\d{6}\**[_Xx#][*_Xx#]*\d{4}(?:[^0-9A-Za-z]|$)")
    return "|".join(f"(?:{a})" for a in alternatives)
