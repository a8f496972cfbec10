"""Android logcat ``-v raw`` (logcat_raw.lark): the message alone; a dialect may find its tag in it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from forensics.ingest.envelopes import Envelope, message


class LogcatRaw(Envelope):
    """One ``-v raw`` line -> its message."""

    def start(self, c: list[Any]) -> dict[str, Any]:
        return {"message": message(c[0])}


def _start(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    return {"message": c[0].str.strip_chars()}


TRANSFORMER = LogcatRaw
#: start-rule alternative -> its vectorized twin
TWINS = {"start": _start}
