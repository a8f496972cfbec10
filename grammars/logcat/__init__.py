"""Android logcat (logcat.lark): threadtime, time, brief, tag, process, thread (with the year, zone,
uid, epoch and monotonic modifiers), dividers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from forensics.ingest.envelopes import Envelope, level_expr, message, stamp_expr, text

#: Seconds of ``-v epoch`` from here on (2001-09-09); fewer are ``-v monotonic`` (since boot).
EPOCH_FROM = 10**9


class Logcat(Envelope):
    """One logcat line -> event columns."""

    def threadtime(self, c: list[Any]) -> dict[str, Any]:
        date, time, zone, _uid, pid, thread, prio, tag, msg = c
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
        date, time, zone, prio, tag, _uid, pid, msg = c
        ts = f"{text(date)} {text(time)}" + (f" {text(zone)}" if zone else "")
        return {
            "ts_raw": ts,
            "pid": int(text(pid)),
            "level": self.level(prio),
            "tag": text(tag).rstrip(),
            "message": message(msg),
        }

    def threadtime_secs(self, c: list[Any]) -> dict[str, Any]:
        secs, uid, pid, thread, prio, tag, msg = c
        return {**self.threadtime([None, None, None, uid, pid, thread, prio, tag, msg]), **_seconds(text(secs))}

    def time_secs(self, c: list[Any]) -> dict[str, Any]:
        secs, prio, tag, uid, pid, msg = c
        return {**self.time([None, None, None, prio, tag, uid, pid, msg]), **_seconds(text(secs))}

    def brief(self, c: list[Any]) -> dict[str, Any]:
        prio, tag, _uid, pid, msg = c
        return {"pid": int(text(pid)), "level": self.level(prio), "tag": text(tag).rstrip(), "message": message(msg)}

    def tag(self, c: list[Any]) -> dict[str, Any]:
        prio, tag, msg = c
        return {"level": self.level(prio), "tag": text(tag).rstrip(), "message": message(msg)}

    def process(self, c: list[Any]) -> dict[str, Any]:
        prio, pid, msg, tag = c
        return {
            "pid": int(text(pid)),
            "level": self.level(prio),
            "tag": text(tag).strip()[1:-1],
            "message": message(msg),
        }

    def thread(self, c: list[Any]) -> dict[str, Any]:
        prio, pid, thread, msg = c
        return {"pid": int(text(pid)), "thread": int(text(thread)), "level": self.level(prio), "message": message(msg)}

    def divider(self, c: list[Any]) -> dict[str, Any]:
        return {"kind": "log.divider", "message": text(c[0]).rstrip()}


def _seconds(secs: str) -> dict[str, Any]:
    """``-v epoch`` seconds are the time (ts_raw); ``-v monotonic`` ones, since boot, the uptime."""
    if int(secs.split(".")[0]) >= EPOCH_FROM:
        return {"ts_raw": secs}
    return {"ts_raw": None, "uptime": float(secs)}


def _seconds_expr(secs: pl.Expr) -> dict[str, pl.Expr]:
    epoch = secs.str.extract(r"^(\d+)", 1).cast(pl.Int64, strict=False) >= EPOCH_FROM
    return {"ts_raw": pl.when(epoch).then(secs), "uptime": pl.when(~epoch).then(secs.cast(pl.Float64))}


def _threadtime(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, zone, _uid, pid, thread, prio, tag, msg = c
    return {
        "ts_raw": stamp_expr(date, time, zone),
        "pid": pid,
        "thread": thread,
        "level": level_expr(prio, levels),
        "tag": tag,
        "message": msg.str.strip_chars(),
    }


def _time(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, zone, prio, tag, _uid, pid, msg = c
    return {
        "ts_raw": stamp_expr(date, time, zone),
        "pid": pid,
        "level": level_expr(prio, levels),
        "tag": tag.str.strip_chars_end(),
        "message": msg.str.strip_chars(),
    }


def _threadtime_secs(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    secs, uid, pid, thread, prio, tag, msg = c
    none = pl.lit(None, pl.String)
    return {**_threadtime([none, none, none, uid, pid, thread, prio, tag, msg], levels), **_seconds_expr(secs)}


def _time_secs(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    secs, prio, tag, uid, pid, msg = c
    none = pl.lit(None, pl.String)
    return {**_time([none, none, none, prio, tag, uid, pid, msg], levels), **_seconds_expr(secs)}


def _brief(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    prio, tag, _uid, pid, msg = c
    return {
        "pid": pid,
        "level": level_expr(prio, levels),
        "tag": tag.str.strip_chars_end(),
        "message": msg.str.strip_chars(),
    }


def _tag(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    prio, tag, msg = c
    return {"level": level_expr(prio, levels), "tag": tag.str.strip_chars_end(), "message": msg.str.strip_chars()}


def _process(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    prio, pid, msg, tag = c
    return {
        "pid": pid,
        "level": level_expr(prio, levels),
        "tag": tag.str.strip_chars().str.slice(1, tag.str.strip_chars().str.len_chars() - 2),
        "message": msg.str.strip_chars(),
    }


def _thread(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    prio, pid, thread, msg = c
    return {"pid": pid, "thread": thread, "level": level_expr(prio, levels), "message": msg.str.strip_chars()}


def _divider(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    return {"kind": pl.lit("log.divider"), "message": c[0].str.strip_chars_end()}


TRANSFORMER = Logcat
#: start-rule alternative -> its vectorized twin (the fast path's; tests hold each to its method)
TWINS = {
    "threadtime": _threadtime,
    "time": _time,
    "threadtime_secs": _threadtime_secs,
    "time_secs": _time_secs,
    "brief": _brief,
    "tag": _tag,
    "process": _process,
    "thread": _thread,
    "divider": _divider,
}
