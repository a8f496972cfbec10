"""One honesty contract for every command (docs/cli-contract.md, whose table this file reads), settlement
placed per spec/terminal-logs.md section 4, card numbers in file names masked, dispute-ready findings and
their evidence packs, reports readable at any width (issue 26)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from forensics.analysis import diagnose, timeline
from forensics.cli import cli
from forensics.diagnosis import reconcile, render
from forensics.diagnosis.finding import Alternative
from forensics.diagnosis.kinds import kinds
from forensics.disputes import disputes, table
from forensics.ingest import load
from forensics.ingest.cards import is_pan
from forensics.report import incident, timesketch
from forensics.report.text import cause_words as text_cause
from tests.conftest import ROOT, SAMPLES

CASE = SAMPLES / "dup_paper_out_rerun"
HOST = CASE / "acquirer-host.log"
CLEARING = CASE / "settlement-2026-01-15.csv"


# -- the contract table ------------------------------------------------------------------


def contract_rows() -> list[tuple[str, str, int, str]]:
    """(situation, command, exit code, first line on stderr) from docs/cli-contract.md's table."""
    text = (ROOT / "docs" / "cli-contract.md").read_text(encoding="utf-8")
    rows = []
    for line in text.split("| situation | command | exit | first line on stderr |", 1)[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        situation, command, code, first = (cell.strip() for cell in line.strip("|").split(" | "))
        rows.append((situation, command, int(code), "" if first == "(nothing)" else first.strip("`")))
    return rows


ROWS = contract_rows()


def _inputs(situation: str, tmp: Path) -> list[str]:
    if situation == "empty file":
        (tmp / "empty.log").write_bytes(b"")
        return [str(tmp / "empty.log")]
    if situation == "binary file":
        (tmp / "photo.jpg").write_bytes(bytes(range(256)) * 12)
        return [str(tmp / "photo.jpg")]
    if situation == "README":
        return [str(ROOT / "README.md")]
    if situation == "host log alone":
        return [str(HOST)]
    assert situation == "host log + clearing file", situation
    return [str(HOST), str(CLEARING)]


def _normal(line: str) -> str:
    """A stderr line with folders before a file name as ``…/`` and every number as ``N``."""
    return re.sub(r"\d+", "N", re.sub(r"/[^ :]*/", "…/", line))


def test_the_table_covers_every_command_and_situation() -> None:
    commands = {"parse", "timeline", "diagnose", "report", "chart", "sweep"}
    situations = {"empty file", "binary file", "README", "host log alone", "host log + clearing file"}
    assert {(s, c) for s, c, _, _ in ROWS} == {(s, c) for s in situations for c in commands}
    assert len(ROWS) == 30


@pytest.mark.parametrize(
    ("situation", "command", "code", "first"),
    [pytest.param(*row, marks=pytest.mark.slow) if row[1] == "sweep" else row for row in ROWS],
    ids=[f"{c}-{s}" for s, c, _, _ in ROWS],
)
def test_exit_code_and_first_line_follow_the_table(
    situation: str, command: str, code: int, first: str, tmp_path: Path
) -> None:
    logs = _inputs(situation, tmp_path)
    out = tmp_path / "out"
    extra = {
        "parse": ["-o", str(tmp_path / "ev.csv")],
        "report": ["-o", str(out)],
        "chart": ["-o", str(tmp_path / "c.png")],
        "sweep": ["-o", str(out), "--workers", "1", "-q"],
    }.get(command, [])
    result = CliRunner().invoke(cli, [command, *logs, *extra])
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert _normal(lines[0] if lines else "") == _normal(first)


def test_every_report_format_says_what_was_not_checked(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    args = ["report", str(HOST), str(CLEARING), "-o", str(out), "-q", "--format", "html", "--format", "md"]
    result = CliRunner().invoke(cli, [*args, "--format", "pdf"])
    assert result.exit_code == 0, result.output
    for name in ("report.html", "report.md"):
        said = (out / name).read_text(encoding="utf-8")
        assert "Not checked: the terminal side (no terminal log)" in said.replace("\\", "")
    assert (out / "report.pdf").stat().st_size > 0
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(bytes(range(256)) * 12)
    nothing = CliRunner().invoke(cli, ["report", str(photo), "-o", str(tmp_path / "none"), "-q", "--format", "md"])
    assert nothing.exit_code == 3
    said = (tmp_path / "none" / "report.md").read_text(encoding="utf-8")
    assert "Nothing was checked" in said and "No faulty charge found" not in said
    assert "a binary file, not text" in said


def test_a_folder_given_as_logs_suggests_sweep() -> None:
    result = CliRunner().invoke(cli, ["timeline", str(CASE)])
    assert result.exit_code == 2
    assert "is a folder" in result.output and f"forensics sweep {CASE} -o OUTDIR" in result.output


# -- settlement placement ----------------------------------------------------------------


def _early_items(files: list[str]) -> pl.DataFrame:
    """Cleared items placed before the request they clear (the transaction of their STAN listing them)."""
    tl = timeline(files)
    clears = (
        tl.transactions.filter(pl.col("settle_lines").is_not_null())
        .select("stan", pl.coalesce("ts_tx", "ts_start").alias("request"), "settle_lines")
        .explode("settle_lines")
    )
    items = tl.events.filter(pl.col("kind") == "settle.item").select(
        (pl.col("path") + ":" + pl.col("line").cast(pl.String)).alias("settle_lines"), "ts_utc", "stan"
    )
    placed = clears.join(items, on=["settle_lines", "stan"])
    assert placed.height, "no cleared item matched a transaction"
    return placed.filter(pl.col("ts_utc") < pl.col("request"))


def _case_files(folder: Path) -> list[str]:
    return [str(p) for p in sorted(folder.iterdir()) if p.is_file() and p.suffix not in (".md", ".json")]


def test_settlement_rows_sit_after_the_request_they_clear() -> None:
    """dup_paper_out_rerun's terminal clock is 71 s ahead: every cleared item sat 71 s before its sale."""
    assert _early_items(_case_files(CASE)).is_empty()


_PARTS = 4  # the samples and cases in interleaved parts, so that test workers share them


@pytest.mark.slow
@pytest.mark.parametrize("part", range(_PARTS))
def test_settlement_rows_sit_after_their_request_in_every_sample_and_case(shared: Path, part: int) -> None:
    cases = [p for p in sorted(SAMPLES.iterdir()) if p.is_dir() and p.name != "wide"]
    cases += sorted(p for p in (SAMPLES / "wide").iterdir() if p.is_dir())
    cases += sorted(p for p in (shared / "cases").iterdir() if p.is_dir())
    checked = 0
    for case in cases[part::_PARTS]:
        files = _case_files(case)
        if not any(f.endswith(".csv") for f in files):
            continue
        early = _early_items(files)
        assert early.is_empty(), (case.name, early.head(3))
        checked += 1
    assert checked >= 60 // _PARTS  # 60 or more with a clearing file in all


def test_timesketch_holds_host_and_clearing_events_in_place() -> None:
    tl = timeline(_case_files(CASE))
    rows = timesketch.frame(tl)
    kinds_of = set(rows["timestamp_desc"])
    assert {"Host Time", "Capture Time", "Terminal Time (clock-corrected)"} <= kinds_of
    sale = tl.transactions.filter(pl.col("stan") == "123866").row(0, named=True)
    one = timesketch.frame(tl, tl.transactions.filter(pl.col("stan") == "123866"))
    assert {"Host Time", "Capture Time"} <= set(one["timestamp_desc"])
    capture = one.filter(pl.col("timestamp_desc") == "Capture Time")["datetime"][0]
    assert capture >= sale["ts_tx"].strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


# -- card numbers in file names ----------------------------------------------------------


def test_a_card_number_in_a_file_name_is_masked_everywhere(tmp_path: Path) -> None:
    bare = tmp_path / "4111111111111111.log"
    joined = tmp_path / "shop_5500005555555559_lane.log"
    for target in (bare, joined):
        shutil.copy(CASE / "A920-1273.log", target)
    loaded = load([str(bare), str(joined)])
    shown = " ".join(loaded.inputs["path"].to_list() + loaded.events["path"].unique().to_list())
    shown += " ".join(loaded.events["device"].drop_nulls().unique().to_list())
    assert "4111111111111111" not in shown and "5500005555555559" not in shown
    assert "shop_550000******5559_lane.log" in shown
    assert {"file name"} <= set(loaded.compliance["field"])
    nameless = tmp_path / "4000000000000002.log"
    shutil.copy(CASE / "A920-1273.log", nameless)
    result = CliRunner().invoke(
        cli, ["report", str(joined), str(nameless), "-o", str(tmp_path / "rep"), "--format", "md"]
    )
    assert result.exit_code == 0, result.output
    everything = result.output + (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "5500005555555559" not in everything and "4000000000000002" not in everything
    missing = subprocess.run(
        [
            sys.executable,
            "-c",
            "from forensics.cli import main; main()",
            "diagnose",
            str(tmp_path / "x_4000000000000002.log"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr and "4000000000000002" not in missing.stderr


# -- disputes ----------------------------------------------------------------------------


def test_every_finding_kind_has_its_dispute_categories_or_says_why_not() -> None:
    t = table()
    assert set(t.kinds) == set(kinds())
    for kind in kinds():
        assert disputes(kind) or t.none[kind]
        for d in disputes(kind):
            assert d.network in ("Visa", "Mastercard") and d.evidence and d.source
    assert [d.code for d in disputes("duplicate_charge")] == ["12.6.1", "4834"]
    assert [d.code for d in disputes("refund_error")] == ["13.6", "4860"]
    # every shape the table names is one the kind tells apart, or a disagreement shape of that kind
    for kind, shape in t.shapes:
        assert shape in kinds()[kind].shapes or reconcile.shape(shape).kind == kind, (kind, shape)


@pytest.mark.parametrize(
    ("sample", "codes", "none"),
    [
        ("deposit_completed_twice", ["12.6.1", "4834"], None),
        ("deposit_completion_amount", ["12.5", "11.3", "4834", "4808"], None),
        ("refund_wrong_amount", [], "merchant's loss"),
        ("refund_wrong_card", ["13.6", "4860"], None),
        ("ledger_open_batch_retired", [], "not charged"),
        ("dup_migration_saf_late", ["12.6.1", "4834"], None),
    ],
)
def test_a_finding_claims_only_the_disputes_its_shape_supports(sample: str, codes: list[str], none: str | None) -> None:
    folder = SAMPLES / sample
    truth = json.loads((folder / "truth.json").read_text())
    logs = sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))
    result = diagnose(logs, tz={str(folder / d["file"]): d["tz"] for d in truth["devices"]}, card_key="k")
    [f] = [f for f in result.findings if f.kind == truth["findings"][0]["kind"]][:1]
    assert [d.code for d in f.disputes] == codes, (f.kind, f.shape)
    said = render.disputes(f)
    assert (none in said) if none else said.startswith("Disputes it supports: Visa")


def test_a_bad_dispute_table_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "disputes.toml"
    bad.write_text('[kind.duplicate_charge]\ncategories = ["visa_99"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown category 'visa_99'"):
        table.__wrapped__(bad)


def test_findings_list_their_disputes_in_json_text_and_reports(tmp_path: Path) -> None:
    result = diagnose(_case_files(CASE), card_key="k")
    found = json.loads(result.to_json())["findings"][0]
    assert [(d["network"], d["code"]) for d in found["disputes"]] == [("Visa", "12.6.1"), ("Mastercard", "4834")]
    assert all(d["evidence"] for d in found["disputes"])
    assert {"kind", "cause", "transactions"} <= set(found)  # what spec/findings.md consumers read stays
    assert "Disputes it supports: Visa 12.6.1 Duplicate processing" in result.to_text()
    report = incident.write(result, tmp_path, "md")
    assert "evidence it asks for" in report.read_text(encoding="utf-8")


def test_a_tie_and_a_low_confidence_are_explained_in_words() -> None:
    f = diagnose(_case_files(CASE), card_key="k").findings[0]
    tie = replace(f, confidence=0.43, alternatives=[Alternative("network_timeout", 0.43)])
    said = render.cause(tie)
    assert "The cause is a tie" in said and "network_timeout" in said and "do not decide" in said
    low = replace(f, confidence=0.3, alternatives=[Alternative("network_timeout", 0.2)], caveats=[])
    assert "Low confidence (0.30)" in render.cause(low) and "a lead to check" in render.cause(low)
    assert render.confidence_note(f) is None  # 0.75, no tie
    assert text_cause(tie) == "hardware_fault or network_timeout (tied, 0.43)"  # the timeline's findings list
    assert text_cause(low) == "hardware_fault (0.30, low: a lead to check)"


def test_report_pack_writes_a_verifiable_evidence_pack(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    args = ["report", *_case_files(CASE), "-o", str(out), "-q", "--pack", "--case-id", "CB-1"]
    result = CliRunner().invoke(cli, [*args, "--tz", "A920-1273.log=Asia/Tokyo"])
    assert result.exit_code == 0, result.output
    pack = out / "evidence" / "F1"
    assert sorted(p.name for p in pack.iterdir()) == [
        "finding.json",
        "lines.txt",
        "manifest.json",
        "swimlane.png",
        "transactions.csv",
    ]
    manifest = json.loads((pack / "manifest.json").read_text())
    for entry in manifest["files"]:
        assert hashlib.sha256((pack / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    for entry in manifest["inputs"]:
        assert hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["custody"]["case"] == "CB-1" and manifest["disputes"] == ["Visa 12.6.1", "Mastercard 4834"]
    lines = (pack / "lines.txt").read_text()
    assert "[charge] A920-1273.log:138 (UTC 2026-01-15 00:17:54.810): 01-15 09:16:43.710" in lines
    assert "400000******0144" in lines and not [n for n in re.findall(r"\d{13,19}", lines) if is_pan(n)]
    table_ = pl.read_csv(pack / "transactions.csv", infer_schema=False)
    assert table_.height == 2 and "amount_entered_minor" in table_.columns and "amount_entered" not in table_.columns


# -- readable at any width -----------------------------------------------------------------


def test_html_table_cells_never_break_inside_numbers_or_words() -> None:
    cls = incident._class
    for short in ("31.06 GBP", "confidence", "2026-01-15T00:17:53.260+00:00", "601500000012", "0.43, tied"):
        assert cls(short) == " class='n'", short
    assert cls("b30f8fc8fc6740e7c09b7e62805f7faf00f1e29051ad6c9794982e40fbefdc04") == " class='long'"
    assert cls("the date and acquirer reference of the valid transaction") == " class='text'"
    css = incident._CSS
    assert "overflow-wrap:anywhere}" not in css.split("td.long")[0]  # only hashes and paths break anywhere
    assert ".scroll{overflow-x:auto" in css and "td.n{white-space:nowrap}" in css


def test_the_pdf_is_titled_by_the_case_and_dated_by_its_inputs(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        cli, ["report", *_case_files(CASE), "-o", str(out), "-q", "--format", "pdf", "--case-id", "CB-9"]
    )
    assert result.exit_code == 0, result.output
    raw = (out / "report.pdf").read_bytes()
    assert b"/Title (Incident report CB-9)" in raw
    assert b"/CreationDate (D:20260115" in raw and b"D:2000" not in raw
