"""Checking a dialect file on real logs: what it maps, what it misses, and in what shapes.

``check_dialect(file, logs)`` loads the file beside the installed dialects (its samples checked,
as at any load; it replaces an installed file of the same file name or dialect name, so a shipped
dialect can be checked as edited), parses the logs with them in batches (memory follows the batch
and the number of shapes kept, not the logs) and reports, for an analyst writing a dialect for
a log never seen before:

- per tag of the dialect, the app lines each kind got;
- the lines of its tags no rule matched, grouped by shape (templates mined by Drain3, numbers,
  card data and identifiers masked), most frequent first, with their count and one example;
- per column with a value map, the values that stayed outside it (kept as logged) and are no
  canonical word downstream knows either (``forensics.vocabulary``);
- the lines whose tag no dialect owns, most frequent tags first.

Examples are shown as parsed: card data masked by the card guard (and the dialect's ``cards``).
"""

from __future__ import annotations

import json
import logging
import re
import textwrap
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from forensics.errors import DialectError, FormatError
from forensics.ingest.cards import CardGuard, mask_name, mask_text
from forensics.ingest.dialect import Dialects, installed_sources
from forensics.ingest.formats import Registry
from forensics.ingest.framing import record_batches
from forensics.ingest.parse import parse_batch
from forensics.ingest.read import Reader
from forensics.vocabulary import VALUES

#: Shapes kept per tag while mining (Drain3 forgets the least recently seen beyond it): memory stays bounded.
MAX_SHAPES_PER_TAG = 500
#: What Drain3 masks before mining, in order: card data first, then identifiers and numbers.
_MASKS = [
    (r"\d{6}[*_Xx#]{2,9}\d{4}", "CARD"),
    (r"[0-9A-F]{2,}\*+[0-9A-F]*|\*{4,}\d{0,4}", "CARD"),
    (r"(?<![A-Za-z0-9])[A-Za-z]*\d[A-Za-z0-9_.:/-]*+(?!=)", "ID"),  # a value, not a key (F4=, DE11=)
    (r'(?<=":)"[^"]*"', "STR"),
]


@dataclass
class Shape:
    """Lines of one tag that no rule matched and that share one template."""

    tag: str
    template: str
    count: int
    example: str
    path: str
    line: int


