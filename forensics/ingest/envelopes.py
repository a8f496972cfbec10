"""Transformers: what each grammar's parse gives as event columns (before dialects).

One small Lark transformer per format in grammars/formats.toml, applied inside the LALR parse
(no tree is built). Each returns a dict of event columns for one record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import polars as pl
from lark import Transformer

from forensics.events import EVENT_COLUMNS

# Severity words and syslog PRI severities -> the one-letter levels of logcat.
_LEVEL_WORDS = {
    "trace": "V",
    "verbose": "V",
    "debug": "D",
    "info": "I",
    "notice": "I",
    "warn": "W",
    "warning": "W",
    "err": "E",
    "error": "E",
    "crit": "F",
    "critical": "F",
    "alert": "F",
    "emerg": "F",
    "fatal": "F",
    "severe": "F",
}
_PRI_LEVELS = ("F", "F", "F", "E", "W", "I", "I", "D")
_ATTR = re.compile(r'([\w.:-]+)="([^"]*)"')
_TAG_NAME = re.compile(r"</?([A-Za-z][\w.:-]*)")


def level_of(word: str | None) -> str | None:
    """Normalise a severity word or letter to V D I W E F."""
    if not word:
        return None
    if len(word) == 1:
        return word if word in "VDIWEF" else None
    return _LEVEL_WORDS.get(word.lower())


def _pri_level(pri: Any) -> str | None:
    if pri is None:
        return None
    value = int(_v(pri)[1:-1])
    return _PRI_LEVELS[value % 8] if value <= 191 else None


def _v(token: Any) -> str:
    """A token's text (Lark's and lark-cython's tokens both carry ``.value``)."""
    return token.value if hasattr(token, "value") else str(token)


def _msg(token: Any) -> str | None:
    return None if token is None else _v(token).strip()


class Logcat(Transformer):
    """logcat.lark: threadtime (incl. -v year / -v zone), time, brief, dividers."""

    def threadtime(self, c: list[Any]) -> dict[str, Any]:
        date, time, zone, pid, thread, prio, tag, msg = c
        ts = f"{_v(date)} {_v(time)}" + (f" {_v(zone)}" if zone else "")
        return {
            "ts_raw": ts,
            "pid": int(_v(pid)),
            "thread": int(_v(thread)),
            "level": level_of(_v(prio)),
            "tag": _v(tag),
            "message": _msg(msg),
        }

    def time(self, c: list[Any]) -> dict[str, Any]:
        date, time, zone, prio, tag, pid, msg = c
        ts = f"{_v(date)} {_v(time)}" + (f" {_v(zone)}" if zone else "")
        return {
            "ts_raw": ts,
            "pid": int(_v(pid)),
            "level": level_of(_v(prio)),
            "tag": _v(tag).rstrip(),
            "message": _msg(msg),
        }

    def brief(self, c: list[Any]) -> dict[str, Any]:
        prio, tag, pid, msg = c
        return {"pid": int(_v(pid)), "level": level_of(_v(prio)), "tag": _v(tag).rstrip(), "message": _msg(msg)}

    def divider(self, c: list[Any]) -> dict[str, Any]:
        return {"kind": "log.divider", "message": _v(c[0]).rstrip()}


