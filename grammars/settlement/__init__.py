"""Acquirer settlement CSV (settlement.lark): a row's field texts; format.toml maps the header's
columns to event columns. ``ROW_TWIN`` is the fast path's column twin of a row."""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.ingest.envelopes import Envelope, text
from forensics.ingest.fastpath.rows import RowTwin


class Settlement(Envelope):
    """One CSV row -> a list of field texts (None for empty)."""

    def start(self, c: list[Any]) -> list[str | None]:
        out: list[str | None] = []
        for token in c:
            if token is None:
                out.append(None)
                continue
            value = text(token)
            if value.startswith('"'):
                value = value[1:-1].replace('""', '"')
            out.append(value)
        return out


def _value(field: pl.Expr) -> pl.Expr:
    """Column twin of a field's value in ``Settlement.start``: a quoted field unquoted."""
    inner = field.str.slice(1, field.str.len_chars() - 2).str.replace_all('""', '"', literal=True)
    return pl.when(field.str.starts_with('"')).then(inner).otherwise(field)


TRANSFORMER = Settlement
#: the column twin of a row (the fast path's): fields by the grammar's FIELD terminal
ROW_TWIN = RowTwin(field="FIELD", separator=",", value=_value)
