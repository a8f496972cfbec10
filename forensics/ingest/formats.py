"""The format registry: the format folders of ``forensics.formats`` (top-level ``grammars/``),
their Lark grammars and their self-check.

Everything that says "which formats exist" reads this one registry, and it learns them by
discovering the folders (no central list). A record's text becomes a dict of event columns
here: envelope (grammar + the folder's transformer), ISO fields, then the dialects.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import polars as pl
from lark import Lark
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)
from lark.load_grammar import FromPackageLoader

from forensics import formats as format_folders
from forensics.errors import DialectError, FormatError
from forensics.events import EVENT_COLUMNS, fits
from forensics.ingest.cards import CardGuard, screen_pattern
from forensics.ingest.dialect import (
    LALR_PLUGINS,
    Dialects,
    installed_sources,
    payload_parser,
    typed_columns,
)
from forensics.ingest.envelopes import check_columns
from forensics.ingest.fastpath import (
    FastDialects,
    FastFormat,
    NotRegular,
    compile_grammar,
)
from forensics.ingest.fastpath.compiler import strip_lookarounds
from forensics.ingest.fastpath.rows import Rows
from forensics.ingest.layouts import Layout, layout_transformer, read_layout, read_layouts, with_layouts

_FORMAT_KEYS = {
    "title",
    "role",
    "priority",
    "framing",
    "header",
    "time",
    "sample",
    "card_contexts",
    "guard_contexts",
    "guard_ids",
    "continuation",
    "crash_tags",
    "crash_starts",
    "levels",
    "block",
    "columns",
    "device_from_host",
    "row_kind",
    "layout",
    "detect",
    "furniture",
    "no_record",
}
_DETECT_LINES = 30
#: A block format's ``close`` that is no terminal: a blank line ends its record (logcat ``-v long``).
BLANK_LINE = "blank line"
_BLANK = re.compile(r"^[ \t]*$")
#: How many first lines of a file format detection looks at (blank ones skipped).
DETECT_HEAD = 4 * _DETECT_LINES
#: Where ``%import common (...)`` in a grammar finds the shared terminals.
_IMPORTS = [FromPackageLoader(format_folders.__name__)]


@dataclass(frozen=True)
class Choice:
    """A file's format as detection chose it, and why when the sample was not unanimous."""

    format: Format | None
    why: str | None


class RecordError(ValueError):
    """A record does not fit its format; the message is the reason kept in `unparsed`."""


@dataclass
class Format:
    """One registered input format (its folder's format.toml, grammar and module)."""

    name: str
    title: str
    role: str
    grammar: str
    framing: str
    parser: Lark
    module: ModuleType
    time: list[str]
    header: str | None = None
    continuation: tuple[str, ...] = ()
    crash_tags: tuple[str, ...] = ()
    crash_starts: tuple[str, ...] = ()
    levels: dict[str, str] = field(default_factory=dict)
    device_from_host: bool = False
    columns: dict[str, str] = field(default_factory=dict)
    row_kind: str = "log"
    card_contexts: dict[str, str] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    block_open: re.Pattern[str] | None = None
    block_close: re.Pattern[str] | None = None
    block_terminals: tuple[str, str] | None = None
    layouts: list[Layout] = field(default_factory=list)  # PatternLayouts declared in format.toml
    detect: bool = True  # False: chosen only when named for a file, never by detection
    #: lines the format's writer puts between records (jPOS's ``<?xml ...?>`` and ``<logger>`` headers)
    furniture: re.Pattern[str] | None = None
    #: (pattern, reason): a record the pattern finds is no record of the format (format.toml ``no_record``)
    no_record: tuple[tuple[re.Pattern[str], str], ...] = ()

    @property
    def no_record_screen(self) -> str | None:
        """One expression (Python's and Polars') finding the records ``no_record`` refuses, or None."""
        return "|".join(f"(?:{p.pattern})" for p, _ in self.no_record) or None

    def terminal_regex(self, name: str) -> re.Pattern[str]:
        """A grammar terminal's own regular expression (keeps the grammar the one definition)."""
        return re.compile(self.parser.get_terminal(name).pattern.to_regexp())

    def block_start(self, line: str) -> int:
        """Position where a record of this block format opens in ``line``, or -1."""
        if self.block_open is None:
            return -1
        m = self.block_open.search(line)
        return m.start() if m else -1

    def opens_record(self, line: str) -> bool:
        """True when a record of this block format opens in ``line`` with nothing but text before
        it (a new record, not a tag written inside another's line)."""
        at = self.block_start(line)
        return at >= 0 and "<" not in line[:at]

    def is_furniture(self, line: str) -> bool:
        """True when ``line`` is one the format's writer puts between records (format.toml ``furniture``)."""
        return self.furniture is not None and self.furniture.match(line) is not None

    def closes(self, text: str) -> bool:
        """True when a record of this block format closes in ``text``."""
        return self.block_close is not None and self.block_close.search(text) is not None