class Syslog(Transformer):
    """syslog.lark: BSD (RFC 3164 file form) and IETF (RFC 5424)."""

    def bsd(self, c: list[Any]) -> dict[str, Any]:
        pri, stamp, host, tag, procid, msg = c
        return {
            "ts_raw": _v(stamp),
            "host": _v(host),
            "tag": _v(tag),
            "pid": int(_v(procid)) if procid is not None else None,
            "level": _pri_level(pri),
            "message": _msg(msg),
        }

    def bsd_untagged(self, c: list[Any]) -> dict[str, Any]:
        pri, stamp, host, msg = c
        return {"ts_raw": _v(stamp), "host": _v(host), "level": _pri_level(pri), "message": _msg(msg)}

    def ietf(self, c: list[Any]) -> dict[str, Any]:
        pri, _version, stamp, host, app, procid, msgid, sd, msg = c

        def nil(t: Any) -> Any:
            return None if t is None or _v(t) == "-" else _v(t)

        attrs: dict[str, Any] = {}
        if sd:
            attrs["sd"] = sd
        if nil(msgid):
            attrs["msgid"] = _v(msgid)
        pid_text = nil(procid)
        if pid_text and not pid_text.isdigit():
            attrs["procid"] = pid_text
        message = _msg(msg)
        if message and message.startswith("\ufeff"):
            message = message[1:]
        return {
            "ts_raw": nil(stamp),
            "host": nil(host),
            "tag": nil(app),
            "pid": int(_v(pid_text)) if pid_text and pid_text.isdigit() else None,
            "level": _pri_level(pri),
            "message": message,
            "attrs": json.dumps(attrs, sort_keys=True, separators=(",", ":")) if attrs else None,
        }

    def sd_nil(self, c: list[Any]) -> None:
        return None

    def sd(self, c: list[Any]) -> dict[str, dict[str, str]]:
        return dict(c)

    def sd_element(self, c: list[Any]) -> tuple[str, dict[str, str]]:
        return _v(c[0]), dict(c[1:])

    def sd_param(self, c: list[Any]) -> tuple[str, str]:
        name, value = c
        return _v(name), re.sub(r"\\(.)", r"\1", _v(value)[1:-1])


class Hdfs(Transformer):
    """hdfs.lark: Hadoop log4j lines (HDFS's compact layout; log4j, Spark and Zookeeper layouts).
    The log4j thread name stays in ``text``; Zookeeper's [thread:Class@line] is the tag."""

    def compact(self, c: list[Any]) -> dict[str, Any]:
        date, time, pid, level, cls, msg = c
        return {
            "ts_raw": f"{_v(date)} {_v(time)}",
            "pid": int(_v(pid)),
            "level": level_of(_v(level)),
            "tag": _v(cls),
            "message": _msg(msg),
        }

    def log4j(self, c: list[Any]) -> dict[str, Any]:
        date, time, level, _thread, cls, msg = c
        return {"ts_raw": f"{_v(date)} {_v(time)}", "level": level_of(_v(level)), "tag": _v(cls), "message": _msg(msg)}

    def spark(self, c: list[Any]) -> dict[str, Any]:
        date, time, level, cls, msg = c
        return {"ts_raw": f"{_v(date)} {_v(time)}", "level": level_of(_v(level)), "tag": _v(cls), "message": _msg(msg)}

    def zookeeper(self, c: list[Any]) -> dict[str, Any]:
        date, time, level, where, msg = c
        return {
            "ts_raw": f"{_v(date)} {_v(time)}",
            "level": level_of(_v(level)),
            "tag": _v(where)[1:-1],
            "message": _msg(msg),
        }


class Apache(Transformer):
    """apache.lark: httpd error_log lines."""

    def start(self, c: list[Any]) -> dict[str, Any]:
        stamp, level, msg = c
        return {"ts_raw": _v(stamp), "level": level_of(_v(level)), "message": _msg(msg)}


class Settlement(Transformer):
    """settlement.lark: one CSV row as a list of field texts (None for empty)."""

    def start(self, c: list[Any]) -> list[str | None]:
        out: list[str | None] = []
        for token in c:
            if token is None:
                out.append(None)
                continue
            value = _v(token)
            if value.startswith('"'):
                value = value[1:-1].replace('""', '"')
            out.append(value)
        return out


class Jpos(Transformer):
    """jpos.lark: a <log> block as (header attributes, [(item kind, text)])."""

    def start(self, c: list[Any]) -> dict[str, Any]:
        _prefix, log_open, *rest = c
        items = [item for item in rest if isinstance(item, tuple)]
        closed = any(getattr(t, "type", None) == "LOG_CLOSE" for t in rest)
        return interpret_jpos(dict(_ATTR.findall(_v(log_open))), items, closed)

    def empty_tag(self, c: list[Any]) -> tuple[str, str]:
        return "empty", _v(c[0])

    def open_tag(self, c: list[Any]) -> tuple[str, str]:
        return "open", _v(c[0])

    def close_tag(self, c: list[Any]) -> tuple[str, str]:
        return "close", _v(c[0])

    def comment(self, c: list[Any]) -> tuple[str, str]:
        return "comment", _v(c[0])

    def text(self, c: list[Any]) -> tuple[str, str]:
        return "text", _v(c[0])


