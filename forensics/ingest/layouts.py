"""log4j / logback PatternLayouts declared as data: a format's ``[[layout]]`` tables
(``pattern = "%d{ISO8601} [%t] %-5p %c - %m%n"``) compiled, when the registry loads, into one
line regular expression each, added to the format's grammar as an alternative of its own (one
terminal, the whole line, with a column twin for the fast path), with the time shape its date
pattern writes; each layout's sample lines are then checked like the format's own.

Conversions read: ``%d``/``%date`` (``{ISO8601}``, ``{ABSOLUTE}``, ``{DATE}``, ``{DEFAULT}`` or a
SimpleDateFormat pattern: yyyy yy MM MMM dd HH mm ss SSS Z XXX and 'quoted' text), ``%p``/``%level``
(the level), ``%c``/``%logger``/``%C``/``%class`` (the tag), ``%m``/``%msg``/``%message``,
``%t``/``%thread``, ``%pid``/``%processId``, ``%X{key}``/``%mdc``, ``%x``/``%NDC``, ``%L``,
``%M``/``%method``, ``%F``/``%file``, ``%r``/``%relative``, ``%n`` and ``%%``, with their
format modifiers (``%-5p``, ``%.30c``, ``{36}``). Anything else is refused at load, named.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from forensics.errors import FormatError
from forensics.ingest.envelopes import level_expr

#: log4j's named date formats, as SimpleDateFormat patterns.
_NAMED_DATES = {
    "ISO8601": "yyyy-MM-dd HH:mm:ss,SSS",
    "DEFAULT": "yyyy-MM-dd HH:mm:ss,SSS",
    "ABSOLUTE": "HH:mm:ss,SSS",
    "DATE": "dd MMM yyyy HH:mm:ss,SSS",
}
#: SimpleDateFormat letters -> the time shape's group (format.toml ``time``).
_DATE_FIELDS = {
    "yyyy": r"(?P<year>\d{4})",
    "yy": r"(?P<yy>\d\d)",
    "MMM": r"(?P<mon>[A-Z][a-z]{2})",
    "MM": r"(?P<mon>\d\d)",
    "dd": r"(?P<day>\d\d)",
    "HH": r"(?P<H>\d\d)",
    "mm": r"(?P<M>\d\d)",
    "ss": r"(?P<S>\d\d)",
    "SSS": r"(?P<frac>\d{3})",
    "XXX": r"(?P<zone>Z|[+-]\d\d:\d\d)",
    "Z": r"(?P<zone>[+-]\d{4})",
}
_DATE_TOKEN = re.compile(r"'[^']*'|yyyy|yy|MMM|MM|dd|HH|mm|ss|SSS|XXX|Z|[A-Za-z]")
#: Conversion word -> (event column or None, regular expression of its text).
_CONVERSIONS: dict[str, tuple[str | None, str]] = {
    "p": ("level", r"TRACE|DEBUG|INFO|WARN|ERROR|FATAL"),
    "c": ("tag", r"[^\s]+?"),
    "C": ("tag", r"[^\s]+?"),
    "m": ("message", r".*"),
    "t": (None, r".+?"),
    "pid": ("pid", r"\d+"),
    "X": (None, r".*?"),
    "x": (None, r".*?"),
    "L": (None, r"\d+|\?"),
    "M": (None, r"[^\s]+?"),
    "F": (None, r"[^\s]+?"),
    "r": (None, r"\d+"),
}
_ALIASES = {
    "level": "p",
    "le": "p",
    "logger": "c",
    "lo": "c",
    "class": "C",
    "msg": "m",
    "message": "m",
    "thread": "t",
    "processId": "pid",
    "mdc": "X",
    "MDC": "X",
    "NDC": "x",
    "line": "L",
    "method": "M",
    "file": "F",
    "relative": "r",
}
_CONVERSION = re.compile(r"%(?P<mod>-?\d*(?:\.\d+)?)(?P<word>[A-Za-z]+|%)(?:\{(?P<opt>[^}]*)\})?")


def date_regex(java: str, where: str) -> str:
    """A SimpleDateFormat pattern (or a log4j name for one) as a regular expression whose groups are
    the time shape's (year, mon, day, H, M, S, frac, zone)."""
    java = _NAMED_DATES.get(java, java)
    out, seen = [], set()
    i = 0
    while i < len(java):
        m = _DATE_TOKEN.match(java, i)
        if m is None:
            out.append(re.escape(java[i]))
            i += 1
            continue
        token = m.group(0)
        if token.startswith("'"):
            out.append(re.escape(token[1:-1] or "'"))
        elif token in _DATE_FIELDS:
            group = _DATE_FIELDS[token]
            name = group[4 : group.index(">")]
            if name in seen:
                raise FormatError(f"{where}: date pattern {java!r}: {token!r} twice")
            seen.add(name)
            out.append(group)
        else:
            raise FormatError(f"{where}: date pattern {java!r}: letter {token!r} is not read (yyyy MM dd HH mm ss ...)")
        i = m.end()
    return "".join(out)


