"""File-level ingest: every line accounted for, deviations survived, time and identity right."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import forensics
from forensics.errors import InputError

LOGCAT = "03-14 10:02:{s:02d}.204  2311  2398 I TransProcess: CANCEL inv=0000{s:02d} op=07"


def covered_lines(loaded: forensics.Loaded, path: str) -> list[int]:
    """Line numbers covered by events and unparsed rows of one input, in order."""
    spans = pl.concat(
        [
            loaded.events.filter(pl.col("path") == path).select("line", "line_end"),
            loaded.unparsed.filter(pl.col("path") == path).select("line", "line_end"),
        ]
    )
    return sorted(n for a, b in spans.iter_rows() for n in range(a, b + 1))


def assert_conserved(loaded: forensics.Loaded) -> None:
    """The invariant: each input's lines are covered exactly once by events + unparsed."""
    for row in loaded.inputs.iter_rows(named=True):
        assert covered_lines(loaded, row["path"]) == list(range(1, row["lines"] + 1))
        assert row["parsed"] + row["unparsed"] == row["lines"]


def write(tmp_path: Path, name: str, data: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def test_crlf_blank_and_garbage_lines_are_accounted(tmp_path: Path) -> None:
    body = "\r\n".join([LOGCAT.format(s=1), "", "garbage that is no logcat", LOGCAT.format(s=2)]) + "\r\n"
    loaded = forensics.load(write(tmp_path, "t.log", body))
    assert_conserved(loaded)
    assert loaded.events["message"].to_list() == ["CANCEL inv=000001 op=07", "CANCEL inv=000002 op=07"]
    assert loaded.unparsed["reason"].to_list()[0] == "blank line"
    assert loaded.unparsed["reason"].to_list()[1].startswith("not logcat")


def test_gzip_and_truncated_gzip(tmp_path: Path) -> None:
    lines = "\n".join(LOGCAT.format(s=s) for s in range(50)) + "\n"
    packed = gzip.compress(lines.encode())
    whole = forensics.load(write(tmp_path, "a.log.gz", packed))
    assert whole.events.height == 50
    assert "gzip" not in whole.inputs["notes"][0]
    cut = forensics.load(write(tmp_path, "b.log.gz", packed[: len(packed) // 2]))
    assert "truncated" in cut.inputs["notes"][0]
    assert 0 < cut.events.height < 50
    assert_conserved(cut)


def test_gb18030_nul_and_long_lines(tmp_path: Path) -> None:
    chinese = "03-14 10:02:01.204  2311  2398 I Printer : 打印机缺纸".encode("gb18030")
    nul = LOGCAT.format(s=3).encode().replace(b"CANCEL", b"CAN\x00CEL")
    long = b"03-14 10:02:04.204  2311  2398 I Big: " + b"x" * (1 << 20)
    data = b"\n".join([LOGCAT.format(s=2).encode(), chinese, nul, long, b"\xff\xfe\xfa"])
    loaded = forensics.load(write(tmp_path, "mixed.log", data))
    assert_conserved(loaded)
    assert "打印机缺纸" in loaded.events["message"].to_list()
    notes = loaded.inputs["notes"][0]
    assert "GB18030" in notes and "NUL" in notes
    assert loaded.unparsed.filter(pl.col("reason") == "line of 1,048,614 bytes cut at 1 MiB").height == 1


def test_logcat_crash_is_one_record(tmp_path: Path) -> None:
    body = "\n".join(
        [
            "03-14 10:07:30.500  2311  2311 E AndroidRuntime: FATAL EXCEPTION: main",
            "03-14 10:07:30.500  2311  2311 E AndroidRuntime: Process: com.example.pay, PID: 2311",
            "03-14 10:07:30.500  2311  2311 E AndroidRuntime: java.lang.NullPointerException: x",
            "03-14 10:07:30.501  2311  2311 E AndroidRuntime: \tat com.example.pay.trans.TransProcess.onResponse(TransProcess.java:212)",  # noqa: E501 (a log line as logged)
            "03-14 10:07:31.000  2311  2311 E AndroidRuntime: FATAL EXCEPTION: second",
            LOGCAT.format(s=9),
        ]
    )
    loaded = forensics.load(write(tmp_path, "crash.log", body))
    assert_conserved(loaded)
    crashes = loaded.events.filter(pl.col("kind") == "app.crash")
    assert crashes.select("line", "line_end").rows() == [(1, 4), (5, 5)]
    assert "TransProcess.java:212" in crashes["message"][0]


def test_syslog_continuation_lines_join_their_record(tmp_path: Path) -> None:
    body = "\n".join(
        [
            "Mar 14 10:07:30 term-1 payapp[881]: AndroidRuntime: FATAL EXCEPTION: main",
            "\tjava.lang.IllegalStateException: printer handle closed",
            "Caused by: java.io.IOException: gone",
            "Mar 14 10:07:31 term-1 payapp[881]: TransProcess: CANCEL inv=000001 op=07",
            "\torphan continuation after a gap is kept apart",
        ]
    )
    loaded = forensics.load(write(tmp_path, "term-1.log", body))
    assert_conserved(loaded)
    assert loaded.events.select("line", "line_end").rows() == [(1, 3), (4, 5)]


def test_jpos_blocks_keep_first_line_and_lines_outside_are_unparsed(tmp_path: Path) -> None:
    body = "\n".join(
        [
            "stray text before",
            '<log realm="c" at="2026-03-14T10:02:11.204" lifespan="5ms">',
            "  <receive>",
            "    <io-timeout/>",
            "  </receive>",
            "</log>",
            '[08 Nov 2014 00:00:20,529] ERROR [p]: <log realm="c" at="Sat Nov 08 00:00:21 EST 2014.529" lifespan="290ms">',  # noqa: E501 (a log line as logged)
            "  <receive>",
            '    <exception name="Oops">',
            "    at x.<init>(X.java:1)",
            "    </exception>",
            "  </receive>",
            "</log>",
        ]
    )
    loaded = forensics.load(write(tmp_path, "host.log", body))
    assert_conserved(loaded)
    assert loaded.unparsed["reason"].to_list() == ["outside a jpos block"]
    ev = loaded.events
    assert ev.select("line", "line_end", "kind").rows() == [(2, 6, "host.timeout"), (7, 13, "host.error")]
    assert str(ev["ts"][1]) == "2014-11-08 05:00:21.529000+00:00"
    assert "x.<init>(X.java:1)" in ev["message"][1]


def test_year_rollover_and_zone(tmp_path: Path) -> None:
    body = "\n".join(
        [
            "Dec 31 23:59:58 term-1 app[1]: a",
            "Jan  1 00:00:01 term-1 app[1]: b",
            "Jan  1 00:00:02 term-1 app[1]: c",
        ]
    )
    path = write(tmp_path, "term-1.log", body)
    loaded = forensics.load(path, year=2025, tz="Asia/Shanghai")
    assert [str(t) for t in loaded.events["ts"]] == [
        "2025-12-31 15:59:58+00:00",
        "2025-12-31 16:00:01+00:00",
        "2025-12-31 16:00:02+00:00",
    ]
    row = loaded.inputs.row(0, named=True)
    assert (row["tz"], row["tz_assumed"], row["year_source"]) == ("Asia/Shanghai", False, "--year")
    assumed = forensics.load(path, year=2025)
    assert assumed.inputs["tz_assumed"][0] is True and "assumed UTC" in assumed.inputs["notes"][0]


def test_year_comes_from_anchored_input_before_option(tmp_path: Path) -> None:
    term = write(tmp_path, "term.log", "Jan  2 10:00:00 term-1 app[1]: x")
    host = write(tmp_path, "host.log", '<log realm="c" at="2031-01-02T10:00:01.000"><send><io-timeout/></send></log>')
    loaded = forensics.load([term, host], year=2020)
    assert loaded.events.filter(pl.col("path") == term)["ts"].dt.year().to_list() == [2031]
    assert loaded.inputs["year_source"][0] == "other inputs"


def test_year_from_mtime_when_nothing_else(tmp_path: Path) -> None:
    path = write(tmp_path, "t.log", "Dec 30 10:00:00 h app[1]: x\nJan  2 10:00:00 h app[1]: y")
    os.utime(path, (1800000000, 1800000000))  # 2027-01-15
    loaded = forensics.load(path)
    assert loaded.events["ts"].dt.year().to_list() == [2026, 2027]
    assert loaded.inputs["year_source"][0] == "file mtime"


_MARCH_RESETS = (
    # a terminal in March loses power: its RTC restarts on 01-01 00:00 UTC, written 31 Dec in a zone west of
    # UTC, steps into January, then NTP sets it back to March; later an RTC reset in January alone
    "2026-03-02T10:00:01.000",
    [
        ("Mar  2 09:00:00 term app[1]: before", 2026),
        ("Dec 31 23:59:30 term kernel: [    0.000000] Linux version 4.9", 2026),
        ("Jan  1 00:03:21 term ntpd[412]: step time server 10.0.0.1 offset +825765407.2 sec", 2026),
        ("Mar  2 11:24:46 term app[1]: after", 2026),
        ("Jan  1 00:00:10 term kernel: [    0.000000] Linux version 4.9", 2026),
        ("Mar  7 09:10:30 term app[1]: again", 2026),
    ],
)
_DECEMBER_RESET = (
    # in December: the reset's January is set right to December, and the year passes at the real new year
    "2026-12-10T10:00:01.000",
    [
        ("Dec 10 09:00:00 term app[1]: before", 2026),
        ("Jan  1 00:00:10 term kernel: [    0.000000] Linux version 4.9", 2027),
        ("Dec 10 09:11:00 term app[1]: after", 2026),
        ("Dec 31 23:59:00 term app[1]: the last sale of the year", 2026),
        ("Jan  1 00:01:00 term app[1]: the first of the next", 2027),
    ],
)


@pytest.mark.parametrize(("anchor", "lines"), [_MARCH_RESETS, _DECEMBER_RESET], ids=["march", "december"])
def test_an_rtc_reset_to_new_year_is_no_new_year(tmp_path: Path, anchor: str, lines: list[tuple[str, int]]) -> None:
    # the log's stamps take the host log's year, and a new year only where one passes, every batch size alike
    term = write(tmp_path, "term.log", "\n".join(line for line, _ in lines))
    host = write(tmp_path, "host.log", f'<log realm="c" at="{anchor}"><send><io-timeout/></send></log>')
    expected = [year for _, year in lines]
    for chunk in (10**9, 1, 2, 3):
        loaded = forensics.load([term, host], chunk_lines=chunk)
        assert loaded.events.filter(pl.col("path") == term)["ts"].dt.year().to_list() == expected, chunk
    written = forensics.ingest.write_parquet([term, host], tmp_path / "e.parquet", batch_bytes=60)
    years = pl.read_parquet(tmp_path / "e.parquet").filter(pl.col("path") == term)["ts"].dt.year()
    assert written.inputs.height == 2 and years.to_list() == expected


def test_device_identity_order(tmp_path: Path) -> None:
    tms = "03-14 09:58:02.101  2311  2311 I TMS     : device serial=A920-7741 tid=T0001234 mid=1 app=1"
    assert forensics.load(write(tmp_path, "x.log", "\n".join([LOGCAT.format(s=1), tms]))).events[
        "device"
    ].unique().to_list() == ["A920-7741"]
    assert forensics.load(write(tmp_path, "lane3.log", LOGCAT.format(s=1))).events["device"][0] == "lane3"
    assert forensics.load(write(tmp_path, "y.log", LOGCAT.format(s=1)), device="D-9").events["device"][0] == "D-9"
    two_hosts = "Mar 14 10:00:00 h1 app[1]: x\nMar 14 10:00:00 h2 payapp[1]: TMS: device serial=S2 tid=T2 mid=2 app=1"
    assert forensics.load(write(tmp_path, "z.log", two_hosts)).events["device"].to_list() == ["h1", "S2"]


def test_unknown_format_and_empty_file(tmp_path: Path) -> None:
    loaded = forensics.load([write(tmp_path, "notes.txt", "hello\nworld\n"), write(tmp_path, "empty.log", b"")])
    assert_conserved(loaded)
    assert loaded.unparsed["reason"][0].startswith("no known format")
    assert loaded.inputs["lines"].to_list() == [2, 0]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        forensics.load(tmp_path / "nope.log")
    with pytest.raises(InputError, match="is a directory"):
        forensics.load(tmp_path)


def test_schema_is_the_declared_one(tmp_path: Path) -> None:
    from forensics.events import EVENTS_SCHEMA, INPUTS_SCHEMA

    loaded = forensics.load(write(tmp_path, "t.log", LOGCAT.format(s=1)))
    assert loaded.events.schema == EVENTS_SCHEMA
    assert loaded.inputs.schema == INPUTS_SCHEMA
    assert len(loaded.inputs["sha256"][0]) == 64


@pytest.mark.slow
def test_parallel_chunks_give_the_same_tables() -> None:
    from forensics.ingest import registry
    from forensics.ingest.framing import chunk_starts
    from forensics.ingest.read import read_input
    from tests.conftest import SAMPLES

    reg = registry()
    logs = [p for p in sorted((SAMPLES / "dup_crash_rerun").iterdir()) if p.suffix in (".log", ".csv")]
    logs.append(SAMPLES / "tour" / "V400-0017.log")
    for path in logs:
        raw = read_input(path)
        fmt = reg.detect(raw.lines)
        assert len(chunk_starts(raw.lines, fmt, 5)) > 1
        sequential = forensics.load(path, card_key="k", chunk_lines=5, fast=False)
        parallel = forensics.load(path, card_key="k", chunk_lines=5, fast=False, workers=2)
        for name in ("events", "unparsed", "compliance", "inputs"):
            assert_frame_equal(getattr(sequential, name), getattr(parallel, name)), (path, name)


def test_small_batches_give_the_same_tables() -> None:
    """Records are never cut between read batches: jPOS blocks, crash traces, continuations."""
    from tests.conftest import SAMPLES

    logs = [p for p in sorted((SAMPLES / "dup_crash_rerun").iterdir()) if p.suffix in (".log", ".csv")]
    logs.append(SAMPLES / "tour" / "V400-0017.log")
    for path in logs:
        whole = forensics.load(path, card_key="k", chunk_lines=10**9)
        small = forensics.load(path, card_key="k", chunk_lines=10**9, batch_bytes=3000)
        for name in ("events", "unparsed", "compliance", "inputs"):
            assert_frame_equal(getattr(small, name), getattr(whole, name)), (path, name)


@pytest.mark.slow
@pytest.mark.parametrize("spool_memory", [0, 1 << 30], ids=["spool-on-disk", "spool-in-memory"])
def test_write_parquet_streams_the_same_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spool_memory: int
) -> None:
    """Batch by batch into Parquet (years, rollovers, devices carried across batches) = load()."""
    import forensics.ingest.stream
    from forensics.ingest import write_parquet
    from tests.conftest import SAMPLES

    monkeypatch.setattr(forensics.ingest.stream, "_SPOOL_MEMORY", spool_memory)
    case = sorted((SAMPLES / "dup_migration_rerun").iterdir())
    logs = [p for p in case if p.suffix in (".log", ".csv")] + [SAMPLES / "tour" / "V400-0017.log"]
    rollover = write(
        tmp_path,
        "rollover.log",
        "\n".join(LOGCAT.format(s=s % 60).replace("03-14", "12-31" if s < 40 else "01-01") for s in range(80)) + "\n",
    )
    for paths in (logs, [rollover]):
        whole = forensics.load(paths, card_key="k", year=2025)
        written = write_parquet(paths, tmp_path / "events.parquet", card_key="k", year=2025, batch_bytes=2000)
        assert_frame_equal(pl.read_parquet(tmp_path / "events.parquet"), whole.events)
        for name in ("unparsed", "compliance", "inputs"):
            assert_frame_equal(getattr(written, name), getattr(whole, name)), name
    assert pl.read_parquet(tmp_path / "events.parquet")["ts"].dt.year().unique().sort().to_list() == [2025, 2026]


@pytest.mark.slow
@pytest.mark.parametrize("together", ["finished together", "zones differ", "together fails"])
def test_write_many_writes_what_write_parquet_writes_for_each_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, together: str
) -> None:
    """Many inputs as one stream (small ones through the fast path together, a blank-separated group per
    format, their times, devices and card ids worked out at once; bigger ones batch by batch; year-less stamps
    anchored per input): each output and result is ``write_parquet``'s of that input alone; an input that fails
    gives its error and the others go on. A group whose inputs' zones differ, or whose finishing together fails,
    is finished input by input, alike."""
    from datetime import UTC, datetime

    import forensics.ingest.finish
    import forensics.ingest.stream
    from forensics.ingest import write_many, write_parquet
    from tests.conftest import SAMPLES

    calls: list[int] = []
    finish_together = forensics.ingest.stream._finish_together

    def spy(group: list, *args: object) -> object:
        calls.append(len(group))
        return finish_together(group, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(forensics.ingest.stream, "_finish_together", spy)
    if together == "together fails":

        def failing(self: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(forensics.ingest.finish.Together, "devices", failing)

    inputs = sorted(
        p for case in ("dup_migration_rerun", "cbd_crash", "tour") for p in (SAMPLES / case).iterdir() if p.is_file()
    )
    inputs.append(Path(write(tmp_path, "yearless.log", "\n".join(LOGCAT.format(s=s) for s in range(30)) + "\n")))
    # devices named by a TMS serial that is neither the host nor the file stem (per host in syslog), and a new year
    tms = "payapp[881]: TMS: device serial=SER-A1 tid=T0005678 mid=000000007654321 app=3.2.1"
    sale = "payapp[881]: TransProcess: START type=SALE inv=000101 amount=20.07 cur=EUR op=07 src=keypad"
    swapped = [f"Dec 31 23:59:5{s} POS-A {tms if s == 0 else sale}" for s in range(3)]
    swapped += [f"Jan  1 00:00:1{s} POS-{'AB'[s % 2]} {sale}" for s in range(4)]
    inputs.append(Path(write(tmp_path, "swapped.log", "\n".join(swapped) + "\n")))
    lane = ["12-31 23:59:58.101  2311  2311 I TMS     : device serial=A920-9999 tid=T0001234 mid=000000001234567 app=1"]
    lane += [LOGCAT.format(s=s).replace("03-14 10:02", "01-01 00:00") for s in range(3)]
    inputs.append(Path(write(tmp_path, "lane9.log", "\n".join(lane) + "\n")))
    anchors = [(), [datetime(2024, 3, 10, tzinfo=UTC)]]
    jobs = [(p, tmp_path / f"many-{n}.parquet", anchors[n % 2]) for n, p in enumerate(inputs)]
    jobs.insert(1, (tmp_path / "missing.log", tmp_path / "missing.parquet", ()))
    zones = {"*": "Asia/Shanghai", inputs[-3].name: "Europe/Berlin"} if together == "zones differ" else "Asia/Shanghai"
    results = write_many(jobs, card_key="k", batch_bytes=20_000, tz=zones)
    assert isinstance(results[1], InputError)
    assert not (tmp_path / "missing.parquet").exists()
    assert max(calls) > 1 if together != "zones differ" else sum(calls) < len(inputs) - 1, calls
    for (path, output, anchor), result in zip(jobs, results, strict=True):
        if path.name == "missing.log":
            continue
        alone = write_parquet(
            path, tmp_path / "alone.parquet", card_key="k", anchors=anchor, batch_bytes=20_000, tz=zones
        )
        assert isinstance(result, forensics.Loaded), path
        assert_frame_equal(pl.read_parquet(output), pl.read_parquet(tmp_path / "alone.parquet"))
        for name in ("unparsed", "compliance", "inputs"):
            assert_frame_equal(getattr(result, name), getattr(alone, name)), (path, name)
    devices = {p.name: pl.read_parquet(o)["device"].unique().sort().to_list() for p, o, _ in jobs if p.exists()}
    assert devices["swapped.log"] == ["POS-B", "SER-A1"]
    assert devices["lane9.log"] == ["A920-9999"]
    local = pl.read_parquet(jobs[inputs.index(tmp_path / "lane9.log") + 1][1])["ts"].dt.convert_time_zone(
        "Asia/Shanghai"
    )
    years = local.dt.year().to_list()
    assert years[0] + 1 == years[-1], years


def test_write_parquet_failing_midway_leaves_no_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that fails while writing leaves an earlier output as it was and no half-written file
    (a closed Parquet writer would leave a valid file that looks complete)."""
    import forensics.ingest.stream
    from forensics.ingest import write_parquet
    from tests.conftest import SAMPLES

    out = tmp_path / "events.parquet"
    out.write_bytes(b"earlier run")
    calls = []

    def failing(events: pl.DataFrame, guard: object) -> pl.DataFrame:
        calls.append(events.height)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(events, guard)  # type: ignore[arg-type]

    real = forensics.ingest.stream.card_ids
    monkeypatch.setattr(forensics.ingest.stream, "card_ids", failing)
    with pytest.raises(OSError, match="No space left"):
        write_parquet(SAMPLES / "tour" / "V400-0017.log", out, card_key="k", batch_bytes=2000)
    assert len(calls) == 2
    assert out.read_bytes() == b"earlier run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.parquet"]
    monkeypatch.setattr(forensics.ingest.stream, "card_ids", real)
    write_parquet(SAMPLES / "tour" / "V400-0017.log", out, card_key="k")
    assert_frame_equal(pl.read_parquet(out), forensics.load(SAMPLES / "tour" / "V400-0017.log", card_key="k").events)


@pytest.mark.slow
def test_worker_processes_that_cannot_start_fall_back(tmp_path: Path) -> None:
    """A script on stdin cannot be re-imported by spawned workers: parsing goes on in-process."""
    import subprocess
    import sys

    from tests.conftest import ROOT, SAMPLES

    host = SAMPLES / "dup_crash_rerun" / "acquirer-host.log"
    script = f"""
import polars as pl, forensics, forensics.ingest.stream as ing
ing._STREAM_CHUNK = 5
a = forensics.load({str(host)!r}, card_key="k", workers=2, chunk_lines=5).events
forensics.write_parquet({str(host)!r}, {str(tmp_path / "e.parquet")!r}, card_key="k", workers=2)
b = pl.read_parquet({str(tmp_path / "e.parquet")!r})
c = forensics.load({str(host)!r}, card_key="k").events
assert a.equals(c) and b.equals(c), "tables differ"
print("ok", c.height)
"""
    done = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok")


def test_numbers_too_long_for_their_columns_lose_nothing(tmp_path: Path) -> None:
    """A pid beyond 64 bits makes the line unparsed with the reason; a dialect value beyond
    64 bits stays in attrs; neither stops the parse."""
    log = write(
        tmp_path,
        "big.log",
        "\n".join(
            [
                "03-14 10:00:00.004  99999999999999999999  2398 I TransProcess: START type=SALE inv=000051",
                "03-14 10:00:00.005  2311  2398 I Comm    : TX 0200 DE4=12345678901234567890 DE11=000001",
                "03-14 10:00:00.006  2311  2398 I Printer : STATUS code=-9223372036854775809",
                f"03-14 10:00:00.007  {'9' * 5000}  2398 I TransProcess: START type=SALE inv=000052",
                "03-14 10:00:00.008  2311  2398 I TransProcess: START type=SALE inv=000053 amount=1e3094300 cur=USD",
                "03-14 10:00:00.009  2311  2398 I Comm    : TX 0200 DE4=--5 DE11=000002",
                "03-14 10:00:00.010  2311  2398 I Comm    : TX 0200 DE4=\u00b2 DE11=000003",
            ]
        )
        + "\n",
    )
    loaded = forensics.load(log, card_key="k", year=2026)
    reasons = loaded.unparsed["reason"].to_list()
    assert reasons[0] == "logcat: pid 99999999999999999999 is out of range (Int64)"
    assert reasons[1].startswith("logcat: a value cannot be read: Exceeds the limit (4300 digits)")
    tx, status, huge, dashes, square = loaded.events.rows(named=True)
    assert tx["amount"] is None and json.loads(tx["attrs"])["amount"] == "12345678901234567890"
    assert status["code"] is None and json.loads(status["attrs"])["code"] == "-9223372036854775809"
    assert [json.loads(r["attrs"])["amount"] for r in (huge, dashes, square)] == ["1e3094300", "--5", "\u00b2"]


def test_an_offset_no_zone_has_leaves_the_time_unread(tmp_path: Path) -> None:
    """logcat -v zone with +9900 (a damaged line): no guessed time, and the file's note says so."""
    log = write(
        tmp_path,
        "zone.log",
        "\n".join(
            [
                "03-14 10:02:11.204 +0800  2311  2398 I TransProcess: START type=SALE inv=000045 amount=45.99 cur=USD",
                "03-14 10:02:12.204 +9900  2311  2398 I TransProcess: START type=SALE inv=000046 amount=45.99 cur=USD",
                "03-14 10:02:13.204 -0830  2311  2398 I TransProcess: START type=SALE inv=000047 amount=45.99 cur=USD",
            ]
        )
        + "\n",
    )
    loaded = forensics.load(log, year=2026)
    assert [t.isoformat() if t else None for t in loaded.events["ts"].to_list()] == [
        "2026-03-14T02:02:11.204000+00:00",
        None,
        "2026-03-14T18:32:13.204000+00:00",
    ]
    assert loaded.inputs["notes"][0] == "1 timestamps could not be read; year-less stamps: year 2026 given by --year"


def test_parquet_dictionaries_only_where_values_repeat(tmp_path: Path) -> None:
    # the columns whose values differ row to row are written plain; the others keep their dictionaries
    import pyarrow.parquet as pq

    log = write(tmp_path, "x.log", "\n".join(LOGCAT.format(s=s) for s in range(1, 40)))
    forensics.ingest.write_parquet(log, tmp_path / "e.parquet")
    group = pq.ParquetFile(tmp_path / "e.parquet").metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    dictionary = {name for name, used in encodings.items() if "RLE_DICTIONARY" in used}
    assert {"line", "ts", "text", "message"}.isdisjoint(dictionary)
    assert {"path", "format", "kind", "device"} <= dictionary
    assert_frame_equal(
        pl.read_parquet(tmp_path / "e.parquet").drop("card_id"), forensics.load(log).events.drop("card_id")
    )
