"""log4j and logback lines (hdfs.lark): HDFS's compact layout; the common log4j, logback, Spring Boot,
Spark and Zookeeper layouts.
The log4j thread name stays in ``text``; Zookeeper's [thread:Class@line] is the tag."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from forensics.ingest.envelopes import Envelope, level_expr, message, stamp_expr, text


class Hdfs(Envelope):
    """One log4j line -> event columns."""

    def compact(self, c: list[Any]) -> dict[str, Any]:
        date, time, pid, level, cls, msg = c
        return {
            "ts_raw": f"{text(date)} {text(time)}",
            "pid": int(text(pid)),
            "level": self.level(level),
            "tag": text(cls),
            "message": message(msg),
        }

    def log4j(self, c: list[Any]) -> dict[str, Any]:
        date, time, level, _thread, cls, msg = c
        return {
            "ts_raw": f"{text(date)} {text(time)}",
            "level": self.level(level),
            "tag": text(cls),
            "message": message(msg),
        }

    def bracketed(self, c: list[Any]) -> dict[str, Any]:
        date, time, level, _thread, logger, msg = c
        return {
            "ts_raw": f"{text(date)} {text(time)}",
            "level": self.level(level),
            "tag": text(logger)[1:-1],
            "message": message(msg),
        }

    def thread_first(self, c: list[Any]) -> dict[str, Any]:
        date, time, _thread, level, logger, msg = c
        return {
            "ts_raw": f"{text(date)} {text(time)}" if date is not None else text(time),
            "level": self.level(level),
            "tag": text(logger),
            "message": message(msg),
        }

    def dashed(self, c: list[Any]) -> dict[str, Any]:
        date, time, level, logger, msg = c
        return {
            "ts_raw": f"{text(date)} {text(time)}",
            "level": self.level(level),
            "tag": text(logger),
            "message": message(msg),
        }

    def spring(self, c: list[Any]) -> dict[str, Any]:
        date, time, level, pid, _thread, logger, msg = c
        return {
            "ts_raw": f"{text(date)} {text(time)}",
            "pid": int(text(pid)),
            "level": self.level(level),
            "tag": text(logger),
            "message": message(msg),
        }

    def spark(self, c: list[Any]) -> dict[str, Any]:
        date, time, level, cls, msg = c
        return {
            "ts_raw": f"{text(date)} {text(time)}",
            "level": self.level(level),
            "tag": text(cls),
            "message": message(msg),
        }

    def zookeeper(self, c: list[Any]) -> dict[str, Any]:
        date, time, level, where, msg = c
        return {
            "ts_raw": f"{text(date)} {text(time)}",
            "level": self.level(level),
            "tag": text(where)[1:-1],
            "message": message(msg),
        }


def _compact(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, pid, level, cls, msg = c
    return {
        "ts_raw": stamp_expr(date, time),
        "pid": pid,
        "level": level_expr(level, levels),
        "tag": cls,
        "message": msg.str.strip_chars(),
    }


def _log4j(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, level, _thread, cls, msg = c
    return {
        "ts_raw": stamp_expr(date, time),
        "level": level_expr(level, levels),
        "tag": cls,
        "message": msg.str.strip_chars(),
    }


def _bracketed(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, level, _thread, logger, msg = c
    return {
        "ts_raw": stamp_expr(date, time),
        "level": level_expr(level, levels),
        "tag": logger.str.slice(1, logger.str.len_chars() - 2),
        "message": msg.str.strip_chars(),
    }


def _thread_first(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, _thread, level, logger, msg = c
    return {
        "ts_raw": pl.coalesce(stamp_expr(date, time), time),
        "level": level_expr(level, levels),
        "tag": logger,
        "message": msg.str.strip_chars(),
    }


def _dashed(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, level, logger, msg = c
    return {
        "ts_raw": stamp_expr(date, time),
        "level": level_expr(level, levels),
        "tag": logger,
        "message": msg.str.strip_chars(),
    }


def _spring(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, level, pid, _thread, logger, msg = c
    return {
        "ts_raw": stamp_expr(date, time),
        "pid": pid,
        "level": level_expr(level, levels),
        "tag": logger,
        "message": msg.str.strip_chars(),
    }


def _spark(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, level, cls, msg = c
    return {
        "ts_raw": stamp_expr(date, time),
        "level": level_expr(level, levels),
        "tag": cls,
        "message": msg.str.strip_chars(),
    }


def _zookeeper(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    date, time, level, where, msg = c
    return {
        "ts_raw": stamp_expr(date, time),
        "level": level_expr(level, levels),
        "tag": where.str.slice(1, where.str.len_chars() - 2),
        "message": msg.str.strip_chars(),
    }


TRANSFORMER = Hdfs
#: start-rule alternative -> its vectorized twin
TWINS = {
    "compact": _compact,
    "log4j": _log4j,
    "bracketed": _bracketed,
    "thread_first": _thread_first,
    "dashed": _dashed,
    "spring": _spring,
    "spark": _spark,
    "zookeeper": _zookeeper,
}
