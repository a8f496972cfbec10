"""Card data protection at ingest: mask PANs, wipe track and PIN data, key a card id.

Runs on a record's raw text before it is parsed, so no column, table or error message can
hold a full card number. Each full PAN, track or PIN block seen becomes a compliance record.
Two layers: known contexts (``pan=``, ``DE2=``, and those a format declares: ``guard_contexts``) where any 13-19 digit
number is masked, Luhn-valid or not; and, anywhere else, the shape of card data itself: track
1 (``%B<PAN>^NAME^YYMM...?``) and track 2 (``;<PAN>=YYMM...?``) are wiped, and a run of 13-19
digits (alone, or grouped 4-4-4-4, 4-6-5 ... by one space or dash) that passes Luhn and does
not start with 0 is masked (zero-padded MIDs, RRNs and STANs stay; so do id fields).
Rules, gaps and false-positive figures: docs/card-data.md.
PCI DSS v4.0.1 req. 3.3.1 (no sensitive authentication data after authorization), 3.4.1
(first 6 / last 4 at most when displayed), 3.5.1.1 (keyed hashes).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import re._parser as _regex_parser  # the standard library's own reading of a pattern
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from re._constants import LITERAL as _LITERAL

from forensics.formats import declared
from forensics.ingest.dialect import iso_shapes
from forensics.ingest.embedded import guard_contexts as embedded_contexts
from forensics.ingest.emv import emv_tlv
from forensics.ingest.fastpath.compiler import strip_lookarounds
from forensics.ingest.pan import is_pan
from forensics.ingest.pan import luhn_ok as luhn_ok  # part of this module's interface

WIPED = "[WIPED]"
#: ISO 8583 fields that hold ids, never a card number (STAN, acquiring and forwarding institution,
#: RRN, TID, MID): the card guard leaves their digits alone, so the fast path may take them.
ID_FIELDS = ("11", "32", "33", "37", "41", "42")

# (field name, pattern with group "v", action). Contexts are where card data is written:
# key=value payloads, ISO 8583 DEn= fields, then those each format declares (``guard_contexts``
# in its format.toml: how it writes ISO fields).
_DIGITS = r"\d(?:[ -]?\d){12,18}"  # 13-19 digits, maybe split by single spaces or dashes
_CONTEXTS: tuple[tuple[str, str, str], ...] = (
    ("pan", r"(?i:\b(?:pan|card_?no|card_?num(?:ber)?|acct_?no))\"?\s*[=:]\s*\"?(?P<v>" + _DIGITS + r")(?!\d)", "mask"),
    ("PAN", r"\bPAN\s+(?P<v>" + _DIGITS + r")(?!\d)", "mask"),
    ("DE2", r"\bDE2=(?P<v>\d{13,19})(?!\d)", "mask"),
    ("DE55.5A", r"\bDE55\.5A=(?P<v>\d{13,19})F?(?![\dA-F])", "mask"),
    ("DE35", r"\bDE35=(?P<v>[^\s\"]+)", "track"),
    ("track2", r"\btrack2=(?P<v>[^\s\"]+)", "track"),
    ("DE45", r"\bDE45=(?P<v>[^\s\"]+)", "track"),
    ("DE55.57", r"\bDE55\.57=(?P<v>[^\s\"]+)", "track"),
    ("DE55", r"\bDE55=(?P<v>[0-9A-Fa-f]{4,})", "tlv"),
    ("DE52", r"\bDE52=(?P<v>[^\s\"]+)", "pin"),
    ("pinblock", r"\bpinblock=(?P<v>[^\s\"]+)", "pin"),
)


_NOT_IN_KEY = r"(?<![\w\[])"  # a shaped key is not the tail of a longer key


def _shaped(contexts: tuple[tuple[str, str, str], ...]) -> tuple[tuple[str, str, str], ...]:
    """The ``DE<n>=`` contexts again in every other ISO dump shape (iso8583.toml ``[shapes]``:
    ``F2=``, ``[2]=``, ``field 2=``), named by the key as logged."""
    out = []
    for name, pattern, action in contexts:
        element = name[2:]
        head = r"\bDE" + re.escape(element) + "="
        if not name.startswith("DE") or not pattern.startswith(head):
            continue
        for shape, template in iso_shapes().items():
            if shape != "DE":
                key = template.replace("{n}", element)
                out.append((key.rstrip("="), _NOT_IN_KEY + re.escape(key) + pattern[len(head) :], action))
    return tuple(out)


_SHAPED = _shaped(_CONTEXTS)
_CONTEXTS += _SHAPED
_GENERIC = len(_CONTEXTS)
_CONTEXTS += tuple(tuple(c) for spec in declared().values() for c in spec.get("guard_contexts", []))  # type: ignore[misc]
_CONTEXTS += tuple(embedded_contexts())  # library pretty-prints printed into any log (embedded.toml)
_KIND = {"mask": "full_pan", "card": "full_pan", "track": "track_data", "pin": "pin_block"}
# EMV tags holding card data inside DE55: 5A application PAN, 57 track 2 equivalent.
_EMV_CARD_TAGS = {"5A": "full_pan", "57": "track_data"}
# Already-masked PANs in any fill (jPOS ProtectedLogListener writes "_"): one format out.
_MASKED = re.compile(r"(?<![\dA-Za-z])(\d{6})([*_Xx#]{3,9})(\d{4})(?![\dA-Za-z])")
_PAN_IN_TRACK = re.compile(r"^;?%?B?(\d{13,19})")
# Card data by its shape, wherever it is. A digit or a hex letter next to a digit run means a
# longer number or a hash, an underscore before it an identifier (blk_123...), a dash before it
# a sign: not a card.
_TRACK1 = re.compile(r"(?P<s>%)?B(?P<pan>\d{13,19})\^[^^\r\n]{0,26}\^\d{4}[^?\s\"'<,;]*\??")
_TRACK2 = re.compile(r"(?<![0-9A-Za-z_-])(?P<s>;)?(?P<pan>\d{13,19})[=D]\d{4}[0-9A-Fa-f]*\??")
#: Lookaround-free superset of every card shape: 13 digits with optional single separators, the
#: first four together, not starting with 0, not after a digit or a decimal point; 13 digits in a
#: row after a number and a colon or comma (a CSV field, "DE2:"); or a track.
SHAPES = (
    r"(?:^|^[.:,]|[^0-9A-Fa-f_.:,-]|[^0-9][.:,]|\d[ -])[1-9]\d{3}(?:[ -]?\d){9}"
    r"|\d[:,][1-9]\d{12}|;\d{13}|%B\d|B[1-9]\d{12}"
)
_SCREEN = re.compile(SHAPES)
_RUN = re.compile(r"(?<![0-9A-Fa-f_-])\d(?:[ -]?\d)*(?![0-9A-Fa-f])")
_GROUP = re.compile(r"\d+")
# a clock time up to its seconds field: "10:02:"
_TIME_SO_FAR = re.compile(r"(?<!\d)\d{1,2}:\d{2}:$")
# ISO 8583 fields and names that by definition hold no card number (STAN, institution ids, RRN,
# TID, MID): a card-shaped number there is an id and stays.
_IDS = "|".join(ID_FIELDS)
_NOT_CARD = re.compile(
    "|".join(
        [spec["guard_ids"].replace("{ids}", _IDS) for spec in declared().values() if "guard_ids" in spec]
        + [rf"\b(?:DE(?:{_IDS})|(?i:mid|tid|rrn|stan|merchant_?id))=\d+"]
        + [
            re.escape(t.partition("{n}")[0]) + f"(?:{_IDS})" + re.escape(t.partition("{n}")[2]) + r"\d+"
            for shape, t in iso_shapes().items()
            if shape != "DE"
        ]
    )
)
# Cheap test: could this text hold anything protect() changes or reports?
_QUICK = re.compile(
    r"pan|PAN|DE2=\d|DE5|DE35|DE45|track2|pinblock|"
    r"\d{6}[*_Xx#]{3}|\d(?:[ -]?\d){12}|%B\d|(?i:card_?n|acct_?no)"
    + "".join("|" + pattern[: pattern.index("(?P<v>")] for _, pattern, _ in _CONTEXTS[_GENERIC:])
    + "".join("|" + pattern[len(_NOT_IN_KEY) : pattern.index("(?P<v>")] for _, pattern, _ in _SHAPED)
)

#: a hexdump line (jPOS ``ISOUtil.hexdump``, ``--- data ---`` in a block, and most others): offset,
#: up to 16 bytes in hex, then those bytes as characters (a card number may run on to the next line)
_HEXDUMP_LINE = re.compile(r"([ \t]*)([0-9A-Fa-f]{4,8})  ([0-9A-Fa-f]{2}(?:  ?[0-9A-Fa-f]{2}){0,15})(?: +(.*))?")
_HEXDUMP_START = re.compile(r"(?m)^[ \t]*0000(?:0000)?  [0-9A-Fa-f]{2} ")
#: a byte that may be a card number's length (13-19, as BCD or binary), then 13 BCD digits: the
#: lookaround-free shape of a card number packed in BCD in hex bytes, spaced or not; bytes not spaced
#: are hex only when a letter A-F is among them (a run of decimal digits is a number: an HDFS block id)
_BCD_LENGTH = r"(?:1[3-9]|0[DEFdef]|1[0-3])"
BCD_SHAPE = _BCD_LENGTH + r"(?:  ?\d\d){6}  ?\d|0[DEFdef]\d{13}|[A-Fa-f][0-9A-Fa-f]*1\d{14}|1\d{14}[0-9A-Fa-f]*[A-Fa-f]"
#: a card number's track 2 packed in BCD, whatever its length byte says: 12 or more digits, the separator
#: nibble D, the expiry (``47 61 73 90 01 01 00 10 D2 41 22 01``)
_BCD_TRACK_SHAPE = r"\d\d(?:  ?\d\d){5}  ?(?:\d[Dd]  ?\d\d  ?\d|[Dd]\d  ?\d\d)|\d{12}[Dd]\d{4}"
#: hex bytes of a card number written as characters: 12 digit characters (bytes 30-39) in a row
ASCII_HEX_SHAPE = r"3\d(?:  ?3\d){11}"
#: the fast path's second card screen, run on its own: joined to ``screen_pattern``'s expression it pushed
#: Polars' regex engine off its fast automaton (a jPOS host log's screen 0.06 s -> 2.5 s per 50,000 lines)
HEX_SCREEN = f"{_BCD_TRACK_SHAPE}|{ASCII_HEX_SHAPE}"
_HEX_SCREEN = re.compile(f"{BCD_SHAPE}|{HEX_SCREEN}")
#: hex bytes written one by one (a hexdump's hex column: one or two spaces between them) or in one run
#: holding a letter A-F
_HEX_BYTES = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-Fa-f]{2}(?:  ?[0-9A-Fa-f]{2}){7,}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])(?=[0-9]*[A-Fa-f])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Za-z])"
)


@dataclass(frozen=True)
class Sighting:
    """One piece of card data found in a record."""

    kind: str
    field: str
    masked: str


@functools.lru_cache(maxsize=1024)
def required_text(pattern: re.Pattern[str]) -> str:
    """The longest run of plain characters that every match of ``pattern`` holds, read from its top level
    ("" when none is certain: a case-insensitive pattern, or one whose top level is all groups and classes).
    Remembered: every input's guard reads the same few dozen contexts (parsing each anew was 4.5 ms of CPU a
    file of a fleet)."""
    if pattern.flags & re.IGNORECASE:
        return ""
    best = run = ""
    for op, arg in _regex_parser.parse(pattern.pattern, pattern.flags):
        run = run + chr(arg) if op is _LITERAL else ""
        best = max(best, run, key=len)
    return best


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits kept, the rest as ``*``."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


class CardGuard:
    """Masks card data in record text and keys card ids with one secret per run or case."""

    def __init__(
        self,
        key: bytes | str | None = None,
        extra_contexts: dict[str, str] | None = None,
        dialect_contexts: dict[str, str] | None = None,
    ):
        if key is None:
            env = os.environ.get("FORENSICS_CARD_KEY")
            key = env.encode() if env else os.urandom(32)
        self._key = key.encode() if isinstance(key, str) else key
        contexts = list(_CONTEXTS)
        for name, pattern in (extra_contexts or {}).items():
            contexts.append((name, pattern, "mask"))
        # where a dialect says card data stands (its ``cards``, fields and groups whose target is card)
        self._dialect_contexts = dict(dialect_contexts or {})
        for name, pattern in self._dialect_contexts.items():
            contexts.append((name, pattern, "card"))
        compiled = [(name, re.compile(p, re.MULTILINE), action) for name, p, action in contexts]
        # each context with the text every match of it holds: a record without that text skips it (of the 42
        # contexts, a jPOS block holds a few; running all took a third of the time of loading a case's logs)
        self._contexts = [(name, pattern, action, required_text(pattern)) for name, pattern, action in compiled]
        self._always = bool(extra_contexts)
        self._declared = (
            re.compile("|".join(f"(?:{p})".replace("(?P<v>", "(?:") for p in self._dialect_contexts.values()), re.M)
            if self._dialect_contexts
            else None
        )

    @property
    def key(self) -> bytes:
        """The secret keying card ids (handed to worker processes; never written anywhere)."""
        return self._key

    def with_contexts(self, extra: dict[str, str], dialect: dict[str, str] | None = None) -> CardGuard:
        """The same key with format-specific PAN contexts added (and these dialect contexts
        instead of the guard's own, when given)."""
        return CardGuard(self._key, extra, self._dialect_contexts if dialect is None else dialect)

    def protect(self, text: str) -> tuple[str, list[Sighting]]:
        """Return ``text`` with card data masked or wiped, and what was found."""
        found: list[Sighting] = []
        if "0000  " in text and _HEXDUMP_START.search(text):
            text = self._hexdumps(text, found)
        if _HEX_SCREEN.search(text):
            text = _HEX_BYTES.sub(functools.partial(self._wipe_hex, found=found), text)
        if not self._always and not _QUICK.search(text) and not (self._declared and self._declared.search(text)):
            return text, found
        for name, pattern, action, required in self._contexts:
            if required not in text:
                continue
            text = pattern.sub(functools.partial(self._replace, name=name, action=action, found=found), text)
        text = mask_shapes(text, found)
        text = _MASKED.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)
        return text, found

    def masks_card_fields(self, text: str) -> bool:
        """Whether a dialect's card context in ``text`` holds a value ``protect`` masks (12 or more digits, not
        masked already): for a text no other context or card shape is in, whether ``protect`` changes it."""
        return any(
            self._replace(m, name, action, []) != m.group(0)
            for name, pattern, action, _ in self._contexts
            if action == "card"
            for m in pattern.finditer(text)
        )

    def _hexdumps(self, text: str, found: list[Sighting]) -> str:
        """``text`` with each hexdump (lines from offset 0) reduced to its offsets and hex bytes: the
        character column, which may hold a card number cut across lines, goes; and the bytes go too
        when, read as text, they hold card data (each piece a Sighting, its field ``hexdump ...``)."""
        lines = text.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            run: list[re.Match[str]] = []
            while (
                i < len(lines) and (m := _HEXDUMP_LINE.fullmatch(lines[i])) and (int(m.group(2), 16) == 0) == (not run)
            ):
                run.append(m)
                i += 1
            if not run:
                out.append(lines[i])
                i += 1
                continue
            data = bytes.fromhex("".join(piece for line in run for piece in line.group(3).split()))
            inside = self.in_bytes(data)
            found.extend(Sighting(s.kind, f"hexdump {s.field}", s.masked) for s in inside)
            out.extend(f"{line.group(1)}{line.group(2)}  {WIPED if inside else line.group(3)}" for line in run)
        return "\n".join(out)

    def in_bytes(self, data: bytes) -> list[Sighting]:
        """Card data in ``data``: in its bytes read as characters, or packed in BCD."""
        return self._as_characters(data) + [
            Sighting("full_pan", "BCD card number", mask_pan(pan)) for _, _, pan in bcd_pans(data)
        ]

    def _as_characters(self, data: bytes) -> list[Sighting]:
        """Card data in ``data`` read as characters: whatever ``protect`` finds, and an ISO 8583 message's field 2."""
        characters = data.decode("latin-1")
        _, inside = self.protect(characters)
        return inside + llvar_cards(characters)

    def _wipe_hex(self, m: re.Match[str], found: list[Sighting]) -> str:
        """Hex bytes written in a line (not a hexdump), wiped whole when, read as characters, they hold card
        data (an ISO 8583 message in ASCII logged as hex: each piece a Sighting, its field ``hex ...``), else
        with each card number packed in BCD among them wiped."""
        run = m.group(0)
        data = bytes.fromhex("".join(run.split() if " " in run else [run[j : j + 2] for j in range(0, len(run), 2)]))
        inside = self._as_characters(data) if _DIGIT_CHARACTERS.search(data) else []
        if inside:
            found.extend(Sighting(s.kind, f"hex {s.field}", s.masked) for s in inside)
            return WIPED
        return _wipe_bcd(run, data, found)

    @staticmethod
    def _replace(m: re.Match[str], name: str, action: str, found: list[Sighting]) -> str:
        value = m.group("v")
        if value is None or value == WIPED or "*" in value or "_" in value:  # None: an optional group
            return m.group(0)
        if action == "mask":
            replacement = mask_pan(value.replace(" ", "").replace("-", ""))
            found.append(Sighting(_KIND[action], name, replacement))
        elif action == "card":  # a dialect's card field: any 12-19 digits, whatever separates them
            digits = re.sub(r"\D", "", value)
            if len(digits) < 12:
                return m.group(0)
            replacement = mask_pan(digits)
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