@dataclass
class Report:
    """What a dialect made of some logs (``check_dialect``)."""

    dialect: str
    title: str
    file: str
    rules: int
    samples: int
    tags: list[str]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    mapped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tag, kind) -> lines, by this dialect
    mapped_by_others: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (tag, dialect, kind)
    unmatched: list[Shape] = field(default_factory=list)
    outside: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (column, kind, value) -> lines
    other_dialects: Counter[str] = field(default_factory=Counter)  # lines of tags other dialects own
    unowned: Counter[str] = field(default_factory=Counter)  # lines of tags no dialect owns, by tag
    unparsed: int = 0
    untagged: int = 0  # terminal lines without a tag (logcat dividers)
    other_roles: int = 0  # host, settlement and system lines: no terminal app's

    @property
    def app_lines(self) -> int:
        """Lines of the dialect's tags."""
        return sum(self.mapped.values()) + sum(self.mapped_by_others.values()) + self.unmatched_lines

    @property
    def unmatched_lines(self) -> int:
        """Lines of the dialect's tags no rule matched."""
        return sum(s.count for s in self.unmatched)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``forensics dialect check --format json``)."""
        return {
            "dialect": self.dialect,
            "title": self.title,
            "file": self.file,
            "rules": self.rules,
            "samples": self.samples,
            "tags": self.tags,
            "inputs": self.inputs,
            "app_lines": self.app_lines,
            "mapped": [{"tag": tag, "kind": kind, "lines": n} for (tag, kind), n in _ranked(self.mapped)],
            "mapped_by_other_dialects": [
                {"tag": tag, "dialect": d, "kind": kind, "lines": n}
                for (tag, d, kind), n in _ranked(self.mapped_by_others)
            ],
            "unmatched_lines": self.unmatched_lines,
            "unmatched": [
                {
                    "tag": s.tag,
                    "shape": s.template,
                    "lines": s.count,
                    "example": s.example,
                    "path": s.path,
                    "line": s.line,
                }
                for s in self.unmatched
            ],
            "outside_value_maps": [
                {"column": c, "kind": k, "value": v, "lines": n} for (c, k, v), n in _ranked(self.outside)
            ],
            "other_dialects": [{"dialect": d, "lines": n} for d, n in _ranked(self.other_dialects)],
            "unowned_tags": [{"tag": t, "lines": n} for t, n in _ranked(self.unowned)],
            "unparsed_lines": self.unparsed,
            "untagged_lines": self.untagged,
            "other_roles_lines": self.other_roles,
        }

    def to_json(self) -> str:
        """``to_dict`` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_text(self, width: int = 120, top: int = 20) -> str:
        """The report for a terminal, no line wider than ``width``; ``top`` rows per list."""
        out = [_cut(f"dialect {self.dialect} ({self.file}): {self.title}", width)]
        out += textwrap.wrap(
            f"{self.rules} rules, {self.samples} samples checked; tags: {', '.join(self.tags)}",
            width,
            initial_indent="  ",
            subsequent_indent="    ",
        )
        out.append("inputs:")
        for row in self.inputs:
            out.append(_cut(f"  {row['path']}: {row['format']}, {row['lines']} lines", width))
        out += textwrap.wrap(
            f"lines of {self.dialect}'s tags: {self.app_lines} ({sum(self.mapped.values())} mapped by {self.dialect}, "
            f"{sum(self.mapped_by_others.values())} by other dialects, {self.unmatched_lines} matched by no rule); "
            f"lines of other dialects' tags: {sum(self.other_dialects.values())}; of tags no dialect owns: "
            f"{sum(self.unowned.values())}; without a tag: {self.untagged}; unparsed: {self.unparsed}; "
            f"host, settlement and system records: {self.other_roles}",
            width,
            subsequent_indent="  ",
        )
        out.append("")
        out.append("mapped, per tag and kind:")
        rows = [(tag, kind, n) for (tag, kind), n in _ranked(self.mapped)]
        rows += [(tag, f"{kind} (by {d})", n) for (tag, d, kind), n in _ranked(self.mapped_by_others)]
        out += _table(["tag", "kind", "lines"], sorted(rows, key=lambda r: (r[0], -r[2], r[1])), width) or ["  none"]
        out.append("")
        out.append(f"matched by no rule, by shape ({len(self.unmatched)} shapes, most frequent first):")
        if not self.unmatched:
            out.append("  none")
        for s in self.unmatched[:top]:
            out.append(_cut(f"  {s.count:>7}  {s.tag}: {s.template}", width))
            out.append(_cut(f"           e.g. {Path(s.path).name}:{s.line}: {s.example}", width))
        if len(self.unmatched) > top:
            rest = self.unmatched[top:]
            out.append(f"  ... {len(rest)} more shapes, {sum(s.count for s in rest)} lines (--format json lists all)")
        out.append("")
        out.append("values outside the value maps (kept as logged):")
        rows = [(c, k, v, n) for (c, k, v), n in _ranked(self.outside)][:top]
        out += _table(["column", "kind", "value", "lines"], rows, width) or ["  none"]
        out.append("")
        out.append("tags no dialect owns (most lines first):")
        rows = [(t, n) for t, n in _ranked(self.unowned)][:top]
        out += _table(["tag", "lines"], rows, width) or ["  none"]
        if len(self.unowned) > top:
            out.append(f"  ... {len(self.unowned) - top} more tags")
        return "\n".join(out) + "\n"


def _ranked(counter: Counter[Any]) -> list[tuple[Any, int]]:
    """Most frequent first, ties in key order (same input, same bytes)."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: list[str], rows: list[tuple[Any, ...]], width: int) -> list[str]:
    if not rows:
        return []
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    widths = [min(w, 60) for w in widths]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if i == len(values) - 1 else _cut(v, w).ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return _cut("  " + "  ".join(parts), width)

    return [line(header)] + [line(r) for r in cells]


# -- loading -------------------------------------------------------------------------------------


def load_checked(file: str | Path) -> tuple[Dialects, dict[str, Any]]:
    """The installed dialects with ``file`` in place of any of the same file or dialect name, and the
    file's own TOML; DialectError (one line, naming the file) when it does not load or a sample fails."""
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DialectError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DialectError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DialectError(f"{path.name}: not valid TOML: {exc}") from exc
    name = data.get("name")
    sources = [
        (file_name, source)
        for file_name, source in installed_sources()
        if file_name != path.name and _name_of(source) != name
    ]
    dialects = Dialects([*sources, (path.name, text)])
    return dialects, data


