"""Honest answers and one story: coverage in every command, the timeline marks what diagnosis finds,
errors in one line (issue 15)."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import click
import polars as pl
import pytest

from forensics.analysis import diagnose
from forensics.coverage import coverage, plural
from forensics.diagnosis import Diagnosis
from forensics.report import text
from tests.conftest import ROOT, SAMPLES


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from forensics.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def case_inputs(case: Path) -> list[str]:
    """A sample case's logs, host log and clearing file (not its README or truth)."""
    return [str(p) for p in sorted(case.iterdir()) if p.is_file() and p.suffix not in (".md", ".json")]


CASES = sorted(p for p in SAMPLES.iterdir() if p.is_dir() and case_inputs(p) and p.name != "wide")


@cache
def diagnosed(case: str) -> Diagnosis:
    return diagnose(case_inputs(SAMPLES / case), card_key="k")


# -- honest coverage ---------------------------------------------------------------------


def test_no_fault_found_says_what_was_and_was_not_checked() -> None:
    device_only = diagnose([str(SAMPLES / "clean_day" / "A920-6730.log")], card_key="k")
    said = device_only.to_text()
    assert "No faulty charge found." in said
    assert "Not checked: the host side (no host log); settlement (no clearing file)." in said
    assert "every charge matches" not in said  # the old claim, untrue without a clearing file
    everything = diagnosed("clean_day")
    cov = coverage(everything.timeline)
    assert cov.not_checked == () and len(cov.checked) == 3
    assert "Not checked" not in everything.to_text()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["empty", "binary", "readme"])
def test_an_input_without_events_is_a_warning_and_diagnose_exits_3(kind: str, tmp_path: Path) -> None:
    bad = {"empty": tmp_path / "empty.log", "binary": tmp_path / "blob.log", "readme": ROOT / "README.md"}[kind]
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "binary":
        bad.write_bytes(bytes(range(256)) * 40)
    log = str(SAMPLES / "clean_day" / "A920-6730.log")
    for fmt in ("text", "json"):
        result = run("diagnose", log, str(bad), "--format", fmt)
        assert result.returncode == 3, result.stderr
        warning = [line for line in result.stderr.splitlines() if bad.name in line]
        assert len(warning) == 1 and "warning: no events" in warning[0]
        assert "A920-6730.log: logcat, 737 lines: 736 parsed, 1 unparsed" in result.stderr
    assert f"{bad.name} (no events in it)" in result.stdout or fmt == "json"
    shown = run("timeline", log, str(bad))
    assert shown.returncode == 3  # the same exit code as diagnose for the same situation (docs/cli-contract.md)
    assert f"{bad.name}: unknown format" in shown.stdout and "warning: no events" in shown.stdout
    assert run("diagnose", log).returncode == 0


def test_tz_for_a_file_that_is_not_an_input_is_an_error() -> None:
    log = SAMPLES / "dup_paper_out_rerun" / "A920-1273.log"
    bad = run("diagnose", str(log), "--tz", "nope.log=Asia/Tokyo")
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "forensics: error: Invalid value for --tz: nope.log is not one of the inputs (see forensics diagnose --help)"
    ]
    good = run("diagnose", str(log), "--tz", "A920-1273.log=Asia/Tokyo")
    assert good.returncode == 0 and "Asia/Tokyo" not in good.stderr


# -- errors in one line ------------------------------------------------------------------


def test_usage_errors_take_one_line_and_hints_name_valid_choices() -> None:
    log = str(SAMPLES / "clean_day" / "A920-6730.log")
    for args in (["timeline", "--bogus"], ["timeline"], ["diagnose", log, "--format", "xml"]):
        result = run(*args)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("forensics: error: ") and f"forensics {args[0]} --help" in result.stderr
    timeline = run("timeline", log, "--format", "parquet")
    assert timeline.returncode == 2 and len(timeline.stderr.splitlines()) == 1
    assert "jsonl" not in timeline.stderr and "text|json|csv|timesketch" in timeline.stderr
    parse = run("parse", log, "--format", "parquet")
    assert parse.returncode == 2 and "jsonl|csv" in parse.stderr


