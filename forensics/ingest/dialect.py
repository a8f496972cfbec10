"""Terminal dialects: data files that give app lines their event kind and typed fields.

A dialect file (``forensics/dialects/*.toml``, or a vendor's file given with ``--dialect``)
names the tags it owns and a list of rules (tag, keyword, ``match``, ``args``, ``fields``,
``set``; ``groups`` targets, ``values`` maps, ``cards`` keys, the ``iso`` dump shape) with
sample payloads that must give the expected columns; both are checked when the file loads. A
second vendor's phrasing is a second file (docs/dialects.md). ``iso8583.toml`` maps ISO data
elements to columns for every dialect and jPOS, and names the ISO dump shapes.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from lark import Lark, Transformer
from lark.exceptions import LarkError

from forensics.errors import DialectError
from forensics.events import EVENT_COLUMNS, KINDS, fits
from forensics.ingest import payloads
from forensics.ingest.payloads import KEYWORD_SHAPES, REFERENCE, Parsed, Style, TagFinder, TagPattern
from forensics.ingest.wire import Wire, read_wire
from forensics.money import currency, major_to_minor
from forensics.vocabulary import unknown_word

_RULE_KEYS = {"tag", "keyword", "match", "kind", "args", "fields", "set", "sample"}
_DIALECT_KEYS = {"name", "title", "tags", "rule"}
_DIALECT_KEYS |= {"values", "iso"}  # value maps by target column; the ISO dump shape
_RULE_KEYS |= {"values", "iso", "groups", "cards"}  # the same for one rule; regex group targets; card keys
_SAMPLE_KEYS = {"line", "expect"}
_DIALECT_KEYS |= payloads.KEYS  # payload styles, tag shapes and patterns (payloads.py)
_DIALECT_KEYS |= {"wire"}  # ISO 8583 wire dumps decoded before the rules read a line (wire.py)
_DIALECT_KEYS |= {"layout"}  # PatternLayouts added to a format (layouts.py), compiled by the registry
_RULE_KEYS |= payloads.KEYS
_SAMPLE_KEYS |= {"message"}  # a whole message, its tag in a tag shape, instead of a payload
#: The attrs key holding a payload's positional words beyond a rule's ``args``.
WORDS_ATTR = "words"
_NOT_TARGETS = {"path", "line", "line_end", "format", "dialect", "ts", "ts_raw", "text", "kind", "attrs"}


def _resource_text(package: str, name: str) -> str:
    return files(package).joinpath(name).read_text(encoding="utf-8")


def _value(token: Any) -> str:
    return token.value if hasattr(token, "value") else str(token)


class _Payload(Transformer):
    """logfmt payload -> (keyword, [positional words], {key: value})."""

    def start(self, children: list[Any]) -> tuple[str, list[str], dict[str, str]]:
        return _value(children[0]), *self._items(children[1:])

    dotted = colon = bracket = start  # the other keyword shapes (payloads.KEYWORD_SHAPES): the bare word first

    def none(self, children: list[Any]) -> tuple[None, list[str], dict[str, str]]:
        return None, *self._items(children)

    @staticmethod
    def _items(children: list[Any]) -> tuple[list[str], dict[str, str]]:
        words: list[str] = []
        pairs: dict[str, str] = {}
        for item in children:
            if isinstance(item, tuple):
                pairs[item[0]] = item[1]
            else:
                words.append(item)
        return words, pairs

    def pair(self, children: list[Any]) -> tuple[str, str]:
        key, value = children
        if value is None:
            return _value(key), ""
        value = _value(value)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        return _value(key), value

    def word(self, children: list[Any]) -> str:
        return _value(children[0])


_PAYLOAD_PARSER: Lark | None = None

try:  # the Cython LALR engine by Lark's author, when installed: same grammars, about twice as fast
    import lark_cython

    LALR_PLUGINS: dict[str, Any] = {"_plugins": lark_cython.plugins}
except ImportError:
    LALR_PLUGINS = {}


def payload_parser() -> Lark:
    """The Lark parser of dialect payloads (grammars/logfmt.lark, beside the format folders), built once."""
    global _PAYLOAD_PARSER
    if _PAYLOAD_PARSER is None:
        _PAYLOAD_PARSER = Lark(
            _resource_text("forensics.formats", "logfmt.lark"),
            parser="lalr",
            start=list(KEYWORD_SHAPES.values()),
            transformer=_Payload(),
            maybe_placeholders=True,
            **LALR_PLUGINS,
        )
    return _PAYLOAD_PARSER


def parse_payload(payload: str) -> tuple[str, list[str], dict[str, str]] | None:
    """Parse ``KEYWORD word key=value ...``; None when the payload is not of that shape."""
    try:
        return payload_parser().parse(payload, start="start")  # type: ignore[return-value]
    except LarkError:
        return None


def iso_table() -> dict[str, str]:
    """ISO 8583 element ("4", "55.9F36") -> column target."""
    return dict(tomllib.loads(_resource_text("forensics.dialects", "iso8583.toml"))["fields"])


#: An ISO element in a shape's key: a number and an optional subfield ("55.9F36").
_ELEMENT = r"(\d+(?:\.[0-9A-Za-z]+)?)"


def iso_shapes() -> dict[str, str]:
    """ISO dump shape name ("DE", "F", "bracket", "field") -> its key template ("F{n}=")."""
    return dict(tomllib.loads(_resource_text("forensics.dialects", "iso8583.toml"))["shapes"])


def shape_pattern(template: str) -> str:
    """A shape's key template as a regular expression whose group 1 is the element; the key
    opens the payload or follows a space."""
    before, _, after = template.partition("{n}")
    return r"(?<![^ ])" + re.escape(before) + _ELEMENT + re.escape(after)


def installed_sources() -> list[tuple[str, str]]:
    """(file name, text) of every dialect file shipped in forensics/dialects."""
    folder = files("forensics.dialects")
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and entry.name != "iso8583.toml"
    )


#: The environment variable naming dialect files to load beside the installed ones
#: (``os.pathsep``-separated paths), read when no file is given.
DIALECTS_ENV = "FORENSICS_DIALECTS"


def environment_dialects() -> list[str]:
    """The dialect files $FORENSICS_DIALECTS names (``os.pathsep``-separated; empty parts skipped)."""
    return [p for p in os.environ.get(DIALECTS_ENV, "").split(os.pathsep) if p.strip()]


def dialect_sources(paths: Sequence[str | Path] | None = None) -> list[tuple[str, str]]:
    """(file name, text) of the installed dialects and of ``paths`` (a vendor's files, loaded
    after them); with ``paths`` None, the files $FORENSICS_DIALECTS names. A file that cannot
    be read raises DialectError naming it."""
    if paths is None:
        paths = environment_dialects()
        where = f"{DIALECTS_ENV}: "
    else:
        where = ""
    sources = installed_sources()
    for path in paths:
        try:
            source = (Path(path).name, Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DialectError(f"{where}{path}: cannot read the dialect file: {reason}") from None
        if source not in sources:  # the same file given twice, or an installed one, is loaded once
            sources.append(source)
    return sources


@dataclass
class Rule:
    """One dialect rule, compiled."""

    dialect: str
    tag: str
    kind: str
    keyword: str | None = None
    match: re.Pattern[str] | None = None
    args: list[str] = field(default_factory=list)
    fields: dict[str, str] | None = None  # None: the ISO table
    constants: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {logged: canonical}
    groups: dict[str, str] = field(default_factory=dict)  # match group -> target
    iso: str = "DE"  # the ISO dump shape of a fields = "iso" rule
    style: Style = REFERENCE  # how the payload is read (payloads.py)


@dataclass
class Applied:
    """What a dialect made of one payload."""

    dialect: str
    kind: str
    keyword: str | None
    columns: dict[str, Any]


#: A card number where a dialect says card data stands: 12 to 19 digits, maybe quoted, maybe
#: split by single spaces, dots, dashes or slashes (the general guard asks for Luhn elsewhere).
_CARD_VALUE = r'"?(?P<v>\d(?:[ ./-]?\d){11,18})(?!\d)'

#: The TOML types of a dialect file's fields and of a rule's (beyond each field's own check).
_FILE_SHAPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "title": (str, "a string"),
    "tags": (list, "an array of strings"),
    "rule": (list, "an array of tables"),
}
_RULE_SHAPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "tag": (str, "a string"),
    "keyword": (str, "a string"),
    "kind": (str, "a string"),
    "match": (str, "a string"),
    "fields": ((dict, str), 'a table or "iso"'),
    "args": (list, "an array of column names"),
    "set": (dict, "a table"),
    "sample": (list, "an array of tables"),
}
_FILE_SHAPES |= {"values": (dict, "a table of tables"), "iso": (str, "a string")}
_RULE_SHAPES |= {
    "values": (dict, "a table of tables"),
    "iso": (str, "a string"),
    "groups": (dict, "a table"),
    "cards": (list, "an array of strings"),
}


def _check_shapes(where: str, raw: dict[str, Any], shapes: dict[str, tuple[type | tuple[type, ...], str]]) -> None:
    for key, (types, what) in shapes.items():
        if key in raw and not isinstance(raw[key], types):
            raise DialectError(f"{where}: field {key!r}: must be {what}")


def _check_target(where: str, target: Any) -> None:
    if not isinstance(target, str):
        raise DialectError(f"{where}: must be a column name (a string), not {target!r}")
    name = target.split(":", 1)[0]
    if name.startswith("attrs."):
        return
    if name not in EVENT_COLUMNS or name in _NOT_TARGETS:
        raise DialectError(f"{where}: unknown column {name!r}")
    if ":" in target and target.split(":", 1)[1] != "minor":
        raise DialectError(f"{where}: unknown unit {target.split(':', 1)[1]!r} (only 'minor')")


class Dialects:
    """All registered dialects, compiled, in the order they are tried."""

    def __init__(self, sources: list[tuple[str, str]] | None = None):
        """``sources`` is [(file name, TOML text)]; default: every file in forensics/dialects."""
        if sources is None:
            sources = installed_sources()
        #: What the dialects were built from (worker processes rebuild them from it).
        self.sources: tuple[tuple[str, str], ...] = tuple(sources)
        self.iso = iso_table()
        for element, target in self.iso.items():
            _check_target(f"iso8583.toml: field {element!r}", target)
        self.iso_shapes = {name: re.compile(shape_pattern(t)) for name, t in iso_shapes().items()}
        #: Card contexts the dialects declare (``cards``, fields and groups whose target is
        #: ``card``): name -> pattern with group "v", for the card guard.
        self.card_contexts: dict[str, str] = {}
        #: ISO 8583 wire dumps the dialects declare (``[[wire]]``), decoded before the card guard.
        self.wire: tuple[Wire, ...] = ()
        #: PatternLayouts the dialects add to formats: format name -> [(where, layout table)].
        self.layouts: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.names: list[str] = []
        self.titles: dict[str, str] = {}
        self.samples: dict[str, list[dict[str, Any]]] = {}
        self._by_tag: dict[str, list[Rule]] = {}
        self._shaped: dict[str, list[str]] = {}  # tag shape -> the tags found in it
        self._tag_patterns: list[TagPattern] = []
        for file_name, text in sources:
            self._add(file_name, text)
        #: Where a record's dialect tag stands (payloads.TagFinder).
        self.tag_finder = TagFinder(
            {shape: [t for t in self._by_tag if t in tags] for shape, tags in self._shaped.items()}, self._tag_patterns
        )
        self._check_samples()

    @classmethod
    def from_files(cls, paths: Sequence[str | Path]) -> Dialects:
        """The installed dialects plus these files (e.g. a vendor file under development)."""
        return cls(dialect_sources(paths))

    def _add(self, file_name: str, text: str) -> None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DialectError(f"{file_name}: not valid TOML: {exc}") from exc
        unknown = set(data) - _DIALECT_KEYS
        if unknown:
            raise DialectError(f"{file_name}: unknown field {sorted(unknown)[0]!r}")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise DialectError(f"{file_name}: field 'name' is required")
        _check_shapes(file_name, data, _FILE_SHAPES)
        tags = data.get("tags", [])
        if not all(isinstance(tag, str) for tag in tags):
            raise DialectError(f"{file_name}: field 'tags': must be an array of strings")
        self.names.append(name)
        self.titles[name] = data.get("title", "")
        self.samples[name] = []
        if not isinstance(data.get("wire", []), list):
            raise DialectError(f"{file_name}: field 'wire': must be an array of tables ([[wire]])")
        self.wire += tuple(read_wire(f"{file_name}: wire {i}", raw) for i, raw in enumerate(data.get("wire", []), 1))
        for i, raw in enumerate(data.get("layout", []) if isinstance(data.get("layout", []), list) else [None], 1):
            if not isinstance(raw, dict) or not isinstance(raw.get("format"), str):
                raise DialectError(f"{file_name}: layout {i}: a table naming its 'format' (the format folder)")
            table = {k: v for k, v in raw.items() if k != "format"}
            self.layouts.setdefault(raw["format"], []).append((f"{file_name}: layout {i}", table))
        defaults = self._file_defaults(file_name, data)
        file_style = self._shapes(file_name, data, tags)
        for i, raw in enumerate(data.get("rule", []), start=1):
            if not isinstance(raw, dict):
                raise DialectError(f"{file_name}: rule {i}: must be a table ([[rule]])")
            rule = self._compile_rule(file_name, name, i, raw, tags)
            where = f"{file_name}: rule {i} ({raw.get('tag', '?')} {raw.get('keyword', raw.get('match', ''))})"
            rule.style = payloads.read_style(where, raw, file_style)
            payloads.check_rule(where, raw, rule.style)
            self._vendor_features(file_name, i, raw, rule, defaults)  # after the style: card keys read by it
            self._by_tag.setdefault(rule.tag, []).append(rule)

    def _shapes(self, file_name: str, data: dict[str, Any], tags: list[str]) -> Style:
        """A file's tag shapes and patterns (registered) and its payload style (the rules' default)."""
        shapes, patterns = payloads.tag_settings(file_name, data, tags)
        for shape in shapes:
            self._shaped.setdefault(shape, []).extend(t for t in tags if t not in self._shaped[shape])
        self._tag_patterns += [TagPattern(pattern, tag, shapes) for tag, pattern in patterns.items()]
        return payloads.read_style(file_name, data, REFERENCE)

    def _compile_rule(self, file_name: str, dialect: str, i: int, raw: dict[str, Any], tags: list[str]) -> Rule:
        where = f"{file_name}: rule {i} ({raw.get('tag', '?')} {raw.get('keyword', raw.get('match', ''))})"
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise DialectError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        for required in ("tag", "kind"):
            if required not in raw:
                raise DialectError(f"{where}: field {required!r} is required")
        _check_shapes(where, raw, _RULE_SHAPES)
        if raw["tag"] not in tags:
            raise DialectError(f"{where}: field 'tag': {raw['tag']!r} is not in the dialect's tags")
        if raw["kind"] not in KINDS:
            raise DialectError(f"{where}: field 'kind': unknown kind {raw['kind']!r}")
        match = None
        if "match" in raw:
            try:
                match = re.compile(raw["match"])
            except re.error as exc:
                raise DialectError(f"{where}: field 'match': bad regular expression: {exc}") from exc
        fields = raw.get("fields", {})
        if fields == "iso":
            fields = None
        elif not isinstance(fields, dict):
            raise DialectError(f"{where}: field 'fields' must be a table or \"iso\"")
        else:
            for key, target in fields.items():
                _check_target(f"{where}: field 'fields.{key}'", target)
        args = raw.get("args", [])
        for target in args:
            _check_target(f"{where}: field 'args'", target)
        constants = raw.get("set", {})
        for target in constants:
            _check_target(f"{where}: field 'set'", target)
        for j, sample in enumerate(raw.get("sample", []), start=1):
            if (
                not isinstance(sample, dict)
                or set(sample) - _SAMPLE_KEYS
                or len({"line", "message"} & set(sample)) != 1
            ):
                raise DialectError(f"{where}: sample {j}: fields are 'line' (or 'message') and 'expect'")
            text = sample.get("line", sample.get("message"))
            if not isinstance(text, str) or not isinstance(sample.get("expect", {}), dict):
                raise DialectError(f"{where}: sample {j}: 'line' is a string and 'expect' a table")
            self.samples[dialect].append({"tag": raw["tag"], "where": f"{where}: sample {j}", **sample})
        return Rule(dialect, raw["tag"], raw["kind"], raw.get("keyword"), match, args, fields, constants)

    def _file_defaults(self, where: str, data: dict[str, Any]) -> dict[str, Any]:
        """The file-level ``values`` and ``iso`` (checked), which each rule may override."""
        return {"values": self._value_maps(where, data.get("values", {})), "iso": self._iso_shape(where, data)}

    def _value_maps(self, where: str, raw: dict[str, Any]) -> dict[str, dict[str, str]]:
        """``values`` checked: each column's map gives only words downstream knows (vocabulary)."""
        maps: dict[str, dict[str, str]] = {}
        for column, words in raw.items():
            if not isinstance(words, dict) or not all(isinstance(v, str) for v in words.values()):
                raise DialectError(f"{where}: field 'values.{column}': must be a table of logged value = word")
            for logged, word in words.items():
                why = unknown_word(column, word)
                if why:
                    raise DialectError(f"{where}: field 'values.{column}.{logged}': {why}")
            maps[column] = dict(words)
        return maps

    def _iso_shape(self, where: str, raw: dict[str, Any]) -> str | None:
        shape = raw.get("iso")
        if shape is not None and shape not in self.iso_shapes:
            raise DialectError(f"{where}: field 'iso': unknown ISO dump shape {shape!r} ({', '.join(self.iso_shapes)})")
        return shape

    def _vendor_features(
        self, file_name: str, i: int, raw: dict[str, Any], rule: Rule, defaults: dict[str, Any]
    ) -> None:
        """A rule's value maps, ISO shape, group targets and card keys (file values overridden
        per column by the rule's own), checked; its card keys become card guard contexts."""
        where = f"{file_name}: rule {i} ({raw.get('tag', '?')} {raw.get('keyword', raw.get('match', ''))})"
        rule.values = {**defaults["values"], **self._value_maps(where, raw.get("values", {}))}
        rule.iso = self._iso_shape(where, raw) or defaults["iso"] or "DE"
        groups = raw.get("groups", {})
        names = set(rule.match.groupindex) if rule.match is not None else set()
        for group, target in groups.items():
            if group not in names:
                raise DialectError(f"{where}: field 'groups.{group}': no such group in 'match'")
            _check_target(f"{where}: field 'groups.{group}'", target)
        for group in names - set(groups):
            _check_target(f"{where}: field 'match' group", group)
        rule.groups = dict(groups)
        cards = raw.get("cards", [])
        if not all(isinstance(key, str) and key for key in cards):
            raise DialectError(f"{where}: field 'cards': must be an array of strings")
        implicit = [k for k, t in (rule.fields or {}).items() if t == "card"]
        implicit += [g for g in names if rule.groups.get(g, g) == "card"]
        contexts = {key: self._card_context(where, rule, key, names) for key in dict.fromkeys([*cards, *implicit])}
        for n, target in enumerate(rule.args):  # a positional word whose target is card, after its keyword
            if target == "card" and rule.keyword is not None:
                skip = f"(?: +[^ =]+){{{n}}}" if n else ""
                contexts[f"{rule.keyword} word {n + 1}"] = rf"(?<![^ ]){re.escape(rule.keyword)}{skip} +{_CARD_VALUE}"
        for key, pattern in contexts.items():
            name = f"{rule.dialect}:{key}"
            if self.card_contexts.get(name, pattern) != pattern:  # the same key read otherwise by another rule
                name = f"{name} (rule {i})"
            self.card_contexts[name] = pattern

    def _card_context(self, where: str, rule: Rule, key: str, groups: set[str]) -> str:
        """The card guard context (group "v" the value) of a rule's card key: a regex group, an
        ISO element in the rule's shape, or a key (``key=value``, ``"key": value``)."""
        if key in groups and rule.match is not None:
            pattern = rule.match.pattern
            if "(?P=" in pattern:
                raise DialectError(f"{where}: field 'cards': group {key!r}: 'match' has a back reference")
            pattern = re.sub(r"\(\?P<(\w+)>", lambda m: "(?P<v>" if m.group(1) == key else "(?:", pattern)
            return pattern[1:] if pattern.startswith("^") else pattern
        if rule.fields is None and re.fullmatch(_ELEMENT, key):
            before, _, after = iso_shapes()[rule.iso].partition("{n}")
            return r"(?<![\w\[])" + re.escape(before + key + after) + _CARD_VALUE
        last = re.escape(key.rpartition(".")[2])
        if rule.style.payload == "json":  # a JSON key only: in {"de":{"2":...}}, "2": is card data, DE42= is not
            return rf'"{last}"\s*:\s*{_CARD_VALUE}'
        return rf'(?:(?<![\w.]){last}=|"{last}"\s*:\s*){_CARD_VALUE}'

    def _check_samples(self) -> None:
        for sample in (s for name in self.names for s in self.samples[name]):
            tag, line = sample["tag"], sample.get("line")
            if "message" in sample:  # the tag in the message: found as a record's would be
                tag, line, _ = self.split_tag(None, sample["message"])
                if tag != sample["tag"]:
                    raise DialectError(f"{sample['where']}: the message's tag is {tag!r}, expected {sample['tag']!r}")
            applied = self.apply(tag, line) if tag is not None else None
            if applied is None:
                raise DialectError(f"{sample['where']}: no rule matches {sample.get('line', sample.get('message'))!r}")
            got = {"kind": applied.kind, **applied.columns}
            for key, want in sample.get("expect", {}).items():
                if got.get(key) != want:
                    raise DialectError(f"{sample['where']}: {key} is {got.get(key)!r}, expected {want!r}")

    def rules_by_tag(self) -> dict[str, list[Rule]]:
        """Each dialect tag's rules, in the order they are tried."""
        return {tag: list(rules) for tag, rules in self._by_tag.items()}

    @property
    def tags(self) -> set[str]:
        """Every tag some dialect owns."""
        return set(self._by_tag)

    def split_tag(self, tag: str | None, message: str | None) -> tuple[str | None, str | None, str | None]:
        """(dialect tag, payload, outer program) for a record; tag None when not a dialect line."""
        return self.tag_finder.split(tag, message, self._by_tag)

    def apply(self, tag: str, payload: str | None) -> Applied | None:
        """The first rule of ``tag`` that fits ``payload``, applied; None if none fits."""
        rules = self._by_tag.get(tag)
        if not rules or payload is None:
            return None
        parsed = parse_payload(payload)
        styled: dict[tuple[Style, str | None], Parsed | None] = {(REFERENCE, None): parsed or (None, [], {})}
        for rule in rules:
            iso = rule.iso if rule.fields is None and rule.iso != "DE" else None  # an ISO dump: keys read as DE<n>=
            if (rule.style, iso) not in styled:  # another payload style (payloads.py) or ISO shape, read once
                text = payload if iso is None else self.iso_shapes[iso].sub(r"DE\1=", payload)
                if rule.style == REFERENCE:
                    styled[(rule.style, iso)] = parse_payload(text) or (None, [], {})
                else:
                    styled[(rule.style, iso)] = payloads.read(rule.style, text, payload_parser())
            found = styled[(rule.style, iso)]
            if found is None:
                continue
            keyword, words, pairs = found
            if rule.keyword is not None and rule.keyword != keyword:
                continue
            groups: dict[str, str] = {}
            if rule.match is not None:
                m = rule.match.search(payload)
                if m is None:
                    continue
                groups = {k: v for k, v in m.groupdict().items() if v is not None}
            return Applied(rule.dialect, rule.kind, keyword, self._columns(rule, words, pairs, groups))
        return None

    def _columns(self, rule: Rule, words: list[str], pairs: dict[str, str], groups: dict[str, str]) -> dict[str, Any]:
        raw: dict[str, str] = {}
        attrs: dict[str, str] = {}
        for target, value in zip(rule.args, words, strict=False):
            raw[target] = value
        for extra in words[len(rule.args) :]:
            attrs.setdefault(WORDS_ATTR, "")
            attrs[WORDS_ATTR] = (attrs[WORDS_ATTR] + " " + extra).strip()
        for key, value in pairs.items():
            target = self._target(rule, key)
            if target is None:
                attrs[key] = value
            else:
                raw[target] = value
        raw.update({rule.groups.get(k, k): v for k, v in groups.items()})
        for target, words in rule.values.items():
            if target in raw:
                raw[target] = words.get(raw[target], raw[target])
        raw.update({k: str(v) for k, v in rule.constants.items()})
        return typed_columns(raw, attrs)

    def _target(self, rule: Rule, key: str) -> str | None:
        if rule.fields is not None:
            return rule.fields.get(key)
        if key.startswith("DE"):
            return self.iso.get(key[2:])
        return None