def _name_of(text: str) -> str | None:
    try:
        return tomllib.loads(text).get("name")
    except tomllib.TOMLDecodeError:
        return None


# -- value maps ----------------------------------------------------------------------------------


def _targets(rule: dict[str, Any]) -> set[str]:
    """The columns a rule fills from the line (fields, regex groups, positional args), units dropped."""
    out: set[str] = set()
    fields = rule.get("fields")
    if isinstance(fields, dict):
        out.update(str(t) for t in fields.values())
    groups = rule.get("groups") if isinstance(rule.get("groups"), dict) else {}
    out.update(str(t) for t in groups.values())
    if isinstance(rule.get("match"), str):
        try:
            out.update(g for g in re.compile(rule["match"]).groupindex if g not in groups)
        except re.error:
            pass
    out.update(str(t) for t in rule.get("args", []) if isinstance(t, str))
    return {t.split(":", 1)[0] for t in out if not t.startswith("attrs.")}


def value_maps(data: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(kind, column) -> the canonical words the dialect's value maps give there, for each column a
    rule of that kind fills from the line while a value map (the file's or the rule's) covers it."""
    file_maps = data.get("values") if isinstance(data.get("values"), dict) else {}
    out: dict[tuple[str, str], set[str]] = {}
    for rule in data.get("rule", []):
        if not isinstance(rule, dict) or not isinstance(rule.get("kind"), str):
            continue
        maps = {**file_maps, **(rule.get("values") if isinstance(rule.get("values"), dict) else {})}
        for column in _targets(rule):
            mapping = maps.get(column)
            if isinstance(mapping, dict) and mapping:  # an empty map: the rule keeps this column as logged
                out.setdefault((rule["kind"], column), set()).update(str(v) for v in mapping.values())
    return out


# -- the check -----------------------------------------------------------------------------------


class _Miner:
    """Drain3 template mining of the unmatched lines, one miner per tag, with an example per shape."""

    def __init__(self) -> None:
        from drain3 import TemplateMiner
        from drain3.masking import MaskingInstruction
        from drain3.template_miner_config import TemplateMinerConfig

        logging.getLogger("drain3").setLevel(logging.WARNING)
        self._config = TemplateMinerConfig()
        self._config.masking_instructions = [MaskingInstruction(p, name) for p, name in _MASKS]
        self._config.drain_extra_delimiters = [","]
        self._config.drain_max_clusters = MAX_SHAPES_PER_TAG
        self._config.profiling_enabled = False
        self._new = lambda: TemplateMiner(config=self._config)
        self.miners: dict[str, Any] = {}
        self.examples: dict[tuple[str, int], tuple[str, str, int]] = {}

    def add(self, tag: str, message: str, path: str, line: int) -> None:
        miner = self.miners.get(tag)
        if miner is None:
            miner = self.miners[tag] = self._new()
        first_line = message.split("\n", 1)[0]
        result = miner.add_log_message(first_line)
        key = (tag, result["cluster_id"])
        if key not in self.examples:
            self.examples[key] = (mask_text(first_line), path, line)

    def shapes(self) -> list[Shape]:
        out = []
        for tag, miner in self.miners.items():
            for cluster in miner.drain.clusters:
                example, path, line = self.examples.get((tag, cluster.cluster_id), ("", "", 0))
                out.append(Shape(tag, mask_text(cluster.get_template()), cluster.size, example, path, line))
        return sorted(out, key=lambda s: (-s.count, s.tag, s.template))


def check_dialect(file: str | Path, logs: list[str | Path], *, batch_bytes: int = 16 << 20) -> Report:
    """Load the dialect ``file`` (see ``load_checked``), parse ``logs`` with it and the installed dialects,
    and report its coverage. DialectError for a file that does not load, InputError for a log that
    cannot be read."""
    dialects, data = load_checked(file)
    name = data["name"]
    by_tag = dialects.rules_by_tag()
    own_tags = [t for t in data.get("tags", []) if isinstance(t, str)]
    report = Report(
        dialect=name,
        title=dialects.titles.get(name, ""),
        file=str(file),
        rules=len(data.get("rule", [])),
        samples=len(dialects.samples.get(name, [])),
        tags=own_tags,
    )
    owners = {tag: {r.dialect for r in rules} for tag, rules in by_tag.items()}
    for tag in own_tags:  # a tag the file declares, rules or not
        owners.setdefault(tag, set()).add(name)
    maps = value_maps(data)
    try:
        reg = Registry(dialects)
    except FormatError as exc:  # the format folders' samples read their app lines through the dialects
        raise DialectError(f"{Path(file).name}: with it in place, a format sample no longer parses: {exc}") from exc
    guard = CardGuard()
    miner = _Miner()
    resolved: dict[str | None, str | None] = {}

    def owner_tag(tag: str | None) -> str | None:
        if tag not in resolved:
            resolved[tag] = tag if tag in owners else dialects.split_tag(tag, None)[0]
        return resolved[tag]

    for log in logs:
        reader = Reader(log, batch_bytes)
        reader.path = mask_name(reader.path)
        fmt_name = "unknown"
        for fmt, offset, lines, cuts in record_batches(reader, reg):
            fmt_name = fmt.name if fmt is not None else "unknown"
            events, unparsed, _ = parse_batch(reader.path, lines, offset, cuts, fmt, reg, guard, None, 200_000, True)
            report.unparsed += len(unparsed["line"])
            _count(report, events, name, owners, owner_tag, maps, miner)
        report.inputs.append({"path": reader.path, "format": fmt_name, "lines": reader.lines})
    report.unmatched = miner.shapes()
    return report


def _count(
    report: Report,
    events: pl.DataFrame,
    name: str,
    owners: dict[str, set[str]],
    owner_tag: Callable[[str | None], str | None],
    maps: dict[tuple[str, str], set[str]],
    miner: _Miner,
) -> None:
    """Add one batch of events to the report."""
    terminal = events.filter(pl.col("role") == "terminal")
    report.other_roles += events.height - terminal.height
    if not terminal.height:
        return
    tags = terminal["tag"].unique().to_list()
    lookup = pl.DataFrame(
        {"tag": tags, "_dtag": [owner_tag(t) for t in tags]}, schema={"tag": pl.String, "_dtag": pl.String}
    )
    terminal = terminal.join(lookup, on="tag", how="left", nulls_equal=True)
    mine = [tag for tag, who in owners.items() if name in who]
    given = terminal.filter(pl.col("dialect").is_not_null())
    for (tag, dialect, kind), n in _groups(given, ["tag", "dialect", "kind"]):
        if dialect == name:
            report.mapped[(tag, kind)] += n
        elif tag in mine:
            report.mapped_by_others[(tag, dialect, kind)] += n
        else:
            report.other_dialects[dialect] += n
    for (kind, column), allowed in maps.items():
        values = given.filter(pl.col("dialect") == name, pl.col("kind") == kind, pl.col(column).is_not_null())
        for (value,), n in _groups(values.with_columns(pl.col(column).cast(pl.String)), [column]):
            if value not in allowed and value not in VALUES.get(column, {}):  # a canonical word as logged is known
                report.outside[(column, kind, value)] += n
    rest = terminal.filter(pl.col("dialect").is_null())
    report.untagged += rest.filter(pl.col("tag").is_null()).height
    for (tag,), n in _groups(rest.filter(pl.col("_dtag").is_null() & pl.col("tag").is_not_null()), ["tag"]):
        report.unowned[tag] += n
    others = rest.filter(pl.col("_dtag").is_not_null() & ~pl.col("_dtag").is_in(mine))
    for (dtag,), n in _groups(others, ["_dtag"]):
        report.other_dialects[", ".join(sorted(owners.get(dtag, {"?"}))) + " (matched by no rule)"] += n
    unmatched = rest.filter(pl.col("_dtag").is_in(mine)).select("_dtag", "message", "path", "line")
    for dtag, message, path, line in unmatched.iter_rows():
        miner.add(dtag, message or "", path, line)


def _groups(frame: pl.DataFrame, keys: list[str]) -> list[tuple[tuple[Any, ...], int]]:
    if not frame.height:
        return []
    counted = frame.group_by(keys).len()
    return [(tuple(row[:-1]), row[-1]) for row in counted.iter_rows()]
