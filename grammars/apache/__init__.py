"""Apache httpd error_log lines (apache.lark)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from forensics.ingest.envelopes import Envelope, level_expr, message, text


class Apache(Envelope):
    """One error_log line -> event columns."""

    def start(self, c: list[Any]) -> dict[str, Any]:
        stamp, level, msg = c
        return {"ts_raw": text(stamp), "level": self.level(level), "message": message(msg)}


def _start(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    stamp, level, msg = c
    return {"ts_raw": stamp, "level": level_expr(level, levels), "message": msg.str.strip_chars()}


TRANSFORMER = Apache
#: start-rule alternative -> its vectorized twin
TWINS = {"start": _start}
