"""Charts and incident reports for every sample incident; deterministic, offline, no full PAN."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.text
import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from forensics.analysis import diagnose
from forensics.cli import cli
from forensics.report import charts, incident, pdf
from forensics.report.custody import Custody
from forensics.simulate.world import TEST_BINS
from tests.conftest import SAMPLES

INCIDENTS = sorted(p.parent for p in SAMPLES.glob("*/truth.json"))
_FULL_PAN = re.compile("(?:" + "|".join(TEST_BINS) + r")\d{7,13}")


def _result(folder: Path):  # type: ignore[no-untyped-def]
    truth = json.loads((folder / "truth.json").read_text())
    logs = sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))
    return diagnose(logs, tz={str(folder / d["file"]): d["tz"] for d in truth["devices"]}), truth


def _has_highlight(png: Path) -> bool:
    pixels = imread(png)[..., :3]
    target = np.array([0xCC, 0x79, 0xA7]) / 255
    return bool((np.abs(pixels - target).max(axis=-1) < 0.03).sum() > 30)


@pytest.mark.slow
@pytest.mark.parametrize("folder", INCIDENTS, ids=lambda p: p.name)
def test_report_and_chart_for_every_sample(folder: Path, tmp_path: Path) -> None:
    result, truth = _result(folder)
    report = incident.write(result, tmp_path, "html", Custody(options={"tz": "per device"}))
    text = report.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*['"]?(?:https?:)?//""", text), "the report must open offline"
    assert "Chain of custody" in text and all(
        row["sha256"] in text for row in result.timeline.loaded.inputs.iter_rows(named=True)
    )
    assert not _FULL_PAN.search(text)
    for f in result.findings:
        assert f.id in text and html.escape(f.evidence[0].text[:40]) in text
    png = charts.save(charts.figure("swimlane", result.timeline, result.findings), tmp_path / "swimlane.png")
    assert png.stat().st_size > 10_000
    assert _has_highlight(png) == bool(truth["findings"])


@pytest.mark.slow
def test_every_chart_kind_is_deterministic(tmp_path: Path) -> None:
    result, _ = _result(SAMPLES / "dup_migration_rerun")
    for kind in charts.KINDS:
        for suffix in ("png", "svg"):
            a = charts.save(charts.figure(kind, result.timeline, result.findings), tmp_path / f"a-{kind}.{suffix}")
            b = charts.save(charts.figure(kind, result.timeline, result.findings), tmp_path / f"b-{kind}.{suffix}")
            assert a.read_bytes() == b.read_bytes(), (kind, suffix)
            assert a.stat().st_size > 5_000


def test_migration_chart_leaves_out_a_queue_depth_that_is_not_a_number(tmp_path: Path) -> None:
    folder = tmp_path / "case"
    shutil.copytree(SAMPLES / "dup_migration_saf_late", folder)
    log = folder / "V400-3663.log"
    log.write_bytes(log.read_bytes().replace(b"depth=1", b"depth=1x", 1))
    result, _ = _result(folder)
    depths = result.timeline.events.filter(pl.col("kind") == "saf.queued")["attrs"].str.json_path_match("$.depth")
    assert "1x" in depths.to_list()
    charts.save(charts.figure("migration", result.timeline, result.findings), tmp_path / "m.png")


