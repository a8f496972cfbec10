"""docs/dialects.md is tested: its example dialects load, the worked example gives the events
and the timeline line it claims, its error lines are the ones printed, its vocabulary is the
one ``forensics formats --vocabulary`` prints."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import forensics
from forensics.cli import cli
from forensics.errors import DialectError
from forensics.ingest.dialect import Dialects, installed_sources
from forensics.vocabulary import render
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "dialects.md").read_text(encoding="utf-8")


def block(name: str) -> str:
    """The fenced block whose info string names ``name`` (```toml acme.toml)."""
    found = re.findall(r"```\w+ " + re.escape(name) + r"\n(.*?)```", DOC, re.S)
    assert len(found) == 1, name
    return found[0]


@pytest.fixture
def worked(tmp_path: Path) -> Path:
    for name in ("acme.toml", "shop.log"):
        (tmp_path / name).write_text(block(name), encoding="utf-8")
    return tmp_path


def _cell(text: str) -> str | None:
    return text.strip() or None


def test_example_dialects_load() -> None:
    for name in ("example.toml", "acme.toml"):
        Dialects([*installed_sources(), (name, block(name))])


def test_worked_example_gives_the_events_claimed(worked: Path) -> None:
    table = DOC.split("## Worked example", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in table.splitlines() if line.startswith("| ")]
    header, body = [c.strip() for c in rows[0]], [[_cell(c) for c in row] for row in rows[1:]]
    loaded = forensics.load([worked / "shop.log"], dialects=[worked / "acme.toml"])
    got = loaded.events.select(header).rows()
    assert [[None if v is None else str(v) for v in r] for r in got] == body
    assert loaded.compliance.select("line", "field").rows() == [(2, "acme:acct"), (3, "F2"), (5, "acme:loyalty")]
    assert "603511******4455" in loaded.events["attrs"][4]


def test_worked_example_command_shows_the_lines_claimed(worked: Path) -> None:
    command = re.search(r"```sh\n(forensics timeline shop.log[^\n]*)\n```", DOC)
    assert command is not None
    here = os.getcwd()
    os.chdir(worked)
    try:
        result = CliRunner().invoke(cli, command.group(1).split()[1:])
    finally:
        os.chdir(here)
    assert result.exit_code == 0, result.output
    shown = [line.rstrip() for line in result.output.splitlines()]
    for claimed in block("output").splitlines():
        assert claimed.rstrip() in shown, claimed


def test_error_lines_are_the_ones_printed() -> None:
    acme = block("acme.toml")
    for edit, quoted in (
        (('clerk = "operator"', 'clerk = "operater"'), r"forensics: error: (acme\.toml: rule 1 [^\n]*)"),
        (('approved = "APPROVED"', 'approved = "APPROVD"'), r"`(acme\.toml: field 'values\.status\.approved'[^(]*)"),
    ):
        claimed = re.search(quoted, DOC)
        assert claimed is not None, quoted
        with pytest.raises(DialectError) as err:
            Dialects([*installed_sources(), ("acme.toml", acme.replace(*edit))])
        assert str(err.value).startswith(" ".join(claimed.group(1).split())), str(err.value)


def test_vocabulary_is_the_one_printed() -> None:
    assert block("vocabulary").rstrip("\n") == render(120), "regenerate: forensics formats --vocabulary"
    assert CliRunner().invoke(cli, ["formats", "--vocabulary"]).output.rstrip("\n") == render(120)