def mask_shapes(text: str, found: list[Sighting] | None = None) -> str:
    """``text`` with track 1 and track 2 data wiped and card numbers masked wherever they stand
    (no context needed); each appends a Sighting to ``found``."""
    sink: list[Sighting] = [] if found is None else found
    if not _SCREEN.search(text):
        return text

    def track(m: re.Match[str], field: str) -> str:
        if not m.group("s") and not is_pan(m.group("pan")):
            return m.group(0)
        sink.append(Sighting("track_data", field, mask_pan(m.group("pan"))))
        return WIPED

    text = _apart(_TRACK1, text, functools.partial(track, field="track 1"))
    text = _apart(_TRACK2, text, functools.partial(track, field="track 2"))
    return _apart(_RUN, text, functools.partial(_mask_run, found=sink))


def _apart(pattern: re.Pattern[str], text: str, replace: Callable[[re.Match[str]], str]) -> str:
    """``pattern.sub(replace, text)``, leaving alone matches that start inside a non-card field."""
    ids = [m.span() for m in _NOT_CARD.finditer(text)]
    if not ids:
        return pattern.sub(replace, text)
    return pattern.sub(lambda m: m.group(0) if any(a <= m.start() < b for a, b in ids) else replace(m), text)


def _mask_run(m: re.Match[str], found: list[Sighting]) -> str:
    """A run of digit groups with each card number in it masked: a lone group of 13-19 digits,
    or consecutive groups with one separator between them, the first of 4 digits and the others
    of 3-6 (4-4-4-4, 4-6-5, 4-4-4-4-3 ...)."""
    run = m.group(0)
    if len(run) < 13:
        return run
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(run)]
    before = m.string[max(0, m.start() - 2) : m.start()]
    first = groups[0][1] - groups[0][0] if groups else 0
    # After "12." the first group is a fraction and after "10:02:" a time field, not a card's start.
    # After "12," or "DE2:" it is a decimal-comma fraction only when shorter than a card number: a
    # field of 13-19 digits after a CSV comma ("T1441474,4111...") or an ISO field number is checked.
    after_number = len(before) == 2 and before[0].isdigit()
    in_time = before[1:] == ":" and _TIME_SO_FAR.search(m.string, 0, m.start()) is not None
    skip = after_number and (before[1] == "." or in_time or (before[1] in ":," and first < 13))
    out, done, i = [], 0, int(skip)
    while i < len(groups):
        hit = _pan_window(run, groups, i)
        if hit is None:
            i += 1
            continue
        a, b = groups[i][0], groups[hit][1]
        digits = "".join(run[s:e] for s, e in groups[i : hit + 1])
        masked = mask_pan(digits)
        found.append(Sighting("full_pan", "card number", masked))
        out += [run[done:a], masked]
        done, i = b, hit + 1
    return "".join(out) + run[done:] if out else run


