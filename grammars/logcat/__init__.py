"""Android logcat (logcat.lark): threadtime (incl. -v year / -v zone), time, brief, dividers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from forensics.ingest.envelopes import Envelope, level_expr, message, stamp_expr, text


class Logcat(Envelope):
    """One logcat line -> event columns."""

    def threadtime(self, c: list[Any]) -> dict[str, Any]:
        date, time, zone, pid, thread, prio, tag, msg = c
        ts = f"{text(date)} {text(time)}" + (f" {text(zone)}" if zone else "")
        return {
            "ts_raw": ts,
            "pid": int(text(pid)),
            "thread": int(text(thread)),
            "level": self.level(prio),
            "tag": text(tag),
            "message": message(msg),
        }

    def time(self, c: list[Any]) -> dict[str, Any]:
        date, time, zone, prio, tag, pid, msg = c
        ts = f"{text(date)} {text(time)}" + (f" {text(zone)}" if zone else "")
        return {
            "ts_raw": ts,
            "pid": int(text(pid)),
            "level": self.level(prio),
            "tag": text(tag).rstrip(),
            "message": message(msg),
        }

    def brief(self, c: list[Any]) -> dict[str, Any]:
        prio, tag, pid, msg = c
        return {"pid": int(text(pid)), "level": self.level(prio), "tag": text(tag).rstrip(), "message": message(msg)}

    def divider(self, c: list[Any]) -> dict[str, Any]:
        return {"kind": "log.divider", "message": text(c[0]).rstrip()}


def _threadtime(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, zone, pid, thread, prio, tag, msg = c
    return {
        "ts_raw": stamp_expr(date, time, zone),
        "pid": pid,
        "thread": thread,
        "level": level_expr(prio, levels),
        "tag": tag,
        "message": msg.str.strip_chars(),
    }


def _time(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, zone, prio, tag, pid, msg = c
    return {
        "ts_raw": stamp_expr(date, time, zone),
        "pid": pid,
        "level": level_expr(prio, levels),
        "tag": tag.str.strip_chars_end(),
        "message": msg.str.strip_chars(),
    }


def _brief(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    prio, tag, pid, msg = c
    return {
        "pid": pid,
        "level": level_expr(prio, levels),
        "tag": tag.str.strip_chars_end(),
        "message": msg.str.strip_chars(),
    }


def _divider(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    return {"kind": pl.lit("log.divider"), "message": c[0].str.strip_chars_end()}


TRANSFORMER = Logcat
#: start-rule alternative -> its vectorized twin (the fast path's; tests hold each to its method)
TWINS = {"threadtime": _threadtime, "time": _time, "brief": _brief, "divider": _divider}
