"""log4j and logback layouts other deployments write (issue 24). Lines written here to reproduce
the common PatternLayouts; each is read right on both paths (fast and Lark)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from forensics.formats import declared

import forensics
from forensics.errors import DialectError, FormatError
from forensics.ingest.formats import _load_format
from forensics.ingest.layouts import compile_layout
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
    # declared in hdfs/format.toml as a PatternLayout (logback's common file appender pattern)
    "2022-10-03 09:00:01.042 INFO  [http-nio-8080-exec-1] c.a.pos.Gateway - Sale approved rc=00": (
        "2022-10-03 09:00:01.042",
        None,
        "I",
        "c.a.pos.Gateway",
        "Sale approved rc=00",
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


@pytest.mark.parametrize(
    ("pattern", "line", "want"),
    [
        (
            "%d{ISO8601} [%t] %-5p %c - %m%n",
            "2022-10-03 09:00:01,042 [main worker] WARN  com.x.Y - Pool - exhausted",
            {"ts": "2022-10-03 09:00:01,042", "level": "WARN", "tag": "com.x.Y", "message": "Pool - exhausted"},
        ),
        (
            "%d{dd MMM yyyy HH:mm:ss,SSS} %5p %pid --- %c{1}: %m",
            "03 Oct 2022 09:00:01,042  INFO 4711 --- Gateway: up",
            {"ts": "03 Oct 2022 09:00:01,042", "level": "INFO", "pid": "4711", "tag": "Gateway", "message": "up"},
        ),
        (
            "[%date{yyyy-MM-dd'T'HH:mm:ss.SSSXXX}] %level %logger %X{txn} %% %msg",
            "[2022-10-03T09:00:01.042+02:00] ERROR pos.Host T-17 % timeout",
            {"ts": "2022-10-03T09:00:01.042+02:00", "level": "ERROR", "tag": "pos.Host", "message": "timeout"},
        ),
    ],
)
def test_a_pattern_layout_compiles_to_a_line_regex(pattern: str, line: str, want: dict[str, str]) -> None:
    layout = compile_layout("layout_1", pattern, "test")
    m = layout.regex.fullmatch(line)
    assert m is not None
    assert {k: v for k, v in m.groupdict().items() if v is not None} == want
    assert layout.time is not None and re.fullmatch(layout.time, want["ts"])


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("%d %highlight{%p} %m", "conversion %highlight is not read"),
        ("%d [%t] %p %c", "no %m"),
        ("%d{yyyy-MM-dd EEE} %m", "letter 'E' is not read"),
        ("%d %p 100% %m", "a '%' with no conversion"),
    ],
)
def test_a_layout_that_cannot_be_read_is_refused_naming_it(pattern: str, says: str) -> None:
    with pytest.raises(FormatError, match="here: ") as caught:
        compile_layout("layout_1", pattern, "here")
    assert says in str(caught.value)


def test_a_declared_layout_joins_its_format_and_dates_its_lines() -> None:
    raw = {**declared()["hdfs"], "layout": [{"pattern": "<%d{ABSOLUTE}> %-5p %c: %m", "sample": [{"line": "x"}]}]}
    fmt = _load_format("hdfs", raw)
    assert fmt.parser.parse("<09:00:01,042> INFO  pos.Host: up") == {
        "ts_raw": "09:00:01,042",
        "level": "I",
        "tag": "pos.Host",
        "message": "up",
    }
    # the grammar's own alternatives still read their lines
    assert fmt.parser.parse("2022-10-03 09:00:01,042 INFO [main] org.x.Y: classic")["tag"] == "org.x.Y"
    with pytest.raises(FormatError, match="layout 1: give at least one"):
        _load_format("hdfs", {**declared()["hdfs"], "layout": [{"pattern": "%d %m"}]})


def test_declared_layout_lines_agree_on_both_paths(tmp_path: Path) -> None:
    lines = [
        "2022-10-03 09:00:01.042 ERROR [main] c.a.X - ",
        "2022-10-03 09:00:01.043 WARN  [pool 1 - thread 2] c.a.X - a - b ",
        "2022-10-03 09:00:01.044 TRACE [t2] c.a.X - x",
    ]
    fast, _ = both([Path(write(tmp_path, "app.log", "\n".join(lines) + "\n"))])
    assert fast.events.select("level", "tag", "message").rows() == [
        ("E", "c.a.X", None),
        ("W", "c.a.X", "a - b"),
        ("V", "c.a.X", "x"),
    ]


def test_a_dialect_file_adds_a_layout_to_a_format(tmp_path: Path) -> None:
    """A vendor's PatternLayout in its dialect file (given with --dialect): no package file edited."""
    dialect = tmp_path / "gateway.toml"
    layout = (
        'name = "gateway"\ntags = ["Gateway"]\n[[layout]]\nformat = "hdfs"\n'
        'pattern = "%d{yyyy/MM/dd HH:mm:ss} <%p> %c | %m%n"\n[[layout.sample]]\n'
        'line = "2024/05/01 12:00:00 <WARN> pos.Gateway | host slow"\n'
    )
    dialect.write_text(layout + 'expect = { level = "W", tag = "pos.Gateway", message = "host slow" }\n')
    log = write(tmp_path, "gw.log", "2024/05/01 12:00:00 <WARN> pos.Gateway | host slow\n")
    assert forensics.load([log]).inputs["format"][0] is None  # not read without the dialect file
    fast = forensics.load([log], dialects=[dialect])
    slow = forensics.load([log], dialects=[dialect], fast=False)
    assert fast.events.select("ts", "level", "tag", "message").rows() == [
        (datetime.fromisoformat("2024-05-01 12:00:00+00:00"), "W", "pos.Gateway", "host slow")
    ]
    assert fast.events.drop("path").equals(slow.events.drop("path"))
    dialect.write_text(layout + 'expect = { message = "host slower" }\n')
    with pytest.raises(DialectError, match=r"gateway.toml: layout 1: sample 1: message is 'host slow'"):
        forensics.load([log], dialects=[dialect])
    dialect.write_text(layout.replace('format = "hdfs"', 'format = "log4j"') + "expect = {}\n")
    with pytest.raises(DialectError, match=r"gateway.toml: layout 1: field 'format': no format 'log4j'"):
        forensics.load([log], dialects=[dialect])
    dialect.write_text(layout.replace("%c |", "%highlight{%c} |") + "expect = {}\n")
    with pytest.raises(DialectError, match=r"gateway.toml: layout 1: pattern .* conversion %highlight is not read"):
        forensics.load([log], dialects=[dialect])
