"""Hostile and unusual inputs: memory bounded by construction, every input form read as a log,
every line still accounted for. Small generated inputs; the large cases are in
benchmarks/hostile.py."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

import forensics
from forensics.ingest.read import Reader, read_input
from tests.test_ingest import LOGCAT, assert_conserved, write

LINES = [LOGCAT.format(s=s) for s in range(1, 6)]
BODY = "\n".join(LINES) + "\n"


# ----------------------------------------------------------------------------- memory


def test_a_long_line_is_cut_while_read_and_its_length_is_the_reason(tmp_path: Path) -> None:
    data = b"a" * 10 + b"\n" + b"b" * 1000 + b"\n" + b"c" * 5
    raw = read_input(write(tmp_path, "long.log", data), max_line=64)
    assert raw.lines == ["a" * 10, "b" * 64, "c" * 5]
    assert raw.cuts == {2: "line of 1,000 bytes cut at 64 bytes"}


def test_a_file_without_newline_holds_only_the_cap(tmp_path: Path) -> None:
    """Fed in pieces, the one partial line never holds more than the cap."""
    from forensics.ingest.read import _Splitter

    cuts: dict[int, str] = {}
    splitter = _Splitter(100, cuts)
    pieces = (b"x" * 1000 for _ in range(1000))

    def watched() -> object:
        for piece in pieces:
            yield piece
            assert splitter.kept <= 100

    assert list(splitter.feed(watched(), 1 << 20)) == [b"x" * 100]  # type: ignore[arg-type]
    assert cuts == {1: "line of 1,000,000 bytes cut at 100 bytes"}


def test_long_lines_inside_one_piece_are_cut_and_counted(tmp_path: Path) -> None:
    lines = [b"s" * 3, b"L" * 300, b"t" * 4, b"M" * 200, b"u"]
    raw = read_input(write(tmp_path, "mix.log", b"\n".join(lines) + b"\n"), max_line=100)
    assert raw.lines == ["sss", "L" * 100, "tttt", "M" * 100, "u"]
    assert raw.cuts == {2: "line of 300 bytes cut at 100 bytes", 4: "line of 200 bytes cut at 100 bytes"}


def test_a_cut_never_splits_a_utf8_character(tmp_path: Path) -> None:
    raw = read_input(write(tmp_path, "u.log", ("é" * 100).encode()), max_line=51)
    assert raw.lines == ["é" * 25] and "GB18030" not in " ".join(raw.notes)


def test_a_line_over_1_mib_is_unparsed_with_its_length(tmp_path: Path) -> None:
    big = LOGCAT.format(s=9) + " " + "x" * (3 << 20)
    loaded = forensics.load(write(tmp_path, "big.log", "\n".join([LINES[0], big, LINES[1]]) + "\n"))
    assert_conserved(loaded)
    assert loaded.events.height == 2
    row = loaded.unparsed.row(0, named=True)
    assert row["line"] == 2 and row["reason"] == f"line of {len(big):,} bytes cut at 1 MiB"
    assert len(row["text"]) == 1 << 20


def test_a_cut_line_inside_a_jpos_block_ends_the_block_and_stays_unparsed(tmp_path: Path) -> None:
    block = [
        '<log realm="c" at="2026-03-14T10:02:11.204">',
        "  <receive>",
        "    " + "z" * (2 << 20),
        "  </receive>",
        "</log>",
    ]
    loaded = forensics.load(write(tmp_path, "host.log", "\n".join(block) + "\n"))
    assert_conserved(loaded)
    assert "cut at 1 MiB" in " ".join(loaded.unparsed["reason"].to_list())


@pytest.mark.parametrize("pack", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bzip2", "xz"])
def test_decompression_gives_bounded_pieces(tmp_path: Path, pack: object) -> None:
    """A bomb (here 8 MiB of zeros) comes out in pieces of at most 1 MiB, never whole."""
    path = write(tmp_path, "bomb", pack(b"\0" * (8 << 20)))  # type: ignore[operator]
    reader = Reader(path)
    sizes = [len(piece) for piece in reader._bytes()]
    assert sum(sizes) == 8 << 20 and max(sizes) <= 1 << 20


def test_a_bomb_is_one_cut_line(tmp_path: Path) -> None:
    loaded = forensics.load(write(tmp_path, "zeros.gz", gzip.compress(b"\0" * (3 << 20))))
    assert_conserved(loaded)
    assert loaded.unparsed["reason"].to_list() == ["line of 3,145,728 bytes cut at 1 MiB"]


# ----------------------------------------------------------------------------- input forms


def test_lone_cr_line_ends_are_line_ends(tmp_path: Path) -> None:
    loaded = forensics.load(write(tmp_path, "mac.log", BODY.replace("\n", "\r")))
    assert_conserved(loaded)
    assert loaded.inputs["lines"][0] == 5 and loaded.events.height == 5


def test_a_crlf_split_between_pieces_is_one_line_end(tmp_path: Path) -> None:
    data = b"a" * ((1 << 20) - 1) + b"\r\nb\rc\r\n"
    raw = read_input(write(tmp_path, "split.log", data), max_line=2 << 20)
    assert [len(line) for line in raw.lines] == [(1 << 20) - 1, 1, 1]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_with_bom_are_decoded(tmp_path: Path, encoding: str) -> None:
    import codecs

    bom = {
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-le": codecs.BOM_UTF32_LE,
        "utf-32-be": codecs.BOM_UTF32_BE,
    }[encoding]
    text = BODY.replace("CANCEL", "CANCEL 打印机", 1)
    loaded = forensics.load(write(tmp_path, "w.log", bom + text.encode(encoding)))
    assert_conserved(loaded)
    assert loaded.events.height == 5 and loaded.unparsed.height == 0
    assert "打印机" in loaded.events["message"][0]
    assert f"decoded as {encoding.upper()} (byte order mark)" in loaded.inputs["notes"][0]


@pytest.mark.parametrize("pack", [bz2.compress, lzma.compress], ids=["bzip2", "xz"])
def test_bzip2_and_xz_are_read_and_truncation_is_noted(tmp_path: Path, pack: object) -> None:
    packed = pack(BODY.encode() * 20)  # type: ignore[operator]
    whole = forensics.load(write(tmp_path, "a.log.x", packed))
    assert_conserved(whole)
    assert whole.events.height == 100 and whole.inputs["format"][0] == "logcat"
    cut = forensics.load(write(tmp_path, "b.log.x", packed[: len(packed) * 2 // 3]))
    assert_conserved(cut)
    assert "truncated" in cut.inputs["notes"][0] or "corrupt" in cut.inputs["notes"][0]


def test_concatenated_bzip2_streams_are_all_read(tmp_path: Path) -> None:
    loaded = forensics.load(write(tmp_path, "two.bz2", bz2.compress(BODY.encode()) * 2))
    assert loaded.events.height == 10


def test_zip_members_are_read_in_turn(tmp_path: Path) -> None:
    path = tmp_path / "logs.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("first.log", "\n".join(LINES[:2]))  # no final newline: still its own line
        archive.writestr("second.log", "\n".join(LINES[2:]) + "\n")
    loaded = forensics.load(str(path))
    assert_conserved(loaded)
    assert loaded.events.height == 5 and loaded.unparsed.height == 0
    assert "zip: 2 members read in turn (first.log, second.log)" in loaded.inputs["notes"][0]
    assert loaded.inputs["sha256"][0] == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_a_single_zip_member_is_named(tmp_path: Path) -> None:
    path = tmp_path / "one.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("only.log", BODY)
    loaded = forensics.load(str(path))
    assert loaded.events.height == 5
    assert "zip: its single member only.log read" in loaded.inputs["notes"][0]


def test_a_damaged_zip_is_read_as_it_is(tmp_path: Path) -> None:
    loaded = forensics.load(write(tmp_path, "bad.zip", b"PK\x03\x04" + b"junk\n" * 3))
    assert_conserved(loaded)
    assert "zip archive unreadable" in loaded.inputs["notes"][0]


def test_write_parquet_streams_a_compressed_input(tmp_path: Path) -> None:
    out = tmp_path / "e.parquet"
    forensics.write_parquet([write(tmp_path, "s.log.xz", lzma.compress(BODY.encode()))], out)
    assert pl.read_parquet(out).height == 5


# ----------------------------------------------------------------------------- rule files

RULE = """
[[rule]]
id = "x-rule"
finding = "duplicate_charge"
cause = "hardware_fault"
weight = 1
description = "brackets in a string do not nest: [[[[{{{{"
when = [
  { match = { "first.receipts" = { gte = 1 } } },
  { sequence = { after = "first.result", within_s = 30, kind = "printer.status", where = { code = [2, 4] } } },
  { count = { around = "first.start", window_s = 60, kind = "emv.error", at_least = 2 } },
]
"""


def test_the_hostile_rule_template_is_valid() -> None:
    from forensics.diagnosis.rules import RuleSet

    assert RuleSet([("r.toml", RULE)]).rules[0].id == "x-rule"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "where = { code = [2, 4] }",
            'where = { code = "abc" }',
            "sequence: where code: the column holds Int64, so the value must be a number (got 'abc')",
        ),
        (
            "where = { code = [2, 4] }",
            "where = { code = [2, nan] }",
            "sequence: where code: nan is not a finite number",
        ),
        ("where = { code = [2, 4] }", "where = { code = { gt = true } }", "where code: gt: the column holds Int64"),
        ("where = { code = [2, 4] }", 'where = { stan = "$first.amount" }', "where stan: event column of type String"),
        ("where = { code = [2, 4] }", "where = 3", "sequence: field 'where': must be a table"),
        (
            "{ gte = 1 }",
            '{ gte = "abc" }',
            "match first.receipts: gte: the column holds UInt32, so the value must be a number",
        ),
        ("{ gte = 1 }", "{ gte = inf }", "match first.receipts: gte: inf is not a finite number"),
        ("{ gte = 1 }", "{ null = 1 }", "match first.receipts: null: must be true or false"),
        (
            '"first.receipts" = { gte = 1 }',
            '"first.flags" = { gt = "a" }',
            "match first.flags: gt: a list column takes",
        ),
        ('"first.receipts" = { gte = 1 }', '"first.offline" = "yes"', "match first.offline: the column holds Boolean"),
        ("within_s = 30", 'within_s = "30"', "sequence: field 'within_s': must be a finite number of seconds"),
        ("within_s = 30", "within_s = nan", "sequence: field 'within_s'"),
        ("within_s = 30", "within_s = -1", "sequence: field 'within_s'"),
        ("window_s = 60", "window_s = true", "count: field 'window_s'"),
        ("at_least = 2", "at_least = 1.5", "count: field 'at_least': must be a positive integer"),
        ('kind = "emv.error"', "kind = []", "count: field 'kind': an event kind or an array of them is required"),
        ("weight = 1", "weight = nan", "field 'weight': must be a positive finite number"),
        ("weight = 1", "weight = inf", "field 'weight': must be a positive finite number"),
    ],
)
def test_wrong_types_and_non_finite_numbers_fail_at_load(old: str, new: str, message: str) -> None:
    from forensics.diagnosis.rules import RuleSet
    from forensics.errors import RuleError

    with pytest.raises(RuleError) as err:
        RuleSet([("bad.toml", RULE.replace(old, new, 1))])
    assert str(err.value).startswith("bad.toml: rule x-rule: "), str(err.value)
    assert message in str(err.value), str(err.value)


def test_deep_nesting_fails_at_load_without_recursion() -> None:
    from forensics.diagnosis.rules import RuleSet
    from forensics.errors import RuleError

    deep = RULE + '\n[[rule]]\nid = "deep"\nwhen = ' + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(RuleError, match=r"^deep.toml: arrays and tables nested 5000 deep \(at most 32\)$"):
        RuleSet([("deep.toml", deep)])
    tables = RULE + "x = " + "{ a = " * 40 + "1" + " }" * 40 + "\n"
    with pytest.raises(RuleError, match="nested 40 deep"):
        RuleSet([("deep.toml", tables)])


def test_rule_files_from_the_command_line_are_checked_too(tmp_path: Path) -> None:
    import subprocess
    import sys

    rules = tmp_path / "bad.toml"
    rules.write_text(RULE.replace("{ gte = 1 }", '{ gte = "abc" }'))
    log = write(tmp_path, "t.log", BODY)
    result = subprocess.run(
        [sys.executable, "-m", "forensics.cli", "diagnose", log, "--rules", str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "bad.toml: rule x-rule: field 'when[1]': match first.receipts: gte: the column holds UInt32" in result.stderr


# ----------------------------------------------------------------------------- stamps and layouts


def _jpos(at: str) -> str:
    return f'<log realm="channel/10.1.2.3:8000" at="{at}">\n  <receive>\n    <peer-disconnect/>\n  </receive>\n</log>\n'


@pytest.mark.parametrize(
    ("at", "utc"),
    [
        ("Fri May 17 08:11:34 UYT 2002", "2002-05-17 11:11:34"),
        ("Wed Oct 10 15:36:18 GMT-03:00 2007.775", "2007-10-10 18:36:18.775"),
        ("Wed Oct 10 15:36:18 GMT+0530 2007.5", "2007-10-10 10:06:18.005"),
        ("Tue Dec 15 17:59:30 JST 2015.31", "2015-12-15 08:59:30.031"),
    ],
)
def test_jpos_at_with_zone_names_and_gmt_offsets(tmp_path: Path, at: str, utc: str) -> None:
    loaded = forensics.load(write(tmp_path, "host.log", _jpos(at)))
    assert loaded.events["ts"][0] == datetime.fromisoformat(utc + "+00:00")
    assert loaded.inputs["notes"][0] is None and not loaded.inputs["tz_assumed"][0]


def test_an_ambiguous_or_unknown_zone_name_leaves_the_time_unset_unless_tz_decides(tmp_path: Path) -> None:
    """CST is Chicago, Shanghai, Havana or Taipei: never silently UTC; --tz says which."""
    body = _jpos("Tue Dec 15 17:59:30 CST 2015.31") + _jpos("Tue Dec 15 18:00:30 XYZT 2015.31")
    loaded = forensics.load(write(tmp_path, "host.log", body))
    assert loaded.events["ts"].to_list() == [None, None]
    assert loaded.inputs["notes"][0] == (
        "zone name CST (America/Chicago or Asia/Shanghai or America/Havana or Asia/Taipei), XYZT (unknown) "
        "has no one offset: 2 times left unset (give --tz)"
    )
    shanghai = forensics.load(write(tmp_path, "host.log", body), tz="Asia/Shanghai")
    assert "read as local time in Asia/Shanghai" in shanghai.inputs["notes"][0]
    assert shanghai.events["ts"][0] == datetime.fromisoformat("2015-12-15 09:59:30.031+00:00")
    out = tmp_path / "e.parquet"
    streamed = forensics.write_parquet([write(tmp_path, "host.log", body)], out)
    assert streamed.inputs["notes"][0] == loaded.inputs["notes"][0]


LOG4J = {
    "hadoop.log": [
        "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created",
        "2015-10-18 18:10:52,403 WARN [RMCommunicator Allocator] org.apache.hadoop.ipc.Client: Address",
        "2015-10-18 18:11:00,001 ERROR [IPC Server handler 0 on 62270] org.apache.hadoop.ipc.Server:",
    ],
    "spark.log": [
        "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers for [TERM]",
        "17/06/09 20:10:41 INFO spark.SecurityManager: Changing view acls to: yarn,curi",
    ],
    "zookeeper.log": [
        "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Time out",
        "2015-07-29 19:04:29,071 - WARN  [SendWorker:188978561024:QuorumCnxManager$SendWorker@688] - Send worker",
        "2015-07-29 19:04:29,072 - ERROR [main:QuorumPeerConfig@103] - ",
    ],
}


@pytest.mark.parametrize("name", sorted(LOG4J))
def test_the_standard_log4j_layouts_are_read_on_both_paths(tmp_path: Path, name: str) -> None:
    from tests.test_fastpath import both

    fast, _ = both([Path(write(tmp_path, name, "\n".join(LOG4J[name]) + "\n"))])
    assert_conserved(fast)
    assert fast.inputs["format"][0] == "hdfs" and fast.events.height == len(LOG4J[name])
    assert fast.events["ts"].null_count() == 0 and fast.events["level"].null_count() == 0
    first = fast.events.row(0, named=True)
    expected = {
        "hadoop.log": ("org.apache.hadoop.mapreduce.v2.app.MRAppMaster", "2015-10-18 18:01:47.978"),
        "spark.log": ("executor.CoarseGrainedExecutorBackend", "2017-06-09 20:10:40"),
        "zookeeper.log": ("QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774", "2015-07-29 17:41:44.747"),
    }[name]
    assert (first["tag"], first["ts"]) == (expected[0], datetime.fromisoformat(expected[1] + "+00:00"))


# ----------------------------------------------------------------------------- devices


def test_devices_without_a_tid_are_never_called_replaced(tmp_path: Path) -> None:
    from forensics.analysis import timeline

    hosts = [f"Jul  1 09:0{i}:00 host-{i} kernel[0]: ARPT: wake event" for i in range(4)]
    tl = timeline([write(tmp_path, "mac.log", "\n".join(hosts) + "\n")], year=2017)
    assert tl.devices.height == 4
    assert set(tl.devices["role"].to_list()) == {"no TID in its log"}
    assert tl.devices["devices_on_tid"].null_count() == 4 and tl.devices["overlap_s"].null_count() == 4


def test_a_gzip_member_ending_at_a_read_boundary_is_followed_by_the_next(tmp_path: Path) -> None:
    """Concatenated gzip members, the first exactly one read (1 MiB) long."""
    line = LINES[0].encode() + b"\n"
    n = (1 << 20) - 200
    while len(first := gzip.compress(line * (n // len(line)) + b"x" * (n % len(line)) + b"\n", 0, mtime=0)) < 1 << 20:
        n += 1
    assert len(first) == 1 << 20
    loaded = forensics.load(write(tmp_path, "two.log.gz", first + gzip.compress(BODY.encode())))
    assert_conserved(loaded)
    assert loaded.events["message"].to_list()[-5:] == [LOGCAT.format(s=s).split(": ", 1)[1] for s in range(1, 6)]
    assert "gzip" not in loaded.inputs["notes"][0]
