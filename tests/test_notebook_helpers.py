"""The notebooks' helpers (forensics.report.notebook): inputs named from the repository root, time zones
by file name, amounts, a finding's headline, evidence and transactions, "no finding" in words, charts or
the reason they do not apply, and tables shown whole."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from matplotlib.figure import Figure

from forensics.analysis import diagnose
from forensics.report import notebook
from forensics.report.notebook import (
    Note,
    amount,
    chart,
    evidence,
    first_finding,
    headline,
    inputs,
    no_finding,
    table,
    transactions,
    zones,
)
from tests.conftest import ROOT, SAMPLES

DUP = SAMPLES / "dup_paper_out_rerun"


@pytest.fixture(scope="module")
def dup():
    logs = inputs("sample_logs/dup_paper_out_rerun", ROOT)
    return diagnose(logs, tz=zones({"A920-1273.log": "Asia/Tokyo"}, logs))


@pytest.fixture(scope="module")
def clean():
    logs = inputs(["sample_logs/clean_day"], ROOT)
    return diagnose(logs, tz=zones({"A920-6730.log": "America/New_York"}, logs))


def test_a_folder_is_its_logs_relative_to_the_root_or_absolute(tmp_path: Path) -> None:
    logs = inputs("sample_logs/dup_paper_out_rerun", ROOT)
    assert [Path(p).name for p in logs] == ["A920-1273.log", "acquirer-host.log", "settlement-2026-01-15.csv"]
    assert inputs([str(DUP / "A920-1273.log")], tmp_path) == [str(DUP / "A920-1273.log")]  # absolute: root unused
    with pytest.raises(FileNotFoundError, match="nothing-here.*relative paths start at"):
        inputs(["nothing-here"], ROOT)


def test_time_zones_by_file_name() -> None:
    logs = [str(DUP / "A920-1273.log"), str(DUP / "acquirer-host.log")]
    assert zones({"A920-1273.log": "Asia/Tokyo"}, logs) == {logs[0]: "Asia/Tokyo"}
    assert zones("UTC", logs) == "UTC" and zones(None, logs) is None
    with pytest.raises(ValueError, match="other.log"):
        zones({"other.log": "UTC"}, logs)


def test_amount_in_words_with_its_currency() -> None:
    frame = pl.DataFrame({"amount_entered": [4599, None, 5], "exponent": [2, 2, 0], "currency": ["USD", "EUR", "JPY"]})
    assert frame.select(amount())["amount"].to_list() == ["45.99 USD", "?", "5 JPY"]


def test_a_finding_in_words_its_evidence_and_transactions(dup) -> None:
    f = first_finding(dup)
    assert f is not None and f.id == "F1"
    assert headline(f).startswith("**F1: Charged twice") and "Cause: hardware_fault" in headline(f)
    cited = evidence(f)
    assert cited.columns == ["role", "where", "line"] and cited.height == len(f.evidence)
    assert cited["where"][0].startswith("A920-1273.log:") and "Out of paper" in cited["line"][0]
    assert transactions(f)["inv"].to_list() == ["000637", "000638"]
    assert isinstance(chart("swimlane", dup.timeline, dup.findings), Figure)


def test_a_clean_case_says_no_finding_and_why_a_chart_is_left_out(clean) -> None:
    assert first_finding(clean) is None
    said = no_finding(clean)
    assert said.startswith("**No finding**: no faulty charge among 62 transaction attempt(s).")
    assert "Checked: the terminal side" in said
    note = chart("migration", clean.timeline, clean.findings)
    assert isinstance(note, Note) and note._repr_markdown_().startswith("*No migration chart: no terminal ID")


def test_a_table_is_shown_whole_without_quotes() -> None:
    long = "x" * 300 + ' <b>"quoted"</b>'
    shown = table(pl.DataFrame({"line": [long], "n": [1.0595139999999998], "flags": [["a", "b"]], "none": [None]}))
    html = shown._repr_html_()
    assert "x" * 300 in html and "&lt;b&gt;&quot;quoted&quot;&lt;/b&gt;" in html and "…" not in html
    assert "<td style='text-align:left'>1.05951</td>" in html and "a, b" in html
    assert str(shown).splitlines()[1].startswith("x" * 300 + ' <b>"quoted"</b>  1.05951  a, b')


def test_helpers_are_not_copied_into_the_notebooks() -> None:
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert not [s for s in code if "\ndef " in f"\n{s}"], (
            f"{path.name} defines a function: put it in {notebook.__name__}"
        )
        first = nbformat.read(path, as_version=4).cells
        params = [c for c in first if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and first.index(params[0]) == 1, f"{path.name}: parameters first, after the title"
        assert "notebooks" not in params[0].source.replace("`notebooks/`", "") and '".."' not in params[0].source
