"""The format registry: grammars/formats.toml, its Lark grammars and their self-check.

Everything that says "which formats exist" reads this one registry. A record's text becomes a
dict of event columns here: envelope (grammar + transformer), ISO fields, then the dialects.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from lark import Lark
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from forensics.errors import FormatError
from forensics.events import EVENT_COLUMNS, fits
from forensics.ingest.cards import screen_pattern
from forensics.ingest.dialect import (
    LALR_PLUGINS,
    Dialects,
    payload_parser,
    typed_columns,
)
from forensics.ingest.envelopes import TRANSFORMERS, VECTORIZED, check_columns
from forensics.ingest.fastpath import (
    BLOCK_TWINS,
    FastDialects,
    FastFormat,
    JposBlocks,
    NotRegular,
    compile_grammar,
)

_FORMAT_KEYS = {
    "name",
    "grammar",
    "title",
    "framing",
    "header",
    "time",
    "sample",
    "card_contexts",
    "continuation",
    "columns",
    "device_from_host",
    "row_kind",
}
_DETECT_LINES = 30
#: How many first lines of a file format detection looks at (blank ones skipped).
DETECT_HEAD = 4 * _DETECT_LINES


class RecordError(ValueError):
    """A record does not fit its format; the message is the reason kept in `unparsed`."""


@dataclass
class Format:
    """One registered input format."""

    name: str
    title: str
    grammar: str
    framing: str
    parser: Lark
    time: list[str]
    header: str | None = None
    continuation: bool = False
    device_from_host: bool = False
    columns: dict[str, str] = field(default_factory=dict)
    row_kind: str = "log"
    card_contexts: dict[str, str] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def terminal_regex(self, name: str) -> re.Pattern[str]:
        """A grammar terminal's own regular expression (keeps the grammar the one definition)."""
        return re.compile(self.parser.get_terminal(name).pattern.to_regexp())


def _reason(fmt: Format, exc: LarkError) -> str:
    if isinstance(exc, UnexpectedEOF):
        return f"not {fmt.name}: record ends early"
    if isinstance(exc, UnexpectedCharacters):
        return f"not {fmt.name}: unexpected {exc.char!r} at column {exc.column}"
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            return f"not {fmt.name}: record ends early"
        return f"not {fmt.name}: unexpected {str(exc.token)[:20]!r} at column {exc.column}"
    if isinstance(exc, UnexpectedInput):
        return f"not {fmt.name}: unexpected input at column {exc.column}"
    return f"not {fmt.name}: {type(exc).__name__}"