def _pan_window(run: str, groups: list[tuple[int, int]], i: int) -> int | None:
    """Index of the last group of the longest card number starting at group ``i``, if any."""
    first = groups[i][1] - groups[i][0]
    if 13 <= first <= 19:
        return i if is_pan(run[groups[i][0] : groups[i][1]]) else None
    if first != 4:
        return None
    best, total, sep = None, first, None
    for j in range(i + 1, len(groups)):
        size = groups[j][1] - groups[j][0]
        gap = run[groups[j - 1][1] : groups[j][0]]
        if not 3 <= size <= 6 or (sep is not None and gap != sep):
            break
        sep, total = gap, total + size
        if total > 19:
            break
        if total >= 13 and is_pan("".join(run[s:e] for s, e in groups[i : j + 1])):
            best = j
    return best


#: a card-length digit run in a file name, whatever stands beside it (``shop_4111...1111_lane.log``)
_NAME_RUN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


def mask_name(text: str, found: list[Sighting] | None = None) -> str:
    """``text`` (a path, a file or device name) with card data masked as ``mask_shapes`` does, and
    also a Luhn-valid run of 13-19 digits joined to letters or ``_`` (``shop_4111111111111111.log``),
    which in a message would be part of an id but in a file name is no id the tool reads."""
    sink: list[Sighting] = [] if found is None else found
    text = mask_shapes(text, sink)

    def run(m: re.Match[str]) -> str:
        if not is_pan(m.group(0)):
            return m.group(0)
        sink.append(Sighting("full_pan", "card number", mask_pan(m.group(0))))
        return mask_pan(m.group(0))

    return _NAME_RUN.sub(run, text)


