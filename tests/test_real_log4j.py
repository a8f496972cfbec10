"""log4j and logback layouts other deployments write (issue 24). Lines written here to reproduce
the common PatternLayouts; each is read right on both paths (fast and Lark)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.test_fastpath import both
from tests.test_ingest import write

# line -> (ts, pid, level, tag, message)
LAYOUTS = {
    "2022-10-03 09:00:01,042 INFO [main] [com.x.Y] Started in 2.1 s": (
        "2022-10-03 09:00:01.042",
        None,
        "I",
        "com.x.Y",
        "Started in 2.1 s",
    ),
    "2022-10-03 09:00:01,042 [main] WARN  com.x.Y - Pool exhausted": (
        "2022-10-03 09:00:01.042",
        None,
        "W",
        "com.x.Y",
        "Pool exhausted",
    ),
    "2022-10-03 09:00:01,042 [pool-1-thread-3] ERROR com.x.Y - host down - retry": (
        "2022-10-03 09:00:01.042",
        None,
        "E",
        "com.x.Y",
        "host down - retry",
    ),
    "2022-10-03 09:00:01.042 DEBUG com.x.Y - polled": ("2022-10-03 09:00:01.042", None, "D", "com.x.Y", "polled"),
    "2022-10-03 09:00:01.042  INFO 12345 --- [           main] com.x.Y                  : Started": (
        "2022-10-03 09:00:01.042",
        12345,
        "I",
        "com.x.Y",
        "Started",
    ),
    "2025-01-24T07:00:30,139 INFO [pool-1-thread-1         ] FarmService              : Started in 13 s": (
        "2025-01-24 07:00:30.139",
        None,
        "I",
        "FarmService",
        "Started in 13 s",
    ),
    "2022-10-03 09:00:01,042 INFO [main] org.x.Y: classic": (
        "2022-10-03 09:00:01.042",
        None,
        "I",
        "org.x.Y",
        "classic",
    ),
}


@pytest.mark.parametrize("line", sorted(LAYOUTS))
def test_each_layout_on_both_paths(tmp_path: Path, line: str) -> None:
    fast, _ = both([Path(write(tmp_path, "app.log", line + "\n"))])
    assert fast.inputs["unparsed"][0] == 0
    row = fast.events.row(0, named=True)
    ts, *rest = LAYOUTS[line]
    assert row["ts"] == datetime.fromisoformat(ts + "+00:00")
    assert (row["pid"], row["level"], row["tag"], row["message"]) == tuple(rest)


def test_a_time_without_a_date_is_no_time(tmp_path: Path) -> None:
    """logback's and log4j2's default layout writes the time of day only: no date is guessed."""
    fast, _ = both([Path(write(tmp_path, "app.log", "09:00:01.042 [main] INFO  com.x.Y - polled\n"))])
    assert fast.events.select("level", "tag", "message").row(0) == ("I", "com.x.Y", "polled")
    assert fast.events["ts"][0] is None and fast.events["ts_raw"][0] == "09:00:01.042"
    assert "1 timestamps could not be read" in fast.inputs["notes"][0]