class Registry:
    """All formats and dialects, loaded and self-checked."""

    def __init__(self, dialects: Dialects | None = None):
        self.dialects = dialects or Dialects()
        folder = files("forensics.grammars")
        data = tomllib.loads(folder.joinpath("formats.toml").read_text(encoding="utf-8"))
        self.formats: dict[str, Format] = {}
        for i, raw in enumerate(data.get("format", []), start=1):
            where = f"formats.toml: format {i} ({raw.get('name', '?')})"
            unknown = set(raw) - _FORMAT_KEYS
            if unknown:
                raise FormatError(f"{where}: unknown field {sorted(unknown)[0]!r}")
            name = raw["name"]
            if name not in TRANSFORMERS:
                raise FormatError(f"{where}: no transformer for format {name!r}")
            try:
                grammar = folder.joinpath(raw["grammar"]).read_text(encoding="utf-8")
                parser = Lark(
                    grammar, parser="lalr", transformer=TRANSFORMERS[name](), maybe_placeholders=True, **LALR_PLUGINS
                )
            except (OSError, LarkError) as exc:
                raise FormatError(f"{where}: grammar {raw['grammar']}: {exc}") from exc
            for pattern in raw.get("time", []):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise FormatError(f"{where}: field 'time': {exc}") from exc
            self.formats[name] = Format(
                name=name,
                title=raw.get("title", name),
                grammar=raw["grammar"],
                framing=raw.get("framing", "line"),
                parser=parser,
                time=raw.get("time", []),
                header=raw.get("header"),
                continuation=raw.get("continuation", False),
                device_from_host=raw.get("device_from_host", False),
                columns=raw.get("columns", {}),
                row_kind=raw.get("row_kind", "log"),
                card_contexts=raw.get("card_contexts", {}),
                samples=raw.get("sample", []),
            )
        self._fast: dict[str, FastFormat | None] = {}
        self._fast_blocks: dict[str, JposBlocks] = {}
        self._log_open = self.formats["jpos"].terminal_regex("LOG_OPEN") if "jpos" in self.formats else None
        self._check_samples()

    def _check_samples(self) -> None:
        for fmt in self.formats.values():
            for j, sample in enumerate(fmt.samples, start=1):
                where = f"formats.toml: format {fmt.name}: sample {j}"
                try:
                    got = self.record(fmt, sample["line"])
                except RecordError as exc:
                    raise FormatError(f"{where}: does not parse: {exc}") from exc
                for key, want in sample.get("expect", {}).items():
                    if got.get(key) != want:
                        raise FormatError(f"{where}: {key} is {got.get(key)!r}, expected {want!r}")

    def fast_format(self, fmt: Format | None) -> FastFormat | None:
        """The fast path of a line format (its grammar as one regular expression), if it has one."""
        if fmt is None or fmt.framing != "line" or fmt.card_contexts or fmt.name not in VECTORIZED:
            return None
        if fmt.name not in self._fast:
            try:
                regex = compile_grammar(fmt.parser)
            except NotRegular:
                self._fast[fmt.name] = None
            else:
                self._fast[fmt.name] = FastFormat(fmt.name, regex, VECTORIZED[fmt.name])
        return self._fast[fmt.name]

    def fast_blocks(self, fmt: Format | None) -> JposBlocks | None:
        """The column twin of a block format (jPOS), if it has one."""
        if fmt is None or fmt.framing != "block" or fmt.name not in BLOCK_TWINS:
            return None
        if fmt.name not in self._fast_blocks:
            self._fast_blocks[fmt.name] = BLOCK_TWINS[fmt.name](fmt.parser, self.dialects.iso)
        return self._fast_blocks[fmt.name]

    @functools.cached_property
    def fast_dialects(self) -> FastDialects:
        """The dialects as column expressions (for the fast path)."""
        return FastDialects(self.dialects, payload_parser())

    @functools.cached_property
    def card_screen(self) -> str:
        """Regular expression of lines that may hold card data (kept off the fast path)."""
        return screen_pattern()

    def block_start(self, line: str) -> int:
        """Position where a block record (jPOS <log>) opens in ``line``, or -1."""
        if self._log_open is None:
            return -1
        m = self._log_open.search(line)
        return m.start() if m else -1

    def detect(self, lines: list[str]) -> Format | None:
        """The format of a file from its first records: header, block opening, then grammars."""
        head = [line for line in lines[:DETECT_HEAD] if line.strip()][:_DETECT_LINES]
        if not head:
            return None
        first = head[0].lstrip("\ufeff").strip()
        for fmt in self.formats.values():
            if fmt.header and first == fmt.header:
                return fmt
        if any(self.block_start(line) >= 0 for line in head[:5]):
            return self.formats.get("jpos")
        best: tuple[int, Format | None] = (0, None)
        for fmt in self.formats.values():
            if fmt.framing != "line" or fmt.header:
                continue
            score = 0
            for line in head:
                try:
                    fmt.parser.parse(line)
                    score += 1
                except (LarkError, ValueError, ArithmeticError, RecursionError):
                    pass
            if score > best[0]:
                best = (score, fmt)
        return best[1]

    def record(self, fmt: Format, text: str, header: list[str] | None = None) -> dict[str, Any]:
        """Event columns of one record's text; raises RecordError with the reason."""
        try:
            return self._record(fmt, text, header)
        except (ValueError, ArithmeticError) as exc:  # a value no column can hold (a 5,000-digit pid)
            if isinstance(exc, RecordError):
                raise
            raise RecordError(f"{fmt.name}: a value cannot be read: {exc}") from None

    def _record(self, fmt: Format, text: str, header: list[str] | None) -> dict[str, Any]:
        try:
            parsed = fmt.parser.parse(text)
        except LarkError as exc:
            raise RecordError(_reason(fmt, exc)) from None
        except RecursionError:
            raise RecordError(f"not {fmt.name}: record too deeply nested") from None
        if isinstance(parsed, list):  # a tabular row
            parsed = self._row(fmt, parsed, header or (fmt.header or "").split(","))
        else:
            check_columns(parsed)
        if "_iso" in parsed:
            iso = parsed.pop("_iso")
            attrs = parsed.pop("_attrs")
            raw = {}
            for element, value in iso.items():
                target = self.dialects.iso.get(element)
                if target is None:
                    attrs[f"DE{element}"] = value
                else:
                    raw[target] = value
            typed = typed_columns(raw, attrs)
            parsed.update(typed)
        parsed.setdefault("kind", None)
        if parsed["kind"] is None:
            self._apply_dialect(parsed)
        for name, value in parsed.items():
            if type(value) is int and name in EVENT_COLUMNS and not fits(name, value):
                raise RecordError(f"{fmt.name}: {name} {value} is out of range ({EVENT_COLUMNS[name][0]})")
        return parsed

    def _row(self, fmt: Format, values: list[str | None], header: list[str]) -> dict[str, Any]:
        if len(values) != len(header):
            raise RecordError(f"not {fmt.name}: {len(values)} fields, header has {len(header)}")
        if values == header:
            return {"kind": "file.header", "message": ",".join(header)}
        raw: dict[str, str] = {}
        out: dict[str, Any] = {"kind": fmt.row_kind}
        attrs: dict[str, str] = {}
        for name, value in zip(header, values, strict=False):
            if value is None:
                continue
            target = fmt.columns.get(name, f"attrs.{name}")
            if target == "ts_raw":
                out["ts_raw"] = value
            else:
                raw[target] = value
        out.update(typed_columns(raw, attrs))
        return out

    def _apply_dialect(self, parsed: dict[str, Any]) -> None:
        dtag, payload, program = self.dialects.split_tag(parsed.get("tag"), parsed.get("message"))
        if dtag is None:
            parsed["kind"] = "log"
            return
        applied = self.dialects.apply(dtag, payload)
        parsed["tag"] = dtag
        parsed["message"] = payload
        if applied is None:
            parsed["kind"] = "log"
            if program:
                parsed["attrs"] = _merge_attrs(parsed.get("attrs"), {"program": program})
            return
        parsed["dialect"] = applied.dialect
        parsed["kind"] = applied.kind
        parsed["keyword"] = applied.keyword
        extra = {"program": program} if program else {}
        attrs = applied.columns.pop("attrs", None)
        parsed.update(applied.columns)
        if attrs or extra or parsed.get("attrs"):
            merged = json.loads(attrs) if attrs else {}
            parsed["attrs"] = _merge_attrs(parsed.get("attrs"), {**merged, **extra})


def _merge_attrs(existing: str | None, more: dict[str, Any]) -> str | None:
    base = json.loads(existing) if existing else {}
    base.update(more)
    return json.dumps(base, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if base else None