def _no_record(where: str, j: int, table: Any) -> tuple[re.Pattern[str], str]:
    """One ``[[no_record]]`` table: a pattern both Python and Polars run alike (no lookarounds) and its reason."""
    here = f"{where}: no_record {j}"
    if not isinstance(table, dict) or set(table) != {"pattern", "reason"}:
        raise FormatError(f"{here}: a table of 'pattern' and 'reason'")
    pattern, reason = str(table["pattern"]), str(table["reason"])
    if strip_lookarounds(pattern) != pattern:
        raise FormatError(f"{here}: 'pattern' has a lookaround, which Polars cannot run")
    try:
        compiled = re.compile(pattern)
        pl.Series([""]).str.contains(pattern)
    except (re.error, pl.exceptions.PolarsError) as exc:
        raise FormatError(f"{here}: 'pattern': {exc}") from exc
    return compiled, reason


def _load_format(name: str, raw: dict[str, Any], extra: Sequence[tuple[str, Any]] = ()) -> Format:
    """One folder's format, its grammar built with its transformer; FormatError says what is wrong.
    ``extra``: (where, table) of the PatternLayouts dialect files declare for it."""
    where = f"{name}/format.toml"
    unknown = set(raw) - _FORMAT_KEYS
    if unknown:
        raise FormatError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    role = raw.get("role")
    if role not in format_folders.ROLES:
        raise FormatError(f"{where}: field 'role' is {role!r}, expected one of {sorted(format_folders.ROLES)}")
    framing = raw.get("framing", "line")
    if framing not in ("line", "block") or (framing == "block") != ("block" in raw):
        raise FormatError(f"{where}: framing {framing!r}: a block format, and only one, names its 'block' terminals")
    module = importlib.import_module(f"{format_folders.__name__}.{name}")
    if not hasattr(module, "TRANSFORMER"):
        raise FormatError(f"{name}/__init__.py: no TRANSFORMER")
    grammar = f"{name}.lark"
    levels = raw.get("levels", {})
    layouts = read_layouts(where, raw.get("layout"))
    for here, table in extra:
        layouts.append(read_layout(here, table, f"layout_{len(layouts) + 1}"))
    transformer = module.TRANSFORMER(levels)
    try:
        text = format_folders.folder(name).joinpath(grammar).read_text(encoding="utf-8")
        if layouts:  # declared PatternLayouts: one whole-line terminal each, tried before the grammar's own
            text = with_layouts(text, [layout for layout, _ in layouts])
            for layout, _ in layouts:
                setattr(transformer, layout.name, layout_transformer(layout, transformer.level))
        parser = Lark(
            text,
            parser="lalr",
            transformer=transformer,
            maybe_placeholders=True,
            import_paths=_IMPORTS,
            **LALR_PLUGINS,
        )
    except (OSError, LarkError) as exc:
        raise FormatError(f"{where}: grammar {grammar}: {exc}") from exc
    for pattern in raw.get("time", []):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise FormatError(f"{where}: field 'time': {exc}") from exc
    try:
        furniture = re.compile(raw["furniture"]) if "furniture" in raw else None
    except re.error as exc:
        raise FormatError(f"{where}: field 'furniture': {exc}") from exc
    no_record = tuple(_no_record(where, j, table) for j, table in enumerate(raw.get("no_record", []), start=1))
    fmt = Format(
        name=name,
        title=raw.get("title", name),
        role=role,
        grammar=grammar,
        framing=framing,
        parser=parser,
        module=module,
        time=raw.get("time", []) + [layout.time for layout, _ in layouts if layout.time],
        header=raw.get("header"),
        continuation=tuple(raw.get("continuation", ())),
        crash_tags=tuple(raw.get("crash_tags", ())),
        crash_starts=tuple(raw.get("crash_starts", ())),
        levels=levels,
        device_from_host=raw.get("device_from_host", False),
        columns=raw.get("columns", {}),
        row_kind=raw.get("row_kind", "log"),
        card_contexts=raw.get("card_contexts", {}),
        samples=raw.get("sample", []) + [sample for _, samples in layouts for sample in samples],
        layouts=[layout for layout, _ in layouts],
        detect=raw.get("detect", True) is not False,
        furniture=furniture,
        no_record=no_record,
    )
    if framing == "block":
        terminals = (raw["block"].get("open"), raw["block"].get("close"))
        try:
            fmt.block_open, fmt.block_close = (
                _BLANK if t == BLANK_LINE else fmt.terminal_regex(str(t)) for t in terminals
            )
        except (KeyError, TypeError) as exc:
            raise FormatError(f"{where}: field 'block': {terminals} are not both terminals of {grammar}") from exc
        fmt.block_terminals = (str(terminals[0]), str(terminals[1]))
    return fmt


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
    """All formats (discovered in the format folders) and dialects, loaded and self-checked."""

    def __init__(self, dialects: Dialects | None = None):
        self.dialects = dialects or Dialects()
        declared = format_folders.declared()
        for name, tables in self.dialects.layouts.items():
            if name not in declared:
                raise DialectError(f"{tables[0][0]}: field 'format': no format {name!r} ({', '.join(declared)})")
        try:
            self.formats: dict[str, Format] = {
                name: _load_format(name, raw, self.dialects.layouts.get(name, ())) for name, raw in declared.items()
            }
        except FormatError as exc:
            if any(str(exc).startswith(where) for tables in self.dialects.layouts.values() for where, _ in tables):
                raise DialectError(str(exc)) from None  # a dialect file's layout: the dialect's error
            raise
        self._fast: dict[str, FastFormat | None] = {}
        self._fast_blocks: dict[str, Any] = {}
        self._fast_rows: dict[str, Rows | None] = {}
        self._check_samples()
        for wire in self.dialects.wire:  # the card screen must find a dump's lines, in Polars
            try:
                pl.Series([""]).str.contains(strip_lookarounds(wire.screen))
            except pl.exceptions.PolarsError as exc:
                raise DialectError(f"{wire.where}: field 'match': Polars cannot run it: {exc}") from None

    def _check_samples(self) -> None:
        for fmt in self.formats.values():
            counts: dict[str, int] = {}
            for sample in fmt.samples:
                # a layout's sample says where it is declared (a dialect file's: the dialect's error)
                source = sample.get("where", fmt.name + "/format.toml")
                counts[source] = j = counts.get(source, 0) + 1
                where = f"{source}: sample {j}"
                error = DialectError if not where.startswith(f"{fmt.name}/format.toml") else FormatError
                try:
                    got = self.record(fmt, sample["line"])
                except RecordError as exc:
                    raise error(f"{where}: does not parse: {exc}") from exc
                for key, want in sample.get("expect", {}).items():
                    if got.get(key) != want:
                        raise error(f"{where}: {key} is {got.get(key)!r}, expected {want!r}")

    def fast_format(self, fmt: Format | None) -> FastFormat | None:
        """The fast path of a line format (its grammar as one regular expression), if it has one."""
        twins = getattr(fmt.module, "TWINS", None) if fmt is not None else None
        if fmt is None or fmt.framing != "line" or fmt.card_contexts or twins is None:
            return None
        if fmt.name not in self._fast:
            try:
                regex = compile_grammar(fmt.parser)
            except NotRegular:
                self._fast[fmt.name] = None
            else:
                bound = {alt: functools.partial(twin, levels=fmt.levels) for alt, twin in twins.items()}
                bound |= {layout.name: functools.partial(layout.twin, levels=fmt.levels) for layout in fmt.layouts}
                self._fast[fmt.name] = FastFormat(fmt.name, regex, bound, fmt.continuation, fmt.crash_tags)
        return self._fast[fmt.name]

    def fast_blocks(self, fmt: Format | None) -> Any:
        """The column twin of a block format (its folder's ``BLOCK_TWIN``), if it has one: an
        object whose ``parse(lines, screen)`` gives (settled rows, indexes of the other lines)."""
        twin = getattr(fmt.module, "BLOCK_TWIN", None) if fmt is not None else None
        if fmt is None or fmt.block_terminals is None or twin is None:
            return None
        if fmt.name not in self._fast_blocks:
            # the guard's own decision on a line (its key keys card ids only: no output of it is kept)
            guard = CardGuard(b"screen", fmt.card_contexts, self.dialects.card_contexts)
            self._fast_blocks[fmt.name] = twin(
                fmt.parser, self.dialects.iso, *fmt.block_terminals, untouched=lambda t: guard.protect(t) == (t, [])
            )
        return self._fast_blocks[fmt.name]

    def fast_rows(self, fmt: Format | None) -> Rows | None:
        """The column twin of a tabular format's rows (its folder's ``ROW_TWIN``), if it has one."""
        twin = getattr(fmt.module, "ROW_TWIN", None) if fmt is not None else None
        if fmt is None or not fmt.header or fmt.framing != "line" or twin is None:
            return None
        if fmt.name not in self._fast_rows:
            self._fast_rows[fmt.name] = Rows(
                twin,
                fmt.parser.get_terminal(twin.field).pattern.to_regexp(),
                fmt.header.split(","),
                fmt.columns,
                fmt.row_kind,
                list(fmt.card_contexts.values()),
                fmt.continuation,
                fmt.crash_tags,
            )
        return self._fast_rows[fmt.name]

    @functools.cached_property
    def fast_dialects(self) -> FastDialects:
        """The dialects as column expressions (for the fast path)."""
        return FastDialects(self.dialects, payload_parser())

    @functools.cached_property
    def card_screen(self) -> str:
        """Regular expression of lines that may hold card data (kept off the fast path), the
        dialects' card contexts included (those Polars cannot run belong to rules it cannot
        run either: their lines take the Lark path anyway), and the ISO 8583 wire dumps they declare."""
        return screen_pattern(self._declared_contexts + [wire.screen for wire in self.dialects.wire])

    @functools.cached_property
    def card_screens(self) -> tuple[str, str | None]:
        """``card_screen`` in two parts: lines matching the first may hold card data; lines matching only the
        second (the dialects' card contexts; None: there are none) hold card data when the card guard changes them
        (a context's masked value, ``541333******2140``, leaves the line as it is)."""
        static = screen_pattern([wire.screen for wire in self.dialects.wire])
        contexts = [strip_lookarounds(p).replace("(?P<v>", "(?:") for p in self._declared_contexts]
        return static, "|".join(f"(?:{c})" for c in contexts) or None

    @functools.cached_property
    def _declared_contexts(self) -> list[str]:
        declared = []
        for pattern in self.dialects.card_contexts.values():
            lookaround_free = strip_lookarounds(pattern).replace("(?P<v>", "(?:")
            try:
                pl.Series([""]).str.contains(lookaround_free)
            except pl.exceptions.PolarsError:
                continue
            declared.append(pattern)
        return declared

    def detect(self, lines: list[str]) -> Format | None:
        """The format of a file from its first records (``choose``)."""
        return self.choose(lines).format

    def choose(self, lines: list[str]) -> Choice:
        """The format of a file from a sample of its first lines, and why.

        A tabular format whose header opens the file is chosen outright. Otherwise each format is
        scored on the sample: a line format by the lines its grammar reads, a block format by the
        lines its blocks cover (an excerpt may start or end inside a block); the highest score
        wins (ties: the order of the registry).
        """
        # a writer's own header lines (jPOS repeats ``<?xml ...?>`` and ``<logger>`` at each restart)
        # say nothing of which format reads the records
        furniture = [f for f in self.formats.values() if f.furniture is not None and f.detect]
        head = [
            line for line in lines[:DETECT_HEAD] if line.strip() and not any(f.is_furniture(line) for f in furniture)
        ][:_DETECT_LINES]
        if not head:
            only = [f for f in furniture if any(f.is_furniture(line) for line in lines[:DETECT_HEAD])]
            return (
                Choice(only[0], f"format {only[0].name}: its header lines, no record") if only else Choice(None, None)
            )
        first = head[0].lstrip("\ufeff").strip()
        for fmt in self.formats.values():
            if fmt.header and first == fmt.header and fmt.detect:
                return Choice(fmt, None)
        scores: dict[str, int] = {}
        for fmt in self.formats.values():
            if fmt.header or not fmt.detect:
                continue
            scores[fmt.name] = self._block_score(fmt, head) if fmt.framing == "block" else self._line_score(fmt, head)
        best = max(scores, key=lambda name: scores[name])
        if not scores[best]:
            return Choice(None, f"no known format reads any of the first {len(head)} lines")
        others = sorted(((n, v) for n, v in scores.items() if v and n != best), key=lambda nv: -nv[1])
        fmt = self.formats[best]
        # a line format's continuation lines (a folded message, a stack trace) are no record of their own
        folded = sum(
            1 for line in head[1:] if fmt.framing == "line" and fmt.continuation and line.startswith(fmt.continuation)
        )
        if scores[best] + folded >= len(head) and not others:
            return Choice(fmt, None)
        said = f"format {best}: it reads {scores[best]} of the first {len(head)} lines"
        if others:
            said += " (" + ", ".join(f"{n} {v}" for n, v in others) + ")"
        return Choice(fmt, said)

    @staticmethod
    def _line_score(fmt: Format, head: list[str]) -> int:
        score = 0
        for line in head:
            try:
                fmt.parser.parse(line)
                score += 1
            except (LarkError, ValueError, ArithmeticError, RecursionError):
                pass
        return score

    @staticmethod
    def _block_score(fmt: Format, head: list[str]) -> int:
        """Lines of ``head`` inside blocks of ``fmt``: from an opening line to its closing one (or
        the end), and the lines up to a closing line before any opening (a block cut at the start)."""
        covered, run, inside, opened = 0, 0, False, False
        for line in head:
            run += 1
            at = fmt.block_start(line)
            if not inside and at >= 0:
                inside, opened, run = True, True, 1
            if (inside or not opened) and fmt.closes(line[max(at, 0) :]):
                covered += run
                inside, opened, run = False, True, 0
        return covered + (run if inside else 0)

    def record(self, fmt: Format, text: str, header: list[str] | None = None) -> dict[str, Any]:
        """Event columns of one record's text; raises RecordError with the reason."""
        try:
            return self._record(fmt, text, header)
        except (ValueError, ArithmeticError) as exc:  # a value no column can hold (a 5,000-digit pid)
            if isinstance(exc, RecordError):
                raise
            raise RecordError(f"{fmt.name}: a value cannot be read: {exc}") from None

    def _record(self, fmt: Format, text: str, header: list[str] | None) -> dict[str, Any]:
        for pattern, reason in fmt.no_record:
            if pattern.search(text):
                raise RecordError(f"not {fmt.name}: {reason}")
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
            parsed = self.iso_columns(parsed)
        parsed.setdefault("kind", None)
        if parsed["kind"] is None:
            self._apply_dialect(parsed)
        for name, value in parsed.items():
            if type(value) is int and name in EVENT_COLUMNS and not fits(name, value):
                raise RecordError(f"{fmt.name}: {name} {value} is out of range ({EVENT_COLUMNS[name][0]})")
        return parsed

    def iso_columns(self, parsed: dict[str, Any]) -> dict[str, Any]:
        """``parsed`` with its ``_iso`` fields (element -> text) as typed event columns through the
        dialects' ISO table, and ``_attrs`` with the elements it does not name (``DE<n>``)."""
        iso = parsed.pop("_iso")
        attrs = parsed.pop("_attrs")
        raw = {}
        for element, value in iso.items():
            target = self.dialects.iso.get(element)
            if target is None:
                attrs[f"DE{element}"] = value
            else:
                raw[target] = value
        parsed.update(typed_columns(raw, attrs))
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


@functools.cache
def registry() -> Registry:
    """The format registry with the installed dialects (loaded and self-checked once)."""
    return Registry()


@functools.lru_cache(maxsize=4)
def registry_for(sources: tuple[tuple[str, str], ...] | None) -> Registry:
    """The format registry with the dialects of ``sources`` ((file name, text) pairs; None:
    the installed ones), built once per process and set of sources (worker processes too)."""
    if sources is None or sources == tuple(installed_sources()):
        return registry()
    return Registry(Dialects(list(sources)))
