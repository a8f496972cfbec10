"""Payload styles and tag shapes of a dialect file: how an app line's payload is read and
where its tag stands (``payload``, ``keyword_key``, ``keyword_shapes``, ``tag_shapes``,
``tag_patterns``; docs/dialects.md, "Payload and tag shapes").

A logfmt payload is parsed by grammars/logfmt.lark, one start rule per keyword shape; a JSON
payload by the json module, its leaves flattened to dotted paths; a text payload not at all
(only a rule's ``match`` reads it). ``TagFinder`` finds the dialect tag of a record: the
logged tag itself, a tag pattern, or a tag opening the message in one of the declared shapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lark import Lark
from lark.exceptions import LarkError

from forensics.errors import DialectError

#: What a payload gives the rules: (keyword, positional words, {key: value}).
Parsed = tuple[str | None, list[str], dict[str, str]]

PAYLOADS = ("logfmt", "json", "text")
#: Keyword shape -> start rule of grammars/logfmt.lark ("none": no leading keyword).
KEYWORD_SHAPES = {"word": "start", "dotted": "dotted", "colon": "colon", "bracket": "bracket", "none": "none"}
#: Tag shape -> (regular expression of the opening around the tag, characters the opening adds to
#: the tag), in the order they are tried.
TAG_SHAPES = {"colon": ("{}: ", 2), "bracket": (r"\[{}\] ", 3), "dash": ("{} - ", 3)}
#: A logged tag a tag pattern may match, in each shape: one word without the shape's delimiter.
_TAG_WORD = {"colon": r"[^\s:]+", "bracket": r"[^\s\]]+", "dash": r"\S+"}
#: A logfmt key (grammars/logfmt.lark KEY): what ``keyword_key`` must look like for logfmt.
_LOGFMT_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")

#: The file-level keys of this module; a rule may repeat the first three (and is told the tag
#: shapes and patterns are file level).
KEYS = {"payload", "keyword_key", "keyword_shapes", "tag_shapes", "tag_patterns"}


@dataclass(frozen=True)
class Style:
    """How a rule reads its payload."""

    payload: str = "logfmt"
    keyword_key: str | None = None
    keyword_shapes: tuple[str, ...] = ("word",)

    @property
    def starts(self) -> tuple[str, ...]:
        """The logfmt grammar's start rules tried, in order."""
        if self.payload != "logfmt":
            return ()
        if self.keyword_key is not None:
            return ("none",)
        return tuple(KEYWORD_SHAPES[s] for s in self.keyword_shapes)


REFERENCE = Style()


def read_style(where: str, raw: dict[str, Any], base: Style) -> Style:
    """The payload style a rule (or file, with ``base`` the default) declares, checked.

    ``keyword_key`` and ``keyword_shapes`` are one setting (where the keyword comes from): a rule
    giving either replaces both of the file's.
    """
    payload = raw.get("payload", base.payload)
    if payload not in PAYLOADS:
        raise DialectError(f"{where}: field 'payload': must be one of {', '.join(PAYLOADS)}, not {payload!r}")
    if "keyword_key" in raw and "keyword_shapes" in raw:
        raise DialectError(f"{where}: give 'keyword_key' (the keyword is a key's value) or 'keyword_shapes', not both")
    key, shapes = base.keyword_key, base.keyword_shapes
    if "keyword_key" in raw:
        key, shapes = raw["keyword_key"], REFERENCE.keyword_shapes
        if not isinstance(key, str) or not key:
            raise DialectError(f"{where}: field 'keyword_key': must be a key (a dotted path in JSON)")
    if "keyword_shapes" in raw:
        key, shapes = None, raw["keyword_shapes"]
        if payload == "json":
            raise DialectError(f"{where}: field 'keyword_shapes': a JSON payload has no leading keyword (keyword_key)")
        if not isinstance(shapes, list) or not shapes or any(s not in KEYWORD_SHAPES for s in shapes):
            raise DialectError(
                f"{where}: field 'keyword_shapes': must be a non-empty array of {', '.join(KEYWORD_SHAPES)}"
            )
        shapes = tuple(dict.fromkeys(shapes))
    if payload == "text":
        if "keyword_key" in raw:
            raise DialectError(f"{where}: field 'keyword_key': a text payload has no keys (only 'match' reads it)")
        key, shapes = None, REFERENCE.keyword_shapes
    if payload == "json":
        shapes = REFERENCE.keyword_shapes
    if payload == "logfmt" and key is not None and not _LOGFMT_KEY.fullmatch(key):
        raise DialectError(f"{where}: field 'keyword_key': {key!r} is not a logfmt key")
    return Style(payload, key, shapes)


def check_rule(where: str, raw: dict[str, Any], style: Style) -> None:
    """A rule's fields that its payload style cannot fill."""
    for file_only in ("tag_shapes", "tag_patterns"):
        if file_only in raw:
            raise DialectError(f"{where}: field {file_only!r}: is file level (a tag is found before any rule is tried)")
    if style.payload == "text":
        for key in ("keyword", "fields", "args"):
            if key in raw:
                raise DialectError(f"{where}: field {key!r}: a text payload is read by 'match' only")
    if style.payload == "json" and "args" in raw:
        raise DialectError(f"{where}: field 'args': a JSON payload has no positional words")
    if style.payload == "json" and style.keyword_key is None and "keyword" in raw:
        raise DialectError(f"{where}: field 'keyword': a JSON payload's keyword is read from 'keyword_key'")


