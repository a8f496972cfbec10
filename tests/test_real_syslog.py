"""Syslog as other deployments write it (issue 24): a record only where its shape holds. Lines
written here to reproduce real shapes (ChromeOS, kernels without a host, OS X, rsyslog RFC 5424
templates); each is read right on both paths or unparsed with a reason, never given a wrong host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import forensics
from tests.test_fastpath import both
from tests.test_ingest import assert_conserved, write

# line -> (host, tag, pid, level, message)
SHAPES = {
    "2016-10-25T12:37:23.297265-07:00 INFO periodic_scheduler[13707]: Finished cleanup_logs": (
        None,
        "periodic_scheduler",
        13707,
        "I",
        "Finished cleanup_logs",
    ),
    "2016-10-25T12:37:24.001-07:00 WARNING kernel: [  997.390000] usb 1-1: reset": (
        None,
        "kernel",
        None,
        "W",
        "[  997.390000] usb 1-1: reset",
    ),
    "2016-10-25T12:37:25.000-07:00 ERR shill[1046]: Service 3 failed": (None, "shill", 1046, "E", "Service 3 failed"),
    "2016-10-25T12:37:26.000-07:00 NOTICE session_manager started": (None, None, None, "I", "session_manager started"),
    "Nov 18 08:30:20 kernel: [  997.390000] usb 1-1: new high-speed USB device": (
        None,
        "kernel",
        None,
        None,
        "[  997.390000] usb 1-1: new high-speed USB device",
    ),
    "Nov 18 08:30:21 sshd(pam_unix)[19939]: session opened": (None, "sshd(pam_unix)", 19939, None, "session opened"),
    "Nov 18 08:30:22 last message repeated 3 times": (None, None, None, None, "last message repeated 3 times"),
    "Nov 18 08:30:22: --- last message repeated 5 times ---": (
        None,
        None,
        None,
        None,
        "--- last message repeated 5 times ---",
    ),
    "Nov 18 08:30:23 term-0042 last message repeated 2 times": (
        "term-0042",
        None,
        None,
        None,
        "last message repeated 2 times",
    ),
    "Nov 18 08:30:24 mbp-7 configd[53] <Notice>: network changed": ("mbp-7", "configd", 53, "I", "network changed"),
    "Nov 18 08:30:25 mbp-7 kernel <Error>: disk0s2: I/O error": ("mbp-7", "kernel", None, "E", "disk0s2: I/O error"),
    "<11>Nov 18 08:30:26 10.1.2.3 payapp[881]: TransProcess: CANCEL inv=000001 op=07": (
        "10.1.2.3",
        "TransProcess",
        881,
        "E",
        "CANCEL inv=000001 op=07",
    ),
    "<165>1 2016-10-25T12:37:27.000Z term-0042 payapp 881 ID47 - started": (
        "term-0042",
        "payapp",
        881,
        "I",
        "started",
    ),
    "1 2016-10-25T12:37:28.000Z term-0042 payapp 881 ID47 - started again": (
        "term-0042",
        "payapp",
        881,
        None,
        "started again",
    ),
}


@pytest.mark.parametrize("line", sorted(SHAPES))
def test_each_syslog_shape_is_read_right_on_both_paths(tmp_path: Path, line: str) -> None:
    log = Path(write(tmp_path, "term.log", line + "\n"))
    fast, _ = both([log])
    assert fast.inputs["unparsed"][0] == 0, fast.unparsed["reason"].to_list()
    got = fast.events.select("host", "tag", "pid", "level", "message").row(0)
    assert got == SHAPES[line]
    assert fast.events["ts"][0] is not None


NOT_SYSLOG = [
    "2016-10-25T12:37:23.297-07:00 [main] INFO com.x.Y - started",  # log4j with an RFC 3339 stamp
    "Nov 18 08:30:20 [main] com.x.Y: started",
    "Nov 18 08:30:20 host/x started",
]


@pytest.mark.parametrize("line", NOT_SYSLOG)
def test_a_line_of_another_shape_is_unparsed_not_given_a_host(tmp_path: Path, line: str) -> None:
    good = "Nov 18 08:30:19 term-0042 payapp[881]: hello"
    log = Path(write(tmp_path, "term.log", f"{good}\n{line}\n"))
    fast, _ = both([log])
    assert_conserved(fast)
    assert fast.events.height == 1 and fast.events["host"][0] == "term-0042"
    assert fast.unparsed["reason"][0].startswith("not syslog: unexpected")


# records forwarded without their line breaks (rsyslog's ForwardFormat and TraditionalForwardFormat
# written as one stream, as in plaso's test data): one line, several records
FORWARDED = [
    "<15>2021-03-06T04:07:33.194677+00:00 gw7 payapp this is debug<14>2021-03-06T04:07:33.196352+00:00 gw7 payapp info",
    "<15>Mar  6 04:07:23 gw7 payapp: this is debug<14>Mar  6 04:07:23 gw7 payapp: this is info",
    "the end of a record<10>Mar  6 04:07:23 gw7 payapp: critical",
    "<165>1 2016-10-25T12:37:27.000Z gw7 payapp 881 ID47 - started<165>1 2016-10-25T12:37:28.000Z gw7 payapp 881 - -",
]


@pytest.mark.parametrize("line", FORWARDED)
def test_records_forwarded_without_line_breaks_are_unparsed_not_one_long_message(tmp_path: Path, line: str) -> None:
    good = "Mar  6 04:07:22 gw7 payapp[881]: hello <b>bold</b> and <13> alone"
    log = Path(write(tmp_path, "term.log", f"{good}\n{line}\n{good}\n"))
    fast, _ = both([log])
    assert_conserved(fast)
    assert fast.events["line"].to_list() == [1, 3] and fast.events["message"][0] == good.split(": ", 1)[1]
    assert fast.unparsed.select("line", "reason").rows() == [
        (
            2,
            "not syslog: several records on one line (forwarded without line breaks): a second <PRI> and time stamp"
            " inside it",
        )
    ]


def test_a_no_record_pattern_polars_cannot_run_fails_at_load() -> None:
    from forensics.errors import FormatError
    from forensics.ingest.formats import _load_format
    from tests.test_format_folders import declared

    syslog = declared()["syslog"]
    with pytest.raises(FormatError, match="syslog/format.toml: no_record 1: 'pattern' has a lookaround"):
        _load_format("syslog", {**syslog, "no_record": [{"pattern": "a(?=b)", "reason": "r"}]})
    with pytest.raises(FormatError, match="syslog/format.toml: no_record 1: a table of 'pattern' and 'reason'"):
        _load_format("syslog", {**syslog, "no_record": [{"pattern": "ab"}]})
    with pytest.raises(FormatError, match="syslog/format.toml: no_record 1: 'pattern'"):
        _load_format("syslog", {**syslog, "no_record": [{"pattern": "a(", "reason": "r"}]})


def test_a_mixed_file_of_every_shape_on_both_paths(tmp_path: Path) -> None:
    body = "\n".join([*sorted(SHAPES), "\tat com.x.Y.run(Y.java:12)", *NOT_SYSLOG]) + "\n"
    fast, _ = both([Path(write(tmp_path, "mixed.log", body))])
    assert_conserved(fast)
    assert fast.inputs["format"][0] == "syslog"
    assert fast.unparsed.height == len(NOT_SYSLOG)


def test_the_year_of_year_less_stamps_is_said_with_its_reason(tmp_path: Path) -> None:
    log = write(tmp_path, "term.log", "Nov 18 08:30:19 term-0042 payapp[881]: hello\n")
    os.utime(log, (1_700_000_000, 1_700_000_000))  # 2023-11-14
    alone = forensics.load(log)
    assert alone.events["ts"][0].year == 2023
    assert (
        "year-less stamps: year 2023 assumed from the file's modification time, nothing dated being read "
        "with it (give --year if wrong)" in alone.inputs["notes"][0]
    )
    host = write(tmp_path, "host.log", "2019-11-18T08:30:00.000Z INFO payapp[1]: dated\n")
    anchored = forensics.load([log, host])
    assert anchored.events.filter(path=log)["ts"][0].year == 2019
    assert "year-less stamps: year 2019 from the dated inputs read with it" in anchored.inputs["notes"][0]
    assert anchored.inputs["notes"][1] is None or "year-less" not in anchored.inputs["notes"][1]
    given = forensics.load(log, year=2021)
    assert "year-less stamps: year 2021 given by --year" in given.inputs["notes"][0]


def test_a_folded_line_does_not_make_the_format_choice_contested(tmp_path: Path) -> None:
    body = "Nov 18 08:30:19 term-0042 payapp[881]: a message that\n\tgoes on here\n"
    loaded = forensics.load(write(tmp_path, "term.log", body), year=2026)
    assert loaded.events.select("line", "line_end").row(0) == (1, 2)
    assert "format syslog" not in (loaded.inputs["notes"][0] or "")