@dataclass(frozen=True)
class Layout:
    """One compiled PatternLayout."""

    name: str
    pattern: str
    regex: re.Pattern[str]
    time: str | None  # the time shape of its date (format.toml ``time``), if it writes one

    def columns(self, line: str, level: Callable[[str], str | None]) -> dict[str, Any]:
        """Event columns of a line this layout reads (``level``: the format's level words)."""
        m = self.regex.fullmatch(line)
        if m is None:  # the grammar's terminal matched it: the same expression, so never
            raise ValueError(f"layout {self.name}: the line does not match")
        got = {k: v for k, v in m.groupdict().items() if v is not None}
        out: dict[str, Any] = {"message": got.get("message", "").strip() or None}
        if "ts" in got:
            out["ts_raw"] = got["ts"]
        if "level" in got:
            out["level"] = level(got["level"])
        if "tag" in got:
            out["tag"] = got["tag"]
        if "pid" in got:
            out["pid"] = int(got["pid"])
        return out

    def twin(self, c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
        """``columns`` on a column of such lines (the fast path's twin of the layout's alternative)."""
        fields = c[0].str.extract_groups("^(?:" + self.regex.pattern + ")$")
        names = set(self.regex.groupindex)
        message = fields.struct.field("message").str.strip_chars()
        out = {"message": pl.when(message.str.len_chars() > 0).then(message)}
        if "ts" in names:
            out["ts_raw"] = fields.struct.field("ts")
        if "level" in names:
            out["level"] = level_expr(fields.struct.field("level"), levels)
        if "tag" in names:
            out["tag"] = fields.struct.field("tag")
        if "pid" in names:
            out["pid"] = fields.struct.field("pid")
        return out


def compile_layout(name: str, pattern: str, where: str) -> Layout:
    """A PatternLayout string as a line regular expression; FormatError names what is not read."""
    if not isinstance(pattern, str) or not pattern:
        raise FormatError(f"{where}: field 'pattern': must be a PatternLayout string")
    parts: list[str] = []
    used: set[str] = set()
    time = None
    i = 0
    while i < len(pattern):
        m = _CONVERSION.match(pattern, i)
        if pattern[i] != "%":
            j = pattern.find("%", i)
            j = len(pattern) if j < 0 else j
            parts.append(re.escape(pattern[i:j]))
            i = j
            continue
        if m is None:
            raise FormatError(f"{where}: pattern {pattern!r}: a '%' with no conversion at {i}")
        i = m.end()
        word, mod = m.group("word"), m.group("mod")
        if word == "%":
            parts.append("%")
            continue
        if word == "n":
            continue
        if word in ("d", "date"):
            body = date_regex(m.group("opt") or "ISO8601", where)
            time = "^" + body + "$"
            column, regex = "ts", re.sub(r"\(\?P<\w+>", "(?:", body)
        else:
            word = _ALIASES.get(word, word)
            if word not in _CONVERSIONS:
                raise FormatError(f"{where}: pattern {pattern!r}: conversion %{m.group('word')} is not read")
            column, regex = _CONVERSIONS[word]
        if column is not None and column in used:
            column = None  # written twice: the first is kept
        group = f"(?P<{column}>{regex})" if column else f"(?:{regex})"
        if mod.lstrip("-").partition(".")[0]:  # padded to a width: spaces on the side it pads
            group = group + " *" if mod.startswith("-") else " *" + group
        parts.append(group)
        if column:
            used.add(column)
    if "message" not in used:
        raise FormatError(f"{where}: pattern {pattern!r}: no %m (the message)")
    return Layout(name, pattern, re.compile("".join(parts)), time)


def layout_transformer(layout: Layout, level: Callable[[str], str | None]) -> Callable[[list[Any]], dict[str, Any]]:
    """The transformer callback of a layout's grammar alternative (one token, the whole line)."""

    def transform(children: list[Any]) -> dict[str, Any]:
        token = children[0]
        return layout.columns(token.value if hasattr(token, "value") else str(token), level)

    return transform


def read_layouts(where: str, raw: Any) -> list[tuple[Layout, list[dict[str, Any]]]]:
    """A format's ``[[layout]]`` tables, compiled, with their samples (format.toml ``sample`` shape)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise FormatError(f"{where}: field 'layout': must be an array of tables ([[layout]])")
    return [read_layout(f"{where}: layout {n}", table, f"layout_{n}") for n, table in enumerate(raw, start=1)]


def read_layout(here: str, table: Any, name: str) -> tuple[Layout, list[dict[str, Any]]]:
    """One ``[[layout]]`` table (``pattern`` and its ``[[layout.sample]]`` lines), compiled as ``name``."""
    if not isinstance(table, dict) or set(table) - {"pattern", "sample"}:
        raise FormatError(f"{here}: fields are 'pattern' and [[layout.sample]] tables")
    samples = table.get("sample", [])
    if not samples or not isinstance(samples, list):
        raise FormatError(f"{here}: give at least one [[layout.sample]] line (checked at load)")
    if not all(isinstance(sample, dict) and isinstance(sample.get("line"), str) for sample in samples):
        raise FormatError(f"{here}: each [[layout.sample]] has a 'line' (and an 'expect' table)")
    return compile_layout(name, table.get("pattern"), here), [{**sample, "where": here} for sample in samples]


def with_layouts(grammar: str, layouts: list[Layout]) -> str:
    """A format's Lark grammar with each layout as the first alternatives of ``start`` (a terminal
    of the whole line, of a higher priority than the grammar's own)."""
    if not grammar.lstrip().startswith("start:") and "\nstart:" not in grammar:
        raise FormatError("a format with layouts needs a 'start:' rule")
    alternatives = "".join(f"{layout.name.upper()} -> {layout.name}\n     | " for layout in layouts)
    terminals = "".join(f"\n{layout.name.upper()}.9: /{_plain(layout.regex.pattern)}/" for layout in layouts)
    head, _, rest = grammar.partition("start:")
    return head + "start: " + alternatives + rest.lstrip() + terminals + "\n"


def _plain(regex: str) -> str:
    """``regex`` with its named groups unnamed and its slashes escaped (a Lark terminal)."""
    return re.sub(r"\(\?P<\w+>", "(?:", regex).replace("/", "\\/")
