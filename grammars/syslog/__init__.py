"""Syslog (syslog.lark): BSD (RFC 3164 file form) and IETF (RFC 5424) lines."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from forensics.ingest.envelopes import Envelope, level_expr, message, text

#: The highest PRI value (facility 23, severity 7); a larger one has no severity.
_MAX_PRI = 191


class Syslog(Envelope):
    """One syslog line -> event columns; the level is the PRI's severity (format.toml ``levels``)."""

    def _pri_level(self, pri: Any) -> str | None:
        if pri is None:
            return None
        value = int(text(pri)[1:-1])
        return self.levels.get(str(value % 8)) if value <= _MAX_PRI else None

    def _word_level(self, word: Any) -> str | None:
        return None if word is None else self.level(text(word).strip(" <>"))

    def bsd(self, c: list[Any]) -> dict[str, Any]:
        pri, stamp, host, tag, procid, asl, msg = c
        return {
            "ts_raw": text(stamp),
            "host": text(host),
            "tag": text(tag),
            "pid": int(text(procid)) if procid is not None else None,
            "level": self._word_level(asl) or self._pri_level(pri),
            "message": message(msg),
        }

    def bsd_hostless(self, c: list[Any]) -> dict[str, Any]:
        pri, stamp, tag, procid, msg = c
        return {
            "ts_raw": text(stamp),
            "tag": text(tag),
            "pid": int(text(procid)) if procid is not None else None,
            "level": self._pri_level(pri),
            "message": message(msg),
        }

    def severity(self, c: list[Any]) -> dict[str, Any]:
        pri, stamp, word, tag, procid, msg = c
        return {
            "ts_raw": text(stamp),
            "tag": text(tag),
            "pid": int(text(procid)) if procid is not None else None,
            "level": self._word_level(word) or self._pri_level(pri),
            "message": message(msg),
        }

    def severity_untagged(self, c: list[Any]) -> dict[str, Any]:
        pri, stamp, word, msg = c
        return {
            "ts_raw": text(stamp),
            "level": self._word_level(word) or self._pri_level(pri),
            "message": message(msg),
        }

    def repeated(self, c: list[Any]) -> dict[str, Any]:
        pri, stamp, said = c
        return {"ts_raw": text(stamp), "level": self._pri_level(pri), "message": text(said)}

    def bsd_untagged(self, c: list[Any]) -> dict[str, Any]:
        pri, stamp, host, msg = c
        return {"ts_raw": text(stamp), "host": text(host), "level": self._pri_level(pri), "message": message(msg)}

    def ietf_bare(self, c: list[Any]) -> dict[str, Any]:
        return self.ietf([None, *c])

    def ietf(self, c: list[Any]) -> dict[str, Any]:
        pri, _version, stamp, host, app, procid, msgid, sd, msg = c

        def nil(t: Any) -> Any:
            return None if t is None or text(t) == "-" else text(t)

        attrs: dict[str, Any] = {}
        if sd:
            attrs["sd"] = sd
        if nil(msgid):
            attrs["msgid"] = text(msgid)
        pid_text = nil(procid)
        if pid_text and not pid_text.isdigit():
            attrs["procid"] = pid_text
        body = message(msg)
        if body and body.startswith("\ufeff"):
            body = body[1:]
        return {
            "ts_raw": nil(stamp),
            "host": nil(host),
            "tag": nil(app),
            "pid": int(text(pid_text)) if pid_text and pid_text.isdigit() else None,
            "level": self._pri_level(pri),
            "message": body,
            "attrs": json.dumps(attrs, sort_keys=True, separators=(",", ":")) if attrs else None,
        }

    def sd_nil(self, c: list[Any]) -> None:
        return None

    def sd(self, c: list[Any]) -> dict[str, dict[str, str]]:
        return dict(c)

    def sd_element(self, c: list[Any]) -> tuple[str, dict[str, str]]:
        return text(c[0]), dict(c[1:])

    def sd_param(self, c: list[Any]) -> tuple[str, str]:
        name, value = c
        return text(name), re.sub(r"\\(.)", r"\1", text(value)[1:-1])


def _pri_expr(pri: pl.Expr, levels: Mapping[str, str]) -> pl.Expr:
    value = pri.str.strip_chars("<>").cast(pl.Int64)
    return pl.when(value <= _MAX_PRI).then(
        (value % 8).cast(pl.String).replace_strict(dict(levels), default=None, return_dtype=pl.String)
    )


def _word_expr(word: pl.Expr, levels: Mapping[str, str]) -> pl.Expr:
    return level_expr(word.str.strip_chars(" <>"), levels)


def _bsd(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    pri, stamp, host, tag, procid, asl, msg = c
    return {
        "ts_raw": stamp,
        "host": host,
        "tag": tag,
        "pid": procid,
        "level": pl.coalesce(_word_expr(asl, levels), _pri_expr(pri, levels)),
        "message": msg.str.strip_chars(),
    }


def _bsd_hostless(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    pri, stamp, tag, procid, msg = c
    return {
        "ts_raw": stamp,
        "tag": tag,
        "pid": procid,
        "level": _pri_expr(pri, levels),
        "message": msg.str.strip_chars(),
    }


def _severity(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    pri, stamp, word, tag, procid, msg = c
    return {
        "ts_raw": stamp,
        "tag": tag,
        "pid": procid,
        "level": pl.coalesce(_word_expr(word, levels), _pri_expr(pri, levels)),
        "message": msg.str.strip_chars(),
    }


def _severity_untagged(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    pri, stamp, word, msg = c
    return {
        "ts_raw": stamp,
        "level": pl.coalesce(_word_expr(word, levels), _pri_expr(pri, levels)),
        "message": msg.str.strip_chars(),
    }


def _repeated(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    pri, stamp, said = c
    return {"ts_raw": stamp, "level": _pri_expr(pri, levels), "message": said}


def _bsd_untagged(c: list[pl.Expr], levels: Mapping[str, str]) -> dict[str, pl.Expr]:
    pri, stamp, host, msg = c
    return {"ts_raw": stamp, "host": host, "level": _pri_expr(pri, levels), "message": msg.str.strip_chars()}


TRANSFORMER = Syslog
#: start-rule alternative -> its vectorized twin (ietf lines take the Lark path)
TWINS = {
    "repeated": _repeated,
    "severity": _severity,
    "severity_untagged": _severity_untagged,
    "bsd_hostless": _bsd_hostless,
    "bsd": _bsd,
    "bsd_untagged": _bsd_untagged,
}