_JPOS_KINDS = {"receive": "host.rx", "send": "host.tx"}


def interpret_jpos(header: dict[str, str], items: list[tuple[str, str]], closed: bool) -> dict[str, Any]:
    """Give a <log> block's tags their meaning: ISO fields, timeouts, disconnects, exceptions."""
    fields: dict[str, str] = {}
    stack: list[str] = []
    isomsg_path: list[str] = []
    event_tag: str | None = None
    kind: str | None = None
    pieces: list[str] = []
    exception: str | None = None
    for item_kind, raw in items:
        if item_kind == "text" or ("exception" in stack and not raw.startswith("</exception")):
            pieces.append(raw)  # stack traces hold "<init>": inside <exception> tags are text
            continue
        if item_kind in ("open", "empty"):
            name = _TAG_NAME.match(raw).group(1)  # type: ignore[union-attr]
            attrs = dict(_ATTR.findall(raw))
            if event_tag is None:
                event_tag = name
            if name == "field" and "id" in attrs:
                fields[".".join([*filter(None, isomsg_path), attrs["id"]])] = attrs.get("value", "")
            elif name == "isomsg" and item_kind == "open":
                isomsg_path.append(attrs.get("id", "") if isomsg_path else "")
            elif name == "io-timeout":
                kind = "host.timeout"
            elif name == "peer-disconnect":
                kind = kind or "host.disconnect"
            elif name == "exception":
                kind = kind or "host.error"
                exception = attrs.get("name")
            if item_kind == "open":
                stack.append(name)
        elif item_kind == "close":
            name = _TAG_NAME.match(raw).group(1)  # type: ignore[union-attr]
            if name == "isomsg" and isomsg_path:
                isomsg_path.pop()
            if name in stack:
                while stack and stack.pop() != name:
                    pass
    if "55" in fields:
        fields.update({f"55.{tag}": value for tag, value in emv_tlv(fields["55"]).items()})
    texts = [line.strip() for line in "".join(pieces).splitlines() if line.strip()]
    out: dict[str, Any] = {
        "ts_raw": header.get("at"),
        "host": header.get("realm"),
        "tag": event_tag,
        "kind": kind or _JPOS_KINDS.get(event_tag or "", "host.log"),
    }
    attrs: dict[str, Any] = {}
    if "lifespan" in header:
        attrs["lifespan_ms"] = header["lifespan"].removesuffix("ms")
    if exception:
        attrs["exception"] = exception
    if not closed:
        attrs["truncated"] = "true"
    message = "\n".join(texts) if texts else None
    if exception and not message:
        message = exception
    out["message"] = message
    out["_iso"] = fields
    out["_attrs"] = attrs
    return out


def emv_tlv(hex_text: str) -> dict[str, str]:
    """Top-level BER-TLV tags of an EMV DE55 hex string ({"9F36": "001A"}); {} if not TLV."""
    try:
        data = bytes.fromhex(hex_text.strip())
    except ValueError:
        return {}
    out: dict[str, str] = {}
    i = 0
    while i < len(data):
        start = i
        if data[i] & 0x1F == 0x1F:
            i += 1
            while i < len(data) and data[i] & 0x80:
                i += 1
        i += 1
        if i >= len(data):
            return out
        tag = data[start:i].hex().upper()
        length = data[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[i : i + n], "big")
            i += n
        if i + length > len(data):
            return out
        out[tag] = data[i : i + length].hex().upper()
        i += length
    return out


def check_columns(record: dict[str, Any]) -> None:
    """Assert a transformer only produced known columns (used by the registry's self-check)."""
    unknown = {k for k in record if not k.startswith("_")} - set(EVENT_COLUMNS)
    if unknown:
        raise ValueError(f"transformer produced unknown columns {sorted(unknown)}")


TRANSFORMERS: dict[str, type[Transformer]] = {
    "logcat": Logcat,
    "syslog": Syslog,
    "hdfs": Hdfs,
    "apache": Apache,
    "settlement": Settlement,
    "jpos": Jpos,
}


# Vectorized twins: the same mapping as the transformer methods above, on whole columns (one
# expression per kept terminal, null where an optional part is absent). Used by the fast path
# (forensics/ingest/fastpath.py); tests/test_fastpath.py holds each twin to its method.


