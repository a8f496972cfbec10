"""Logcat in every ``-v`` layout that writes a line a record (issue 24), with the uid, year, zone,
epoch and monotonic modifiers. Lines written here to reproduce liblog's formats; each is read
right on both paths (fast and Lark)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

import forensics
from forensics.errors import FormatError
from tests.test_fastpath import both
from tests.test_ingest import write

# line -> (ts, pid, thread, level, tag, message, uptime)
LAYOUTS = {
    # threadtime, and with -v year, -v zone, -v uid (a number, a short user name), usec
    "03-17 16:13:38.819  1702  8671 D PowerManager: acquire lock": (
        "2026-03-17 16:13:38.819",
        1702,
        8671,
        "D",
        "PowerManager",
        "acquire lock",
        None,
    ),
    "2026-03-17 16:13:38.819  1702  8671 D PowerManager: acquire lock": (
        "2026-03-17 16:13:38.819",
        1702,
        8671,
        "D",
        "PowerManager",
        "acquire lock",
        None,
    ),
    "03-17 16:13:38.819 +0800  1702  8671 D PowerManager: acquire lock": (
        "2026-03-17 08:13:38.819",
        1702,
        8671,
        "D",
        "PowerManager",
        "acquire lock",
        None,
    ),
    "03-17 16:13:38.819  1000: 1702  8671 D PowerManager: acquire lock": (
        "2026-03-17 16:13:38.819",
        1702,
        8671,
        "D",
        "PowerManager",
        "acquire lock",
        None,
    ),
    "03-17 16:13:38.819  root:  102   102 I init    : started": (
        "2026-03-17 16:13:38.819",
        102,
        102,
        "I",
        "init",
        "started",
        None,
    ),
    # a bare uid without its colon (the shape of plaso's test log of threadtime), with -v year and zone
    "2022-01-02 01:20:03.171 +0000  1000  1885  3066 E App  : uid, year, zone": (
        "2022-01-02 01:20:03.171",
        1885,
        3066,
        "E",
        "App",
        "uid, year, zone",
        None,
    ),
    "03-17 16:13:38.819  10123  1702  8671 D PowerManager: acquire lock": (
        "2026-03-17 16:13:38.819",
        1702,
        8671,
        "D",
        "PowerManager",
        "acquire lock",
        None,
    ),
    # two numbers and a priority follow no uid: the first number stays the pid
    "03-17 16:13:38.819  1702  8671 D 42 E: a tag that is a number": (
        "2026-03-17 16:13:38.819",
        1702,
        8671,
        "D",
        "42 E",
        "a tag that is a number",
        None,
    ),
    "03-17 16:13:38.819123  1702  8671 D PowerManager: acquire lock": (
        "2026-03-17 16:13:38.819123",
        1702,
        8671,
        "D",
        "PowerManager",
        "acquire lock",
        None,
    ),
    # -v epoch, -v monotonic (no wall time: the seconds since boot go to uptime)
    "1489767218.819  1702  8671 D PowerManager: acquire lock": (
        "2017-03-17 16:13:38.819",
        1702,
        8671,
        "D",
        "PowerManager",
        "acquire lock",
        None,
    ),
    "  4711.819  1702  8671 D PowerManager: acquire lock": (
        None,
        1702,
        8671,
        "D",
        "PowerManager",
        "acquire lock",
        4711.819,
    ),
    # time, with uid; brief, with uid; tag; process; thread
    "03-17 16:13:38.819 W/Printer ( 2311): getStatus=2": (
        "2026-03-17 16:13:38.819",
        2311,
        None,
        "W",
        "Printer",
        "getStatus=2",
        None,
    ),
    "03-17 16:13:38.819 W/Printer (10123: 2311): getStatus=2": (
        "2026-03-17 16:13:38.819",
        2311,
        None,
        "W",
        "Printer",
        "getStatus=2",
        None,
    ),
    "1489767218.819 W/Printer ( 2311): getStatus=2": (
        "2017-03-17 16:13:38.819",
        2311,
        None,
        "W",
        "Printer",
        "getStatus=2",
        None,
    ),
    "W/Printer ( 2311): getStatus=2": (None, 2311, None, "W", "Printer", "getStatus=2", None),
    "W/Printer (radio: 2311): getStatus=2": (None, 2311, None, "W", "Printer", "getStatus=2", None),
    "W/Printer : getStatus=2": (None, None, None, "W", "Printer", "getStatus=2", None),
    "W/Printer: out (12): of paper": (None, None, None, "W", "Printer", "out (12): of paper", None),
    "W( 2311) getStatus=2  (Printer)": (None, 2311, None, "W", "Printer", "getStatus=2", None),
    "W( 2311: 2398) getStatus=2": (None, 2311, 2398, "W", None, "getStatus=2", None),
}


@pytest.mark.parametrize("line", sorted(LAYOUTS))
def test_every_layout_on_both_paths(tmp_path: Path, line: str) -> None:
    log = Path(write(tmp_path, "lane.log", line + "\n"))
    fast, _ = both([log])  # year 2026 for year-less stamps
    assert fast.inputs["format"][0] == "logcat" and fast.inputs["unparsed"][0] == 0
    row = fast.events.row(0, named=True)
    ts, *rest = LAYOUTS[line]
    assert row["ts"] == (datetime.fromisoformat(ts + "+00:00") if ts else None)
    assert (row["pid"], row["thread"], row["level"], row["tag"], row["message"], row["uptime"]) == tuple(rest)


def test_a_file_of_every_layout(tmp_path: Path) -> None:
    log = Path(write(tmp_path, "lane.log", "\n".join(sorted(LAYOUTS)) + "\n"))
    fast, _ = both([log])
    assert fast.events.height == len(LAYOUTS) and fast.unparsed.height == 0


LONG = (
    "[ 03-14 10:02:11.204  2311: 2398 I/TransProcess ]\n"
    "START type=SALE inv=000045 amount=45.99 cur=USD op=07 src=keypad\n"
    "\n"
    "[ 2026-03-14 10:02:12.000 +0800  u0_a7: 2311: 2398 I/TransProcess ]\n"
    "CARD entry=chip pan=4761739001010010 atc=001A\n"
    "\n"
    "[ 03-14 10:02:13.000  2311: 2311 E/AndroidRuntime ]\n"
    "FATAL EXCEPTION: main\n"
    "\tat com.pos.App.run(App.java:12)\n"
    "\n"
    "[   4711.819  2311: 2398 W/Printer  ]\n"
    "\n"
    "[ 1489767218.819  2311: 2398 D/Comm ]\n"
    "CONNECT host=acq1 ok\n"
)


def test_long_layout_a_header_over_the_message_lines(tmp_path: Path) -> None:
    """``-v long``: '[ date time pid: tid P/TAG ]', the message's lines, a blank line; a record each."""
    fast, _ = both([Path(write(tmp_path, "a920.log", "stray line\n" + LONG))])
    rows = fast.events.select("line", "line_end", "kind", "tag", "level", "pid", "thread", "card", "uptime").rows()
    assert rows == [
        (2, 4, "txn.start", "TransProcess", "I", 2311, 2398, None, None),
        (5, 7, "txn.card", "TransProcess", "I", 2311, 2398, "476173******0010", None),
        (8, 11, "app.crash", "AndroidRuntime", "E", 2311, 2311, None, None),
        (12, 13, "log", "Printer", "W", 2311, 2398, None, 4711.819),
        (14, 15, "comm.connect", "Comm", "D", 2311, 2398, None, None),
    ]
    assert fast.events["message"][2] == "FATAL EXCEPTION: main\n\tat com.pos.App.run(App.java:12)"
    assert [str(t) for t in fast.events["ts"]] == [
        "2026-03-14 10:02:11.204000+00:00",
        "2026-03-14 02:02:12+00:00",
        "2026-03-14 10:02:13+00:00",
        "None",
        "2017-03-17 16:13:38.819000+00:00",
    ]
    assert fast.inputs["format"][0] == "logcat_long"
    assert fast.unparsed.select("line", "reason").rows() == [(1, "outside a logcat_long block")]
    assert fast.compliance.select("line", "field", "masked").rows() == [(5, "pan", "476173******0010")]