#: A minor-unit amount: an optional minus and up to 19 ASCII digits (what a 64-bit column may hold).
_MINOR = re.compile(r"\s*-?[0-9]{1,19}\s*")
_DECIMAL = re.compile(r"\s*-?[0-9]+\.[0-9]+\s*")


def typed_columns(raw: dict[str, str], attrs: dict[str, str]) -> dict[str, Any]:
    """Turn {target: text} into typed event columns; leftovers and bad values go to ``attrs``."""
    out: dict[str, Any] = {}
    cur_text = raw.get("currency")
    cur = currency(cur_text)
    if cur_text:
        out["currency"] = cur.code if cur else cur_text.strip().upper()
    exponent = cur.exponent if cur else None
    for target, value in raw.items():
        name, _, unit = target.partition(":")
        if name == "currency":
            continue
        if name.startswith("attrs."):
            attrs[name[6:]] = value
            continue
        if value == "":
            continue
        dtype = EVENT_COLUMNS[name][0]
        if name in ("amount", "tip"):
            if unit == "minor" and not _DECIMAL.fullmatch(value):
                minor = int(value) if _MINOR.fullmatch(value) else None
                if minor is not None and fits(name, minor):
                    out[name] = minor
                    if exponent is not None:
                        out["exponent"] = exponent
                    continue
            else:  # major units, and a minor-unit element written with a decimal point (jPOS "12.50")
                money = major_to_minor(value, exponent)
                if money is not None and fits(name, money[0]) and fits("exponent", money[1]):
                    out[name], out["exponent"] = money
                    continue
            attrs[name] = value
        elif dtype.is_integer():
            try:
                number = int(value)
            except ValueError:
                number = None
            if number is not None and fits(name, number):
                out[name] = number
            else:
                attrs[name] = value
        elif dtype.is_float():
            try:
                out[name] = float(value)
            except ValueError:
                attrs[name] = value
        else:
            out[name] = value.strip() if name in ("tid", "mid") else value
    if attrs:
        out["attrs"] = json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return out
