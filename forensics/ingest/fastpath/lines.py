"""Line runner: the lines of one batch through a format's compiled expression, its vectorized
twins and the dialect twin; the rows it cannot settle exactly are left to Lark."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from forensics.events import EVENTS_SCHEMA
from forensics.ingest import cards  # the module, read when called (cards imports this package's compiler)
from forensics.ingest.envelopes import Twin
from forensics.ingest.fastpath.compiler import Alternative, LineRegex
from forensics.ingest.fastpath.dialects import FastDialects
from forensics.ingest.read import MAX_LINE

#: Lines the fast path may take: printable ASCII, tabs, and letters and punctuation of any script. Not other
#: characters on which Rust's regex (Polars) and Python's (Lark, the card guard) may differ, or that Python reads
#: as more than text: digits beyond 0-9 (``int`` reads them), spaces beyond " " and tabs, combining marks (``\w``
#: to Rust, not to Python), connector punctuation (``\w`` to Rust), symbols (some are letters to Rust), control
#: and format characters, the four letters that match an ASCII letter case-insensitively (to one engine), the two
#: whose capitals came after Python 3.11's tables (U+019B, U+0264: Polars upper-cases them, Python does not), and
#: what Unicode assigned after 13.0 (Python 3.11 knows Unicode 14.0, Rust's regex a later one: a letter to one is
#: unassigned to the other). Of the characters kept, both engines agree on ``\w``, ``\s``, ``\d``, case-folding to
#: ASCII, upper and lower case (tests/test_fastpath.py checks every one).
PLAIN = (
    r"^(?:[\x20-\x7e\t]|[\p{L}\p{P}--\p{Pc}--\p{ASCII}--[\x{17F}\x{212A}\x{130}\x{131}\x{19B}\x{264}]"
    r"&&\p{Age=13.0}])*$"
)


def envelope(lines: pl.DataFrame, regex: LineRegex, twins: dict[str, Twin]) -> pl.DataFrame:
    """Event columns (by each alternative's twin) of the lines ``regex`` matches.

    ``lines`` has ``_i`` and ``text``; rows no alternative with a twin matches are dropped, and
    so are rows with a value that does not convert to its column's type. Each row's groups are
    those of the alternative the whole expression takes (``first_matches``), captured by that
    alternative's own expression: the capture engine's work grows with the expression's size.
    """
    pieces = []
    names: dict[str, None] = {}
    for alt, rows in first_matches(lines, regex.alternatives):
        if alt.name not in twins:
            continue
        parts = rows.with_columns(_m=pl.col("text").str.extract_groups(alt.pattern)).unnest("_m")
        hit = pl.col(alt.witness).is_not_null()
        if alt.rest is not None:  # stopped early: the rest of the line, or a match that reaches its end
            span_end = pl.col(str(alt.span)).str.len_chars()
            hit &= pl.col(alt.rest).is_not_null() | (span_end == pl.col("text").str.len_chars())
            parts = parts.filter(hit).with_columns(
                pl.when(pl.col(alt.rest).is_not_null()).then(pl.col("text").str.slice(span_end - 1)).alias(alt.rest)
            )
        else:
            parts = parts.filter(hit)
        columns = twins[alt.name]([pl.col(g) for g in alt.children])
        names.update(dict.fromkeys(columns))
        pieces.append(parts.select("_i", "text", *(expr.alias(name) for name, expr in columns.items())))
    if not pieces:
        return lines.clear().select("_i", "text")
    raw = pl.concat(pieces, how="diagonal_relaxed").sort("_i").select("_i", "text", *names)
    typed = {name: pl.col(name).cast(EVENTS_SCHEMA[name], strict=False) for name in names}
    # a number too long for its column: Lark reports the line
    bad = [pl.col(name).is_not_null() & typed[name].is_null() for name in names if EVENTS_SCHEMA[name].is_numeric()]
    return raw.filter(~pl.any_horizontal(bad) if bad else pl.lit(True)).with_columns(
        cast.alias(name) for name, cast in typed.items()
    )


def first_matches(lines: pl.DataFrame, alternatives: list[Alternative]) -> list[tuple[Alternative, pl.DataFrame]]:
    """The rows of ``lines`` grouped by the alternative a leftmost-first match of all of them
    (in order) would take: the first whose expression matches the row. The last group also
    holds the rows no alternative matches. Halves are tested as one expression each, so a
    row's alternative is found in about log2(alternatives) passes."""
    if lines.is_empty() or not alternatives:
        return []
    if len(alternatives) == 1:
        return [(alternatives[0], lines)]
    half = len(alternatives) // 2
    early = pl.col("text").str.contains("|".join(a.pattern for a in alternatives[:half]))
    marked = lines.with_columns(_early=early)
    return [
        *first_matches(marked.filter(pl.col("_early")).drop("_early"), alternatives[:half]),
        *first_matches(marked.filter(~pl.col("_early")).drop("_early"), alternatives[half:]),
    ]


def eligible(text: pl.Expr, guard_pattern: str) -> pl.Expr:
    """Lines the fast path may take at all (before its grammar and dialects are tried)."""
    return (
        (text.str.len_chars() <= MAX_LINE)
        & text.str.contains(PLAIN)
        & ~text.str.contains(guard_pattern)
        & ~text.str.contains(cards.HEX_SCREEN)
        & (text.str.strip_chars() != "")
    )


def context_lines(text: pl.Series, continuation: tuple[str, ...], crash_tags: tuple[str, ...]) -> pl.Series:
    """Lines that belong to, or open, a multi-line record (with the line before each): lines
    starting with a ``continuation`` mark or holding a ``crash_tags`` tag."""
    marks = pl.repeat(False, text.len(), eager=True)
    if continuation:
        marks = marks | text.str.contains("^(?:" + "|".join(re.escape(s) for s in continuation) + ")")
    if crash_tags:
        marks = marks | text.str.contains("|".join(re.escape(t) for t in crash_tags))
    return marks | marks.shift(-1, fill_value=False)


@dataclass
class FastFormat:
    """What the fast path needs for one line format."""

    name: str
    regex: LineRegex
    twins: dict[str, Twin]
    continuation: tuple[str, ...] = field(default=())
    crash_tags: tuple[str, ...] = field(default=())


def parse(
    lines: pl.Series,
    fmt: FastFormat,
    dialects: FastDialects,
    screen: str,
    declared: tuple[str, Callable[[str], bool]] | None = None,
) -> tuple[pl.DataFrame, pl.Series]:
    """Event rows of the lines the fast path settles, and the 0-based indexes of the rest.

    Rows carry ``line`` (1-based) and every event column but ``path``, ``format`` and ``ts``.
    ``screen``: lines that may hold card data (left to the per-record path). ``declared``: a second screen,
    and which of the lines it matches hold no card data after all (the card guard leaves them as they are).
    """
    frame = pl.DataFrame({"text": lines}).with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
    ok = frame.select(eligible(pl.col("text"), screen)).to_series() & ~context_lines(
        frame["text"], fmt.continuation, fmt.crash_tags
    )
    if declared is not None:  # each screen runs once over the lines
        pattern, untouched = declared
        hit = frame["text"].str.contains(pattern)
        maybe = frame.filter(ok & hit)
        cleared = maybe["_i"].filter(pl.Series([untouched(t) for t in maybe["text"]], dtype=pl.Boolean))
        ok = ok & (~hit | frame["_i"].is_in(cleared.implode()))
    env = envelope(frame.filter(ok), fmt.regex, fmt.twins)
    for name in ("kind", "tag", "message", "attrs"):
        if name not in env.columns:
            env = env.with_columns(pl.lit(None, pl.String).alias(name))
    done = dialects.apply(env).filter(~pl.col("_refuse"))
    rest = frame.select("_i").filter(~pl.col("_i").is_in(done["_i"].implode())).to_series()
    done = done.with_columns(line=pl.col("_i") + 1, line_end=pl.col("_i") + 1).drop("_i", "_refuse")
    return done, rest