def read(style: Style, payload: str, logfmt: Lark) -> Parsed | None:
    """What ``payload`` gives in ``style``; None when it is not of that style at all (a JSON rule on
    a payload that is not one JSON object). A logfmt payload of none of the declared shapes gives
    no keyword and no fields (a rule's ``match`` may still read it), as the reference style does."""
    if style.payload == "text":
        return None, [], {}
    if style.payload == "json":
        return _json(payload, style.keyword_key)
    for start in style.starts:
        try:
            keyword, words, pairs = logfmt.parse(payload, start=start)
        except LarkError:
            continue
        if style.keyword_key is not None:
            pairs = dict(pairs)
            keyword = pairs.pop(style.keyword_key, None)
        return keyword, words, pairs
    return None, [], {}


def _json(payload: str, keyword_key: str | None) -> Parsed | None:
    """A JSON object's leaves by dotted path (numbers as logged, ``true``/``false``, arrays by
    index; a null is no value); None for anything else, malformed or nested past Python's limit."""
    try:
        value = json.loads(payload, parse_int=str, parse_float=str, parse_constant=str)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    pairs: dict[str, str] = {}
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict | list) and node:
            items = node.items() if isinstance(node, dict) else enumerate(node)
            children = [(f"{path}.{k}" if path else str(k), v) for k, v in items]
            stack.extend(reversed(children))  # document order
        elif isinstance(node, bool):
            pairs[path] = "true" if node else "false"
        elif isinstance(node, dict | list):
            pairs[path] = "{}" if isinstance(node, dict) else "[]"
        elif node is not None:
            pairs[path] = node
    keyword = pairs.pop(keyword_key, None) if keyword_key is not None else None
    return keyword, [], pairs


def tag_settings(where: str, data: dict[str, Any], tags: list[str]) -> tuple[tuple[str, ...], dict[str, str]]:
    """A dialect file's ``tag_shapes`` (default colon) and ``tag_patterns`` (tag -> regex), checked."""
    shapes = data.get("tag_shapes", ["colon"])
    if not isinstance(shapes, list) or not shapes or any(s not in TAG_SHAPES for s in shapes):
        raise DialectError(f"{where}: field 'tag_shapes': must be a non-empty array of {', '.join(TAG_SHAPES)}")
    patterns = data.get("tag_patterns", {})
    if not isinstance(patterns, dict):
        raise DialectError(f"{where}: field 'tag_patterns': must be a table of dialect tag = 'regex'")
    for tag, pattern in patterns.items():
        if tag not in tags:
            raise DialectError(f"{where}: field 'tag_patterns.{tag}': {tag!r} is not in the dialect's tags")
        if not isinstance(pattern, str) or not pattern:
            raise DialectError(f"{where}: field 'tag_patterns.{tag}': must be a regular expression (a string)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DialectError(f"{where}: field 'tag_patterns.{tag}': bad regular expression: {exc}") from exc
    return tuple(dict.fromkeys(shapes)), dict(patterns)


@dataclass(frozen=True)
class TagPattern:
    """A dialect's tag pattern: a logged tag it matches whole is ``tag``, in ``shapes`` in a message."""

    pattern: str
    tag: str
    shapes: tuple[str, ...]


class TagFinder:
    """The dialect tag of a record, tried in this order: the logged tag (logcat tag, syslog
    program) is a dialect tag; it matches a tag pattern; the message opens with a dialect tag in a
    shape its dialect declares (colon, bracket, dash); it opens with a word a tag pattern matches."""

    def __init__(self, shaped: dict[str, list[str]], patterns: list[TagPattern]):
        """``shaped``: shape -> the tags found in it; ``patterns`` in the order they are tried."""
        self.literal = {
            shape: opening_regex(shape, tags) for shape, tags in shaped.items() if tags and shape in TAG_SHAPES
        }
        self.patterns = patterns
        self._compiled = [(re.compile(p.pattern), p) for p in patterns]
        self._words = {shape: re.compile(word_regex(shape)) for shape in TAG_SHAPES}
        self._literal = {shape: re.compile(regex) for shape, regex in self.literal.items()}

    def pattern_tag(self, logged: str, shape: str | None = None) -> str | None:
        """The dialect tag of the first pattern matching ``logged`` whole (in ``shape``, if given)."""
        for compiled, p in self._compiled:
            if (shape is None or shape in p.shapes) and compiled.fullmatch(logged):
                return p.tag
        return None

    def split(
        self, tag: str | None, message: str | None, own: dict[str, Any]
    ) -> tuple[str | None, str | None, str | None]:
        """(dialect tag, payload, outer program); ``own``: the dialect tags."""
        if tag in own:
            return tag, message, None
        if tag is not None and self._compiled:
            found = self.pattern_tag(tag)
            if found is not None:
                return found, message, tag
        if not message:
            return None, message, None
        for shape in TAG_SHAPES:
            literal = self._literal.get(shape)
            m = literal.match(message) if literal is not None else None
            if m:
                return m.group(1), message[m.end() :], tag
        if self._compiled:
            for shape, word in self._words.items():
                m = word.match(message)
                found = self.pattern_tag(m.group(1), shape) if m else None
                if found is not None:
                    return found, message[m.end() :], tag  # type: ignore[union-attr]
        return None, message, None


def opening_regex(shape: str, tags: list[str]) -> str:
    """The message opening with one of ``tags`` in ``shape``; group 1 is the tag (longest first)."""
    alternatives = "|".join(re.escape(t) for t in sorted(tags, key=len, reverse=True))
    return "^" + TAG_SHAPES[shape][0].format(f"({alternatives})")


def word_regex(shape: str) -> str:
    """The message opening with a word a tag pattern may match in ``shape``; group 1 is the word."""
    return "^" + TAG_SHAPES[shape][0].format(f"({_TAG_WORD[shape]})")