def test_os_errors_carry_no_errno(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = run("report", str(SAMPLES / "clean_day" / "A920-6730.log"), "-o", str(not_a_folder / "report"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"forensics: error: {not_a_folder / 'report'}: not a directory"
    assert "Errno" not in result.stderr


# -- one story ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_timeline_marks_every_transaction_of_every_finding(case: str) -> None:
    result = diagnosed(case)
    shown = click.unstyle(text.render(result.timeline, findings=result.findings))
    lines = shown.splitlines()
    marks = text.finding_marks(result.timeline, result.findings)
    for f in result.findings:
        for t in f["transactions"]:
            head = [
                line
                for line in lines
                if re.match(rf"(F\d+,)*{f['id']}(,F\d+)* ", line)
                and f" inv {t['inv'] or '-'} stan {t['stan'] or '-'} " in line
                and f" {t['device']} TID " in line
            ]
            assert len(head) == 1, (f["id"], t)
        assert sum(f["id"] in ids for ids in marks.values()) == len(f["transactions"])
    assert max(len(line) for line in lines) <= text.WIDTH
    assert "None" not in shown


def test_the_timeline_tells_what_diagnosis_tells_where_its_flags_did_not() -> None:
    """refund_wrong_card: no flag, one finding; dup_migration_rerun: the re-run was not flagged."""
    for case in ("refund_wrong_card", "dup_migration_rerun"):
        result = diagnosed(case)
        shown = click.unstyle(text.render(result.timeline, findings=result.findings))
        assert len(re.findall(r"^F1 ", shown, re.M)) == 2, case
    # a filter keeps the host and settlement lines of what it shows
    result = diagnosed("dup_migration_rerun")
    only = result.timeline.filter(card="6565")
    shown = click.unstyle(text.render(result.timeline, findings=result.findings, transactions=only.transactions))
    assert len(re.findall(r"^F1 ", shown, re.M)) == 2
    assert "host answered 0210 rc=00" in shown and "settlement: cleared rrn" in shown
    other = result.timeline.filter(inv="003799")  # a sale of no finding: no finding listed
    shown = click.unstyle(text.render(result.timeline, findings=result.findings, transactions=other.transactions))
    assert "Findings (" not in shown and "F1" not in shown and "Transactions in findings (0)" in shown


def test_a_line_logged_twice_makes_no_phantom_transaction_and_is_shown_once_with_a_count() -> None:
    result = diagnosed("dup_migration_rerun")
    txns = result.timeline.transactions
    assert txns.filter(pl.col("inv") == "003799").height == 1
    assert txns.filter(pl.col("stan").is_null()).height == 0
    assert result.timeline.devices["transactions"].sum() == txns.height  # the devices count it once too
    shown = click.unstyle(text.render(result.timeline, findings=result.findings))
    assert "V400-4172.log:148 ×2" in shown  # the START of inv 003805, logged twice


def test_host_and_settlement_lines_interleave_in_time_order() -> None:
    result = diagnosed("refund_wrong_card")
    shown = click.unstyle(text.render(result.timeline, findings=result.findings)).splitlines()
    block = shown[next(i for i, line in enumerate(shown) if line.startswith("F1 SALE")) :]
    stamps = [line[4:16] for line in block[3:] if re.match(r" {4}\d\d:\d\d:\d\d\.\d{3}  ", line)][:13]
    sources = [line.rsplit(None, 1)[-1].split(":")[0] for line in block[3:16]]
    assert stamps == sorted(stamps)
    host = sources.index("acquirer-host.log")
    # the online item's capture is the host's receipt of the request (spec/terminal-logs.md section 4)
    assert sources[host : host + 4] == [
        "acquirer-host.log",
        "settlement-2026-04-08.csv",
        "acquirer-host.log",
        "A920-6438.log",  # the terminal's RX after the host's answer
    ]


def test_times_are_utc_with_the_correction_said_once() -> None:
    result = diagnosed("refund_wrong_card")
    shown = click.unstyle(text.render(result.timeline, findings=result.findings))
    assert shown.count("Times are UTC.") == 1
    assert "A920-6438 log time − 19.4 s" in shown
    assert shown.count("no time zone in") == 1 and "assumed UTC (use --tz)" not in shown
    assert "| 60 min after the previous F1" in shown  # the refund an hour after the sale, not "3613 s"


def test_fit_duration_and_plural() -> None:
    line = "TransProcess: RESULT status=APPROVED inv=000637 stan=123866 rc=00 auth=3Q5072 rrn=601500000012"
    cut = text.fit(line, 80)
    assert len(cut) <= 80 and cut.endswith("…") and "rrn=" not in cut and line.startswith(cut[:-1])
    assert text.fit("short", 80) == "short"
    assert text.fit("x" * 100, 10) == "x" * 9 + "…"  # no space to cut at: cut, but said
    assert [text.duration(s) for s in (0.85, 41, 3027, 7500, 3 * 86400)] == [
        "850 ms",
        "41 s",
        "50 min",
        "2 h 5 min",
        "3 days",
    ]
    assert (plural(1, "boot"), plural(2, "boot"), plural(0, "line")) == ("1 boot", "2 boots", "0 lines")
