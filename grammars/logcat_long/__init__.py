"""Android logcat ``-v long`` (logcat_long.lark): a header line over the message's lines."""

from __future__ import annotations

import re
from typing import Any

from forensics.ingest.envelopes import Envelope, text

#: The header's fields (the grammar's HEAD terminal, with its groups named).
_HEAD = re.compile(
    r"\[ +(?:(?P<date>(?:\d{4}-)?\d\d-\d\d) (?P<time>\d\d:\d\d:\d\d(?:\.\d{1,9})?)(?: (?P<zone>[+-]\d{4}))?"
    r"|(?P<secs>\d+\.\d{3,9})) +(?:(?:[A-Za-z_]\w{0,4}|\d+): *)?(?P<pid>\d+): *(?P<thread>\d+)"
    r" (?P<prio>[VDIWEFAS])/(?P<tag>.*?) \]"
)
#: Seconds of ``-v epoch`` from here on (2001-09-09); fewer are ``-v monotonic`` (since boot).
EPOCH_FROM = 10**9


class LogcatLong(Envelope):
    """One ``-v long`` record -> event columns."""

    def start(self, c: list[Any]) -> dict[str, Any]:
        head = _HEAD.fullmatch(text(c[0]))
        if head is None:  # HEAD is this expression without names: never
            raise ValueError("logcat long: header not read")
        body = "\n".join(text(line) for line in c[1:] if line is not None).strip()
        out: dict[str, Any] = {
            "pid": int(head["pid"]),
            "thread": int(head["thread"]),
            "level": self.level(head["prio"]),
            "tag": head["tag"].strip(),
            "message": body or None,
        }
        if head["secs"] is not None:
            seconds = head["secs"]
            if int(seconds.split(".")[0]) >= EPOCH_FROM:
                out["ts_raw"] = seconds
            else:
                out["uptime"] = float(seconds)
        else:
            out["ts_raw"] = f"{head['date']} {head['time']}" + (f" {head['zone']}" if head["zone"] else "")
        return out


TRANSFORMER = LogcatLong