def _level_expr(word: pl.Expr) -> pl.Expr:
    one = pl.when(word.is_in(list("VDIWEF"))).then(word)
    return (
        pl.when(word.str.len_chars() == 1)
        .then(one)
        .otherwise(word.str.to_lowercase().replace_strict(_LEVEL_WORDS, default=None, return_dtype=pl.String))
    )


def _pri_expr(pri: pl.Expr) -> pl.Expr:
    value = pri.str.strip_chars("<>").cast(pl.Int64)
    letters = dict(enumerate(_PRI_LEVELS))
    return pl.when(value <= 191).then((value % 8).replace_strict(letters, default=None, return_dtype=pl.String))


def _stamp_expr(date: pl.Expr, time: pl.Expr, zone: pl.Expr | None = None) -> pl.Expr:
    parts = [date, pl.lit(" "), time]
    if zone is not None:
        parts.append(pl.when(zone.is_not_null()).then(pl.lit(" ") + zone).otherwise(pl.lit("")))
    return pl.concat_str(parts)


def _logcat_threadtime(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    date, time, zone, pid, thread, prio, tag, msg = c
    return {
        "ts_raw": _stamp_expr(date, time, zone),
        "pid": pid,
        "thread": thread,
        "level": _level_expr(prio),
        "tag": tag,
        "message": msg.str.strip_chars(),
    }


def _logcat_time(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    date, time, zone, prio, tag, pid, msg = c
    return {
        "ts_raw": _stamp_expr(date, time, zone),
        "pid": pid,
        "level": _level_expr(prio),
        "tag": tag.str.strip_chars_end(),
        "message": msg.str.strip_chars(),
    }


def _logcat_brief(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    prio, tag, pid, msg = c
    return {"pid": pid, "level": _level_expr(prio), "tag": tag.str.strip_chars_end(), "message": msg.str.strip_chars()}


def _logcat_divider(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    return {"kind": pl.lit("log.divider"), "message": c[0].str.strip_chars_end()}


def _syslog_bsd(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    pri, stamp, host, tag, procid, msg = c
    return {
        "ts_raw": stamp,
        "host": host,
        "tag": tag,
        "pid": procid,
        "level": _pri_expr(pri),
        "message": msg.str.strip_chars(),
    }


def _syslog_bsd_untagged(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    pri, stamp, host, msg = c
    return {"ts_raw": stamp, "host": host, "level": _pri_expr(pri), "message": msg.str.strip_chars()}


def _hdfs(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    date, time, pid, level, cls, msg = c
    return {
        "ts_raw": _stamp_expr(date, time),
        "pid": pid,
        "level": _level_expr(level),
        "tag": cls,
        "message": msg.str.strip_chars(),
    }


def _log4j(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    date, time, level, _thread, cls, msg = c
    return {
        "ts_raw": _stamp_expr(date, time),
        "level": _level_expr(level),
        "tag": cls,
        "message": msg.str.strip_chars(),
    }


def _spark(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    date, time, level, cls, msg = c
    return {
        "ts_raw": _stamp_expr(date, time),
        "level": _level_expr(level),
        "tag": cls,
        "message": msg.str.strip_chars(),
    }


def _zookeeper(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    date, time, level, where, msg = c
    return {
        "ts_raw": _stamp_expr(date, time),
        "level": _level_expr(level),
        "tag": where.str.slice(1, where.str.len_chars() - 2),
        "message": msg.str.strip_chars(),
    }


def _apache(c: list[pl.Expr]) -> dict[str, pl.Expr]:
    stamp, level, msg = c
    return {"ts_raw": stamp, "level": _level_expr(level), "message": msg.str.strip_chars()}


#: format -> transformer method (start-rule alternative) -> its vectorized twin.
VECTORIZED: dict[str, dict[str, Callable[[list[pl.Expr]], dict[str, pl.Expr]]]] = {
    "logcat": {
        "threadtime": _logcat_threadtime,
        "time": _logcat_time,
        "brief": _logcat_brief,
        "divider": _logcat_divider,
    },
    "syslog": {"bsd": _syslog_bsd, "bsd_untagged": _syslog_bsd_untagged},
    "hdfs": {"compact": _hdfs, "log4j": _log4j, "spark": _spark, "zookeeper": _zookeeper},
    "apache": {"start": _apache},
}