def test_long_layout_is_not_taken_for_another_and_others_not_for_it(tmp_path: Path) -> None:
    threadtime = "03-17 16:13:38.819  1702  8671 D PowerManager: acquire lock\n" * 3
    assert both([Path(write(tmp_path, "t.log", threadtime))])[0].inputs["format"][0] == "logcat"
    assert both([Path(write(tmp_path, "l.log", LONG))])[0].inputs["format"][0] == "logcat_long"


def test_raw_layout_only_when_named_for_the_file(tmp_path: Path) -> None:
    """``-v raw``: the message alone; never detected, read when the user names the format."""
    raw = write(
        tmp_path,
        "pos.log",
        "TransProcess: START type=SALE inv=000045 amount=45.99 cur=USD op=07 src=keypad\n"
        "acquire lock\n\nCARD entry=chip pan=4761739001010010\n",
    )
    guessed = forensics.load([raw], card_key="k")
    assert guessed.inputs["format"][0] is None and guessed.events.height == 0
    for formats in ("logcat_raw", {"pos.log": "logcat_raw"}, {"*": "logcat_raw"}):
        fast = forensics.load([raw], card_key="k", formats=formats)
        slow = forensics.load([raw], card_key="k", formats=formats, fast=False)
        for name in ("events", "unparsed", "compliance", "inputs"):
            assert_frame_equal(getattr(fast, name), getattr(slow, name), check_exact=True)
        assert fast.events.select("line", "kind", "tag", "ts").rows() == [
            (1, "txn.start", "TransProcess", None),
            (2, "log", None, None),
            (4, "log", None, None),
        ]
        assert fast.events["message"][2] == "CARD entry=chip pan=476173******0010"
        assert fast.inputs.select("format", "notes").row(0) == ("logcat_raw", "format logcat_raw: named for this file")
        assert fast.unparsed.select("line", "reason").rows() == [(3, "blank line")]
    with pytest.raises(FormatError, match="unknown format 'logcat_rav'"):
        forensics.load([raw], formats={"pos.log": "logcat_rav"})
