"""What every format's transformer and vectorized twin share (no format is named here).

A format folder (``grammars/<name>/``) holds a Lark transformer, applied inside the LALR parse
(no tree is built), that turns one record into a dict of event columns, and for a line format
its vectorized twin: the same mapping on whole columns, one function per start-rule
alternative, for the fast path (``forensics.ingest.fastpath``). The tools both use are here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
from lark import Transformer

from forensics.events import EVENT_COLUMNS

#: The level letters of the events table (logcat's priorities, the canonical form).
LEVEL_LETTERS = "VDIWEF"

#: A vectorized twin: the kept terminals of one alternative (as columns) -> event columns.
Twin = Callable[[list[pl.Expr]], dict[str, pl.Expr]]
#: What a format module declares: twin makers that take the format's level words.
TwinMaker = Callable[[list[pl.Expr], Mapping[str, str]], dict[str, pl.Expr]]


class Envelope(Transformer):
    """Base of the format transformers: knows its format's level words (format.toml ``levels``)."""

    def __init__(self, levels: Mapping[str, str] | None = None):
        super().__init__()
        self.levels = dict(levels or {})

    def level(self, word: Any) -> str | None:
        """A level letter (kept as is) or a level word of this format -> V D I W E F (else None)."""
        return level_of(None if word is None else text(word), self.levels)


def level_of(word: str | None, levels: Mapping[str, str]) -> str | None:
    """Normalise a severity letter, or a word of ``levels`` (any case), to V D I W E F."""
    if not word:
        return None
    if len(word) == 1:
        return word if word in LEVEL_LETTERS else None
    return levels.get(word.lower())


def text(token: Any) -> str:
    """A token's text (Lark's and lark-cython's tokens both carry ``.value``)."""
    return token.value if hasattr(token, "value") else str(token)


def message(token: Any) -> str | None:
    """A rest-of-line token as the ``message`` column (surrounding blanks removed)."""
    return None if token is None else text(token).strip()


def check_columns(record: dict[str, Any]) -> None:
    """Raise ValueError when a transformer produced a column the events table lacks."""
    unknown = {k for k in record if not k.startswith("_")} - set(EVENT_COLUMNS)
    if unknown:
        raise ValueError(f"transformer produced unknown columns {sorted(unknown)}")


def level_expr(word: pl.Expr, levels: Mapping[str, str]) -> pl.Expr:
    """``level_of`` on a column."""
    one = pl.when(word.is_in(list(LEVEL_LETTERS))).then(word)
    return (
        pl.when(word.str.len_chars() == 1)
        .then(one)
        .otherwise(word.str.to_lowercase().replace_strict(dict(levels), default=None, return_dtype=pl.String))
    )


def stamp_expr(date: pl.Expr, time: pl.Expr, zone: pl.Expr | None = None) -> pl.Expr:
    """``date time`` (and `` zone`` where there is one) as one ``ts_raw`` column."""
    parts = [date, pl.lit(" "), time]
    if zone is not None:
        parts.append(pl.when(zone.is_not_null()).then(pl.lit(" ") + zone).otherwise(pl.lit("")))
    return pl.concat_str(parts)
