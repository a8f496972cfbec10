"""Embedded blocks: an ISO 8583 message a library pretty-prints INTO another format's log
(pyiso8583's ``iso8583.pp()``, jPOS's ``ISOMsg.dump``), a field a line, with no time or
direction of its own.

The block forms are data (``forensics/data/embedded.toml``): which line may open a block, the
shape of a field's line, of a wrapped value's line, of the lines to pass over and of the line
that closes it, how a value is written and which ISO element a key stands for. Any line format
reads them: a line's content is its message when the format reads the line (each line of a
logcat or syslog message carries its own envelope) or the whole line when it does not (a
log4j or Python app's stdout). A run of such lines is one event: its ISO fields, the envelope
columns of the log line that encloses it (the block's own first line when enveloped, else the
record just before it: its time among them), and a kind from the MTI (an originator's message
or a response) and the enclosing format's role. A block that breaks off (a value that is no
literal, no MTI, no closing line) is unparsed with the reason.
"""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from forensics.errors import FormatError
from forensics.ingest.emv import emv_tlv, emv_words

_WHERE = "embedded.toml"
_KEYS = {
    "title",
    "hint",
    "first",
    "line",
    "wrap",
    "loose",
    "skip",
    "close",
    "nest",
    "nested_line",
    "value",
    "keys",
    "ignore",
    "kinds",
    "guard_contexts",
    "sample",
}
_VALUES = ("python", "plain")
WIPED = "[WIPED]"
#: envelope columns a block takes from the log line that encloses it
ENVELOPE = ("ts_raw", "host", "pid", "thread", "tag", "level", "uptime")
#: a Python str or bytes literal, as ``repr`` writes one
_LITERAL = re.compile(r"""b?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


@dataclass(frozen=True)
class Form:
    """One declared embedded block form (a ``[block.NAME]`` table of embedded.toml)."""

    name: str
    title: str
    hint: tuple[str, ...]
    first: re.Pattern[str]
    line: re.Pattern[str]
    wrap: re.Pattern[str] | None
    loose: re.Pattern[str] | None
    skip: re.Pattern[str] | None
    close: re.Pattern[str] | None
    nest: re.Pattern[str] | None
    nested_line: re.Pattern[str] | None
    value: str
    keys: dict[str, str]
    ignore: frozenset[str]
    kinds: dict[str, tuple[str, str]]
    samples: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def shapes(self) -> list[re.Pattern[str]]:
        """The patterns of the lines a block of this form may hold."""
        return [p for p in (self.line, self.wrap, self.skip, self.close, self.nest, self.nested_line) if p is not None]


@functools.cache
def _raw() -> dict[str, Any]:
    return tomllib.loads(files("forensics").joinpath("data/embedded.toml").read_text(encoding="utf-8"))["block"]


def guard_contexts() -> list[tuple[str, str, str]]:
    """(name, pattern with group v, action) of where card data stands in the declared forms."""
    return [tuple(c) for raw in _raw().values() for c in raw.get("guard_contexts", [])]  # type: ignore[misc]


def _pattern(where: str, raw: dict[str, Any], key: str, groups: tuple[str, ...] = ()) -> re.Pattern[str] | None:
    if key not in raw:
        return None
    try:
        pattern = re.compile(raw[key])
    except (re.error, TypeError) as exc:
        raise FormatError(f"{where}: field {key!r}: bad regular expression: {exc}") from None
    missing = [g for g in groups if g not in pattern.groupindex]
    if missing:
        raise FormatError(f"{where}: field {key!r}: no group {missing[0]!r}")
    return pattern


def _form(name: str, raw: dict[str, Any]) -> Form:
    where = f"{_WHERE}: block {name!r}"
    unknown = set(raw) - _KEYS
    if unknown:
        raise FormatError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    first, line = _pattern(where, raw, "first"), _pattern(where, raw, "line", ("key", "value"))
    if first is None or line is None:
        raise FormatError(f"{where}: fields 'first' and 'line' are required")
    hint = raw.get("hint", [])
    if not hint or not all(isinstance(h, str) and h for h in hint):
        raise FormatError(f"{where}: field 'hint': literal texts, one of which a block's first line holds")
    if raw.get("value", "plain") not in _VALUES:
        raise FormatError(f"{where}: field 'value': must be one of {', '.join(_VALUES)}")
    close, nest = _pattern(where, raw, "close"), _pattern(where, raw, "nest", ("key",))
    if nest is not None and (close is None or "nested_line" not in raw):
        raise FormatError(f"{where}: field 'nest': a form with nested fields declares 'close' and 'nested_line'")
    kinds = raw.get("kinds", {})
    if not all(isinstance(k, list) and len(k) == 2 for k in kinds.values()):
        raise FormatError(f"{where}: field 'kinds': role = [originator's kind, response's kind]")
    return Form(
        name=name,
        title=raw.get("title", name),
        hint=tuple(hint),
        first=first,
        line=line,
        wrap=_pattern(where, raw, "wrap", ("value",)),
        loose=_pattern(where, raw, "loose", ("key",)),
        skip=_pattern(where, raw, "skip"),
        close=close,
        nest=nest,
        nested_line=_pattern(where, raw, "nested_line", ("key", "value")),
        value=raw.get("value", "plain"),
        keys=dict(raw.get("keys", {})),
        ignore=frozenset(raw.get("ignore", [])),
        kinds={role: (k[0], k[1]) for role, k in kinds.items()},
        samples=list(raw.get("sample", [])),
    )


@functools.cache
def forms() -> tuple[Form, ...]:
    """The declared forms, each checked with its samples (FormatError names the form and sample)."""
    out = tuple(_form(name, raw) for name, raw in _raw().items())
    for form in out:
        for j, sample in enumerate(form.samples, start=1):
            where = f"{_WHERE}: block {form.name!r}: sample {j}"
            lines = list(sample.get("lines", []))
            if not lines or not form.first.match(lines[0]) or not any(h in lines[0] for h in form.hint):
                raise FormatError(f"{where}: its first line is not one 'first' and 'hint' find")
            got = read_fields(form, lines)
            if isinstance(got, str):
                raise FormatError(f"{where}: does not read: {got}")
            for element, want in sample.get("expect", {}).items():
                if got.get(element) != want:
                    raise FormatError(f"{where}: field {element} is {got.get(element)!r}, expected {want!r}")
    return out


def anywhere(pattern: re.Pattern[str]) -> str:
    """``pattern`` unanchored at its start (it may follow a log line's envelope), its groups unnamed."""
    return r"(?:^|[\s:])" + re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern.removeprefix("^"))


@functools.cache
def member_screen() -> re.Pattern[str]:
    """Lines that may belong to a block, envelope or not (a batch or chunk is never cut there)."""
    return re.compile("|".join(f"(?:{anywhere(p)})" for form in forms() for p in form.shapes()))


@functools.cache
def first_screen() -> str:
    """A lookaround-free pattern of lines that may open a block (such a batch leaves the fast path)."""
    return "|".join(f"(?:{anywhere(form.first)})" for form in forms())


@functools.cache
def hints() -> list[str]:
    """Literal texts one of which every line that opens a block holds."""
    return sorted({h for form in forms() for h in form.hint})


def _python(pieces: list[str]) -> str:
    """The value of a field's literals: a bytes value that is not text as upper-case hex."""
    out = []
    for piece in pieces:
        value = ast.literal_eval(piece)
        if isinstance(value, bytes):
            printable = all(32 <= b < 127 for b in value)
            value = value.decode("ascii") if printable else value.hex().upper()
        out.append(value)
    return "".join(out)


def _literals(text: str) -> list[str]:
    pieces = _LITERAL.findall(text)
    if "".join(pieces).replace(" ", "") != text.replace(" ", ""):
        raise ValueError("not Python string literals")
    return pieces


def read_fields(form: Form, contents: list[str]) -> dict[str, str] | str:
    """The ISO elements of a block's lines (element -> value; "0" the MTI), or why they do not read."""
    fields: dict[str, str] = {}
    pieces: dict[str, list[str]] = {}
    last: str | None = None
    inside: list[str] = []  # the keys of the nested fields a line stands in
    for n, content in enumerate(contents, start=1):
        if form.nest is not None and (opened := form.nest.match(content)):
            inside.append(opened.group("key"))
            continue
        if inside:
            if form.close is not None and form.close.match(content):
                inside.pop()
            elif form.nested_line is not None and (sub := form.nested_line.match(content)):
                last = ".".join([*inside, sub.group("key").upper()])
                if last in pieces:
                    return f"line {n}: field {last} a second time"
                pieces[last] = [sub.group("value")]
            continue
        m = form.line.match(content)
        if m is not None:
            key = m.group("key")
            last = form.keys.get(key, key.lstrip("0") or "0")
            if last in pieces:
                return f"line {n}: field {key} a second time"
            value = m.group("value")
            if form.value == "python":
                try:
                    literal = _literals(value)
                except ValueError as exc:
                    return f"line {n}: field {key}: {exc}"
                # the encoded form prints the length prefix first: b'16' b'4111...'
                pieces[last] = literal[1:] if len(literal) == 2 else literal
            else:
                pieces[last] = [value]
            continue
        w = form.wrap.match(content) if form.wrap is not None else None
        if w is not None and last is not None:
            try:
                pieces[last] += _literals(w.group("value"))
            except ValueError as exc:
                return f"line {n}: {exc}"
    for key, parts in pieces.items():
        try:
            value = _python(parts) if form.value == "python" else "".join(parts)
        except (ValueError, SyntaxError, UnicodeDecodeError) as exc:
            return f"field {key}: not a Python string literal ({type(exc).__name__})"
        if key not in form.ignore:
            fields[key] = value.strip(" ") if form.value == "plain" else value
    if "0" not in fields:
        return "no message type (MTI)"
    return fields


def kind(form: Form, mti: str, role: str | None) -> str:
    """An originator's message (MTI function digit even) or a response (odd), in the role's words."""
    pair = form.kinds.get(role or "")
    if pair is None:
        return "log"
    odd = len(mti) == 4 and mti[2].isdigit() and int(mti[2]) % 2 == 1
    return pair[1] if odd else pair[0]


@dataclass
class Block:
    """One block being read: its form, its lines (number, record text, content) and the columns
    of the log line that encloses it."""

    form: Form
    envelope: dict[str, Any]
    lines: list[tuple[int, str, str]] = field(default_factory=list)
    closed: bool = False
    bad: str | None = None  # the first line that breaks it
    depth: int = 0  # nested fields open at its last line

    @property
    def first(self) -> int:
        """The number of the block's first line."""
        return self.lines[0][0]

    @property
    def last(self) -> int:
        """The number of the block's last line."""
        return self.lines[-1][0]

    def takes(self, content: str) -> bool:
        """True when a line of this content goes on the block (a field's line that does not read among them)."""
        if self.closed:
            return False
        if self._nests(content) or (self.depth and self.form.nested_line.match(content)):  # type: ignore[union-attr]
            return True
        if self.form.first.match(content) and self._seen(content):  # another block opens
            return False
        return any(p.match(content) for p in self.form.shapes()) or (
            self.form.loose is not None and self.form.loose.match(content) is not None
        )

    def _nests(self, content: str) -> bool:
        """True when a line of this content opens a nested field."""
        return self.form.nest is not None and self.form.nest.match(content) is not None

    def _seen(self, content: str) -> bool:
        """True when the block holds the field of this line already (or the line is no field's)."""
        m = self.form.line.match(content)
        return m is None or any(
            (other := self.form.line.match(c)) is not None and other.group("key") == m.group("key")
            for _, _, c in self.lines
        )

    def add(self, line: int, text: str, content: str) -> None:
        """One more line of the block."""
        self.lines.append((line, text, content))
        loose = self.form.loose.match(content) if self.form.loose is not None else None
        if self.bad is None and loose is not None and not any(p.match(content) for p in self.form.shapes()):
            self.bad = f"line {line}: field {loose.group('key')}: its value is no whole literal"
        if self._nests(content):
            self.depth += 1
        elif self.form.close is not None and self.form.close.match(content):
            self.closed = self.depth == 0
            self.depth = max(self.depth - 1, 0)

    def joined(self) -> tuple[str, str]:
        """The block's text and its lines' contents, each field on one line: a wrapped value
        joined into one literal on its field's line (so a card number cut across lines is whole
        for the card guard)."""
        rows: list[list[str]] = []  # [text, content, wrapped pieces...]
        for _, text, content in self.lines:
            wrap = self.form.wrap.match(content) if self.form.wrap is not None else None
            if wrap is not None and rows and not self.form.line.match(content):
                rows[-1].append(wrap.group("value"))
            else:
                rows.append([text, content])
        texts, contents = [], []
        for text, content, *wraps in rows:
            text, content = self._join(text, content, wraps)
            texts.append(text)
            contents.append(content)
        return "\n".join(texts), "\n".join(contents)

    def _join(self, text: str, content: str, wraps: list[str]) -> tuple[str, str]:
        """A field's line with its value as one literal (bytes that are not text as a hex string);
        a value that is no literal is wiped (its pieces may hold part of a card number)."""
        m = self.form.line.match(content)
        if m is None or self.form.value != "python":
            return "\n".join([text, *wraps]), "\n".join([content, *wraps])
        try:
            pieces = _literals(m.group("value"))
            prefix, pieces = (pieces[:1], pieces[1:]) if len(pieces) == 2 else ([], pieces)
            values = [ast.literal_eval(p) for p in pieces + [x for w in wraps for x in _literals(w)]]
            if all(isinstance(v, bytes) for v in values):
                data = b"".join(values)
                whole = repr(data) if all(32 <= b < 127 for b in data) else repr(data.hex().upper())
            else:
                whole = repr("".join(values))
        except (ValueError, SyntaxError, TypeError):  # the fields then say why they do not read
            whole, prefix = WIPED, []
        start, end = m.span("value")
        new = content[:start] + " ".join([*prefix, whole]) + content[end:]
        if not wraps and new == content:
            return text, content
        envelope = text[: len(text) - len(content)] if text.endswith(content) else ""
        return envelope + new, new

    def broken(self) -> str | None:
        """Why the block breaks off, if it does: a field's line that does not read, no closing line
        where its form has one."""
        if self.bad is not None:
            return f"a {self.form.name} block: {self.bad}"
        if self.form.close is not None and not self.closed:
            return f"a {self.form.name} block with no closing line (it stops at line {self.last})"
        return None


def opening(content: str) -> Form | None:
    """The form whose block opens at a line of this content, if any."""
    return next((form for form in forms() if form.first.match(content)), None)


def record(block: Block, contents: str, role: str | None) -> dict[str, Any] | str:
    """A finished block as event columns (``_iso``, ``_attrs``, envelope, kind) from its joined,
    guarded contents, or why it does not read."""
    why = block.broken()
    if why is not None:
        return why
    fields = read_fields(block.form, contents.split("\n"))
    if isinstance(fields, str):
        return f"a {block.form.name} block: {fields}"
    out: dict[str, Any] = {k: v for k, v in block.envelope.items() if k in ENVELOPE and v is not None}
    attrs: dict[str, Any] = {"embedded": block.form.name}
    if "55" in fields:  # EMV data: its tags as ``55.9F36`` elements, TVR/TSI/CVM results in words
        tags = emv_tlv(fields["55"])
        fields.update({f"55.{tag}": value for tag, value in tags.items()})
    else:  # or dumped as nested fields
        tags = {key[3:]: value for key, value in fields.items() if key.startswith("55.")}
    if words := emv_words(tags):
        attrs["emv"] = words
    if "ts_raw" not in out:
        attrs["time"] = "none: no log line with a time just before the block"
    out.update(kind=kind(block.form, fields["0"], role), message=None, _iso=fields, _attrs=attrs)
    return out