def mask_text(text: str) -> str:
    """``text`` (a file name, a message) with any card data masked or wiped."""
    return mask_name(text)


#: bytes that may hold a card number written as characters: 12 digits, maybe split by single spaces or dashes
_DIGIT_CHARACTERS = re.compile(rb"\d(?:[ -]?\d){11}")
#: a run of digit characters in a message's bytes (its lengths, fields and amounts written as characters)
_DIGIT_RUN = re.compile(r"\d{21,}")
#: a track 2 behind its length, written as characters: the length glued to the card number
_LL_TRACK = re.compile(r"(?<!\d)\d\d(\d{12,19})[=D]\d{4}")


def llvar_cards(characters: str) -> list[Sighting]:
    """Card data of ISO 8583 messages written as characters (as their bytes read), behind their lengths:
    field 2 (a run of digits opening with a length of 13 to 19, that many digits Luhn-valid, and at least a
    processing code's six digits after them: field 3, which every financial message holds next), and
    field 35 (a two-digit length glued to a track 2 whose card number is Luhn-valid)."""
    out = []
    for m in _DIGIT_RUN.finditer(characters):
        run = m.group(0)
        size = int(run[:2])
        if 13 <= size <= 19 and len(run) >= 2 + size + 6 and is_pan(run[2 : 2 + size]):
            out.append(Sighting("full_pan", "ISO 8583 field 2", mask_pan(run[2 : 2 + size])))
    out += [
        Sighting("track_data", "ISO 8583 field 35", mask_pan(m.group(1)))
        for m in _LL_TRACK.finditer(characters)
        if is_pan(m.group(1))
    ]
    return out