@pytest.mark.slow
def test_markdown_and_pdf_reports(tmp_path: Path) -> None:
    result, _ = _result(SAMPLES / "dup_crash_rerun")
    md = incident.write(result, tmp_path / "md", "md")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md.read_text())
    assert images and all((md.parent / name).stat().st_size > 5_000 for name in images)
    pdf = incident.write(result, tmp_path / "pdf", "pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000


@pytest.mark.slow
def test_pdf_is_laid_out_like_the_html(tmp_path: Path) -> None:
    """Charts inline (one image per chart, under its section, not a page each), every heading and
    table cell as text, "page N of M" on every page, and the same bytes for the same report."""
    from pypdf import PdfReader

    result, _ = _result(SAMPLES / "dup_crash_rerun")
    run = Custody(command=["forensics", "report"], commit="0123456789ab")
    secs = incident.sections(result, run)
    first = pdf.write_pdf(secs, tmp_path / "a.pdf", "Incident report: test")
    reader = PdfReader(first)
    pages = [page.extract_text() for page in reader.pages]
    assert sum(len(page.images) for page in reader.pages) == sum(len(s.charts) for s in secs) > 0
    assert len(pages) < sum(len(s.charts) for s in secs) + 3
    assert all(f"page {i} of {len(pages)}" in text for i, text in enumerate(pages, 1))
    text = " ".join(pages)
    for sec in secs:
        assert sec.title in text
        for _, rows in sec.tables:
            assert all(row[0].replace(" ", "") in text.replace(" ", "").replace("\n", "") for row in rows)
    again = pdf.write_pdf(incident.sections(result, run), tmp_path / "b.pdf", "Incident report: test")
    assert first.read_bytes() == again.read_bytes()
    widths = pdf._widths(["bytes", "SHA-256"], [["73204", "a" * 64]])
    assert widths[0] >= pdf.pdfmetrics.stringWidth("73204", "Sans", 7.5)


@pytest.mark.slow
def test_chart_and_report_cli(tmp_path: Path) -> None:
    folder = SAMPLES / "dup_paper_out_rerun"
    logs = sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))
    runner = CliRunner()
    for kind in ("swimlane", "skew", "amounts"):
        result = runner.invoke(cli, ["chart", *logs, "--kind", kind, "-o", str(tmp_path / f"{kind}.svg")])
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"{kind}.svg").read_text().startswith("<?xml")
    single = runner.invoke(cli, ["chart", *logs, "--kind", "migration", "-o", str(tmp_path / "migration.svg")])
    assert single.exit_code == 3 and not (tmp_path / "migration.svg").exists()
    assert single.output.strip().count("\n") == 0 and "no device swap" in single.output
    bad = runner.invoke(cli, ["chart", *logs, "-o", str(tmp_path / "x.gif")])
    assert bad.exit_code != 0 and ".png" in bad.output
    out = runner.invoke(cli, ["report", *logs, "-o", str(tmp_path / "r"), "--format", "html", "--format", "md"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "r" / "report.html").exists() and (tmp_path / "r" / "report.md").exists()


@pytest.mark.slow
def test_chain_of_custody_says_who_when_how_and_from_which_build(tmp_path: Path) -> None:
    folder = SAMPLES / "dup_paper_out_rerun"
    logs = sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))
    args = ["report", *logs, "-o", str(tmp_path), "--analyst", "J. Doe", "--case-id", "CB-0412", "--tz", "UTC"]
    command = [sys.executable, "-c", "from forensics.cli import main; main()", *args]
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report.html").read_text()
    custody = page[page.index("Chain of custody") :]
    assert re.search(r"<td[^>]*>generated</td><td[^>]*>20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>", custody)
    assert re.search(r"<td[^>]*>J\. Doe</td>", custody) and re.search(r"<td[^>]*>CB-0412</td>", custody)
    assert re.search(
        r"forensics \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}( \+ local changes)?|not a git checkout)\)", custody
    )
    assert "--case-id CB-0412" in custody
    assert all(str(Path(log).absolute()) in custody for log in logs)
    assert "device_name=" not in page and "{" not in custody  # options in words, not Python


def test_an_unknown_skew_is_said_to_be_unknown_not_zero() -> None:
    """A device log alone (no host log, no clearing file): no skew can be measured, and the report says so."""
    device_log = next(p for p in (SAMPLES / "dup_paper_out_rerun").iterdir() if p.name.startswith("A920"))
    result = diagnose([str(device_log)], card_key="k")
    devices = next(s for s in incident.sections(result) if s.title == "Devices and clocks")
    (dev_header, dev_rows), (clock_header, clock_rows) = devices.tables
    assert {r[dev_header.index("skew (s)")] for r in dev_rows} == {"unknown"}
    assert {r[clock_header.index("skew (s)")] for r in clock_rows} == {"unknown (none applied)"}


def test_summary_counts_terminals_known_only_by_tid() -> None:
    host_alone = diagnose([str(SAMPLES / "dup_operator_rerun" / "acquirer-host.log")])
    summary = incident.sections(host_alone)[0].paragraphs[0]
    assert "on 1 terminal known only by TID from the host log or clearing file" in summary, summary
    mixed = diagnose(
        [str(SAMPLES / "clean_day" / p.name) for p in (SAMPLES / "clean_day").glob("*.log") if "host" not in p.name]
        + [str(SAMPLES / "dup_operator_rerun" / "acquirer-host.log")]
    )
    summary = incident.sections(mixed)[0].paragraphs[0]
    assert re.search(r"on \d+ terminals? with a log and 1 more known only by TID", summary), summary


def test_the_swimlane_and_the_amounts_chart_label_a_transaction_at_the_same_time() -> None:
    result, _ = _result(SAMPLES / "dup_operator_rerun")
    labels = {}
    for kind in ("swimlane", "amounts"):
        fig = charts.figure(kind, result.timeline, result.findings)
        labels[kind] = sorted(
            re.findall(
                r"F\d+ \w+ inv \d+ .*?\d\d:\d\d:\d\d",
                "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text)),
            )
        )
    assert labels["swimlane"] and labels["swimlane"] == labels["amounts"], labels
