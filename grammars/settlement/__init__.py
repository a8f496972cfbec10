"""Acquirer settlement CSV (settlement.lark): a row's field texts; format.toml maps the header's
columns to event columns."""

from __future__ import annotations

from typing import Any

from forensics.ingest.envelopes import Envelope, text


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


TRANSFORMER = Settlement