#: a track 2 packed in BCD, read on the bytes' nibbles: digits, the separator D, the expiry, the service
#: code and discretionary data (which may hold the card's verification value), maybe padded with F
_BCD_TRACK = re.compile(r"(\d{12,})D\d{4}\d*F?")


def bcd_pans(data: bytes) -> list[tuple[int, int, str]]:
    """(first byte, end byte, digits) of each card number packed in BCD in ``data``, in order: a length
    byte (13-19, written in BCD or binary), then the digits two to a byte (an odd count padded
    with F after or 0 before), Luhn-valid; or a track 2 (its bytes to its end, service code and discretionary
    data too): 12 to 19 digits ending at the separator nibble D, Luhn-valid, not the hex of digits written as
    characters."""
    spans = _length_pans(data) + _track_pans(data)
    out: list[tuple[int, int, str]] = []
    for a, b, pan in sorted(spans):
        if out and a < out[-1][1]:  # overlapping: one span
            out[-1] = (out[-1][0], max(b, out[-1][1]), out[-1][2])
        else:
            out.append((a, b, pan))
    return out


def _track_pans(data: bytes) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for m in _BCD_TRACK.finditer(data.hex().upper()):
        run = m.group(1)
        for n in range(min(19, len(run)), 11, -1):
            pan, first = run[-n:], m.end(1) - n
            if is_pan(pan) and not _written_as_characters(pan, first):
                out.append((first // 2, (m.end() + 1) // 2, pan))
                break
    return out


def _written_as_characters(digits: str, first_nibble: int) -> bool:
    """Whether ``digits``, from that nibble of the bytes on, are the hex of digits written as characters
    (bytes 30-39: every high nibble a 3)."""
    return set(digits[first_nibble % 2 :: 2]) == {"3"}


def _length_pans(data: bytes) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(data) - 7:
        hit = None
        size = data[i]
        as_bcd = (size >> 4) * 10 + (size & 15) if (size >> 4) < 10 and (size & 15) < 10 else 0
        for n in (as_bcd, size):
            k = (n + 1) // 2
            if not 13 <= n <= 19 or i + 1 + k > len(data):
                continue
            packed = data[i + 1 : i + 1 + k].hex().upper()
            digits = [packed] if n % 2 == 0 else [packed[:-1]] * (packed[-1] == "F") + [packed[1:]] * (packed[0] == "0")
            if any(d.isdigit() and is_pan(d) for d in digits):
                hit = (i + 1, i + 1 + k, next(d for d in digits if d.isdigit() and is_pan(d)))
                break
        if hit is None:
            i += 1
            continue
        out.append(hit)
        i = hit[1]
    return out


def _wipe_bcd(run: str, data: bytes, found: list[Sighting]) -> str:
    """Hex bytes with each card number packed in BCD among them wiped (a Sighting each)."""
    spaced = " " in run
    pans = bcd_pans(data)
    if not pans:
        return run
    if not spaced:
        out, done = [], 0
        for a, b, pan in pans:
            found.append(Sighting("full_pan", "BCD card number", mask_pan(pan)))
            out += [run[done : 2 * a], WIPED]
            done = 2 * b
        return "".join(out) + run[done:]
    # spaced: the bytes' own separators kept, the card's bytes one [WIPED]
    starts = [mm.start() for mm in re.finditer(r"[0-9A-Fa-f]{2}", run)]
    out, done = [], 0
    for a, b, pan in pans:
        found.append(Sighting("full_pan", "BCD card number", mask_pan(pan)))
        out += [run[done : starts[a]], WIPED]
        done = starts[b - 1] + 2
    return "".join(out) + run[done:]


#: a hexdump row ending a record (a dump written one row to a line of a line format): offset, 1 to 16
#: bytes in hex, maybe the bytes as characters; ``ROW_SCREEN`` is the Polars screen of such lines
ROW_SCREEN = r"[0-9A-Fa-f]{4,8}:? {1,2}[0-9A-Fa-f]{2}(?:[^0-9A-Za-z]|$)"
_ROW_AT_END = re.compile(
    r"(?<![0-9A-Za-z])(?:0x)?(?P<offset>[0-9A-Fa-f]{4,8}):? {1,2}"
    r"(?P<hex>[0-9A-Fa-f]{2}(?: {1,2}[0-9A-Fa-f]{2}){0,15})(?![0-9A-Za-z])"
    r"(?:(?: +| *\|)(?P<chars>.*))?$"
)


def continues_hexdump(line: str) -> bool:
    """Whether ``line`` ends in a hexdump row past the first (offset not 0)."""
    m = _ROW_AT_END.search(line) if re.search(ROW_SCREEN, line) else None
    return m is not None and int(m.group("offset"), 16) > 0


@dataclass(frozen=True)
class _Row:
    index: int
    match: re.Match[str]
    offset: int
    data: bytes


def hexdump_rows(
    lines: Iterable[tuple[int, str]], guard: CardGuard
) -> tuple[dict[int, str], list[tuple[int, Sighting]]]:
    """Hexdumps written one row to a record (``lines``: (index, text) in order, the records that may end in a
    row: ``ROW_SCREEN``) whose bytes hold card data, read as text or as BCD, within a row or cut by a row's
    end (the per-record guard reads neither the hex as text nor across records): each such dump's rows with
    their hex bytes wiped and their characters dropped, by index; and the card data found, by the index of
    the row it starts in. A dump is the rows whose offsets follow on (other records may stand between)."""
    rows = []
    for index, text in lines:
        m = _ROW_AT_END.search(text)
        if m:
            rows.append(_Row(index, m, int(m.group("offset"), 16), bytes.fromhex(m.group("hex").replace(" ", ""))))
    changed: dict[int, str] = {}
    sightings: list[tuple[int, Sighting]] = []
    dump: list[_Row] = []
    for row in [*rows, None]:
        if row is not None and dump and row.offset == dump[-1].offset + len(dump[-1].data):
            dump.append(row)
            continue
        found = _dump_cards(dump, guard) if dump else []
        if found:
            sightings += found
            for r in dump:
                changed[r.index] = r.match.string[: r.match.start("hex")] + WIPED
        dump = [row] if row is not None else []
    return changed, sightings


def _dump_cards(dump: list[_Row], guard: CardGuard) -> list[tuple[int, Sighting]]:
    """The card data in the bytes of ``dump``'s rows, by the index of the row it starts in."""
    whole = guard.in_bytes(b"".join(r.data for r in dump))
    if not whole:
        return []
    own = [guard.in_bytes(r.data) for r in dump]
    extra = Counter(s.masked for s in whole) - Counter(s.masked for found in own for s in found)
    out = [
        (r.index, Sighting(s.kind, f"hexdump {s.field}", s.masked))
        for r, found in zip(dump, own, strict=True)
        for s in found
    ]
    # a card cut by one row's end is at the row it starts in; one cut twice, at the dump's first row
    windows = [
        (first.index, guard.in_bytes(first.data + second.data)) for first, second in zip(dump, dump[1:], strict=False)
    ]
    for index, found in [*windows, (dump[0].index, whole)]:
        for s in found:
            if extra[s.masked] > 0:
                out.append((index, Sighting(s.kind, f"hexdump across lines {s.field}", s.masked)))
                extra[s.masked] -= 1
    return sorted(out, key=lambda found: found[0])


def _track_mask(track: str) -> str:
    pan = _PAN_IN_TRACK.match(track)
    return mask_pan(pan.group(1)) if pan else WIPED


def screen_pattern(declared: Iterable[str] = ()) -> str:
    """A lookaround-free regular expression matching every line ``protect`` could change or
    report on (a superset: the fast path leaves such lines to the per-record path); ``declared``:
    the dialects' card contexts."""
    alternatives = [strip_lookarounds(p).replace("(?P<v>", "(?:") for _, p, _ in _CONTEXTS]
    alternatives += [strip_lookarounds(p).replace("(?P<v>", "(?:") for p in declared]
    # a masked PAN whose fill is not all '*' (protect() rewrites it); fill length left open
    alternatives.append(r"(?:^|[^0-9A-Za-z])\d{6}\**[_Xx#][*_Xx#]*\d{4}(?:[^0-9A-Za-z]|$)")
    alternatives.append(SHAPES)
    alternatives.append(_HEXDUMP_START.pattern.removeprefix("(?m)"))  # a hexdump's first line
    alternatives.append(BCD_SHAPE)  # a card number packed in BCD in hex bytes (a track 2, or characters: HEX_SCREEN)
    return "|".join(f"(?:{a})" for a in alternatives)
