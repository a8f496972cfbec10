"""Row runner: the column twin of the registry's tabular rows (``Registry._row``), for a format
with a ``header`` whose folder declares ``ROW_TWIN``.

A line is split into fields by the grammar's own field terminal; the folder's twin gives each
field's value (unquoting) as its transformer does; the header names the columns and format.toml
``columns`` maps them to event columns as on the Lark path. Only rows it is sure of are taken:
plain lines no card rule could touch (the format's ``card_contexts`` included), a whole match of
the row grammar, as many fields as the header and values the typed columns accept. Every other
line goes to Lark, which gives its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from forensics.ingest.fastpath.compiler import strip_lookarounds
from forensics.ingest.fastpath.lines import context_lines, eligible
from forensics.ingest.fastpath.typed import attrs_json, typed

#: Joins a row's values and the header to compare them (no plain line holds it).
_JOIN = "\x00"


@dataclass(frozen=True)
class RowTwin:
    """A tabular format's fast-path declaration (its folder's ``ROW_TWIN``): the grammar terminal
    of one field, the separator between fields, and the column twin of its transformer's value
    of one field text (the text of an empty field is never passed: it is null)."""

    field: str
    separator: str
    value: Callable[[pl.Expr], pl.Expr]


@dataclass
class Rows:
    """The fast path of one tabular format: ``parse(lines, screen)`` gives (settled rows,
    indexes of the other lines), like a block twin."""

    twin: RowTwin
    field_regex: str
    header: list[str]
    columns: dict[str, str]
    row_kind: str
    card_contexts: list[str] = field(default_factory=list)
    continuation: tuple[str, ...] = ()
    crash_tags: tuple[str, ...] = ()

    def parse(self, lines: pl.Series, screen: str) -> tuple[pl.DataFrame, pl.Series]:
        """Event rows of the lines settled here (``_i``, ``line``, ``line_end``, ``text`` and
        columns), and the 0-based indexes of every other line."""
        sep = self.twin.separator
        one = f"(?:{self.field_regex})"
        row = f"^{one}?(?:{_quote(sep)}{one}?)*$"
        frame = pl.DataFrame({"text": lines}).with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
        text = pl.col("text")
        ok = (
            eligible(text, screen)
            & ~context_lines(frame["text"], self.continuation, self.crash_tags)
            & text.str.contains(row)
        )
        # each card context a pass of its own, not an alternative of the screen: joined to it, a context such as
        # ``^(?:[^,]*,){10}\d{13,19}`` took the regex engine off its fast automaton (8 s against 0.06 s for
        # 50,000 settlement rows); the lines matched are the same
        for context in self.card_contexts:
            ok = ok & ~text.str.contains(strip_lookarounds(context).replace("(?P<v>", "(?:"))
        # each field with the separator before it (one put before the first): no match is empty
        pieces = pl.concat_str(pl.lit(sep), text).str.extract_all(f"{_quote(sep)}{one}?")
        rows = frame.filter(ok).with_columns(_f=pieces.list.eval(pl.element().str.slice(len(sep))))
        rows = rows.filter(pl.col("_f").list.len() == len(self.header))
        fields = [pl.col("_f").list.get(j) for j in range(len(self.header))]
        values = [pl.when(f != "").then(self.twin.value(f)) for f in fields]
        is_header = pl.concat_str([v.fill_null(_JOIN) for v in values], separator=_JOIN) == _JOIN.join(self.header)
        rows = rows.with_columns(_header=is_header)
        targets: dict[str, list[pl.Expr]] = {}
        for name, value in zip(self.header, values, strict=True):
            targets.setdefault(self.columns.get(name, f"attrs.{name}"), []).append(value)
        # a later column mapped to the same target wins where it has a value, as in the record's dict
        merged = {t: pl.coalesce(list(reversed(v))) if len(v) > 1 else v[0] for t, v in targets.items()}
        items = rows.filter(~pl.col("_header"))
        cells = items.select("_i", **{t: e for t, e in merged.items()})
        typed_names = [t for t in merged if t != "ts_raw" and not t.startswith("attrs.")]
        wide = cells.select(
            "_i", *(pl.when(pl.col(t) != "").then(pl.col(t)).alias(t) for t in typed_names)
        )  # an empty value fills no typed column
        wide, bad = typed(wide)
        attr_names = [t for t in merged if t.startswith("attrs.")]
        attrs = pl.concat(
            [
                cells.filter(pl.col(t).is_not_null()).select("_i", _akey=pl.lit(t[6:]), _val=pl.col(t))
                for t in attr_names
            ]
            or [pl.DataFrame(schema={"_i": pl.Int64, "_akey": pl.String, "_val": pl.String})]
        )
        json = attrs_json(attrs, cells.select("_i", _program=pl.lit(None, pl.String)))
        out = (
            items.select("_i", "text")
            .join(cells.select("_i", *(["ts_raw"] if "ts_raw" in merged else [])), on="_i", how="left")
            .join(wide, on="_i", how="left")
            .join(json, on="_i", how="left")
            .filter(~pl.col("_i").is_in(bad.implode()))
        )
        typed_values = {c[3:]: pl.col(c) for c in wide.columns if c.startswith("_v_")}
        done = pl.concat(
            [
                out.select(
                    "_i",
                    "text",
                    kind=pl.lit(self.row_kind),
                    attrs=pl.col("_attrs"),
                    **({"ts_raw": pl.col("ts_raw")} if "ts_raw" in merged else {}),
                    **typed_values,
                ),
                rows.filter(pl.col("_header")).select(
                    "_i", "text", kind=pl.lit("file.header"), message=pl.lit(",".join(self.header))
                ),
            ],
            how="diagonal",
        ).with_columns(line=pl.col("_i") + 1, line_end=pl.col("_i") + 1)
        rest = frame.select("_i").filter(~pl.col("_i").is_in(done["_i"].implode())).to_series()
        return done.sort("_i"), rest


def _quote(text: str) -> str:
    """``text`` as a literal in a regular expression (Rust and Python syntax alike)."""
    return "".join(ch if ch.isalnum() or ch in ",;: " else "\\" + ch for ch in text)
