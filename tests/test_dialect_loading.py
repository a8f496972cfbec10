"""Loading a vendor's dialect file: ``--dialect FILE`` on every command that reads logs,
$FORENSICS_DIALECTS, ``load(dialects=[...])``, and the worker processes using the same rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import forensics
from forensics.cli import cli
from forensics.errors import DialectError
from forensics.ingest import parse as parse_module
from forensics.ingest.dialect import DIALECTS_ENV, Dialects, dialect_sources, installed_sources
from tests.conftest import VENDORX

LINE = "03-14 10:02:{s:02d}.204  2311  2398 I Pay     : OK trace=0004{s:02d} amt=45.99 ccy=EUR\n"


@pytest.fixture
def vendor(tmp_path: Path) -> tuple[Path, Path]:
    """(dialect file, log written in its phrasing)."""
    dialect = tmp_path / "vendorx.toml"
    dialect.write_text(VENDORX, encoding="utf-8")
    log = tmp_path / "x.log"
    log.write_text("".join(LINE.format(s=s) for s in range(12)), encoding="utf-8")
    return dialect, log


def _kinds(loaded: forensics.Loaded) -> set[str]:
    return set(loaded.events["kind"])


def test_load_takes_dialect_paths(vendor: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    dialect, log = vendor
    monkeypatch.delenv(DIALECTS_ENV, raising=False)
    assert _kinds(forensics.load(log)) == {"log"}  # the installed dialects do not know the vendor
    for given in ([dialect], [str(dialect)], dialect, Dialects.from_files([dialect])):
        events = forensics.load(log, dialects=given).events
        assert set(events["kind"]) == {"txn.result"} and set(events["dialect"]) == {"vendorx"}, given
    # the same file twice (or an installed one) is read once
    assert dialect_sources([dialect, dialect]) == [*installed_sources(), ("vendorx.toml", VENDORX)]


def test_environment_names_dialects_when_none_given(vendor: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    dialect, log = vendor
    other = dialect.with_name("other.toml")
    other.write_text(VENDORX.replace("vendorx", "other").replace('"Pay"', '"Other"'), encoding="utf-8")
    monkeypatch.setenv(DIALECTS_ENV, os.pathsep.join([str(dialect), "", str(other)]))
    assert _kinds(forensics.load(log)) == {"txn.result"}
    assert [n for n, _ in dialect_sources()][-2:] == ["vendorx.toml", "other.toml"]
    assert _kinds(forensics.load(log, dialects=[])) == {"log"}  # given (even none): the variable is not read
    monkeypatch.setenv(DIALECTS_ENV, str(dialect.with_name("missing.toml")))
    with pytest.raises(DialectError, match=r"^FORENSICS_DIALECTS: .*missing.toml: cannot read the dialect file"):
        forensics.load(log)


def test_worker_processes_use_the_given_dialects(vendor: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The process pool stays on with a vendor dialect, and its workers apply the vendor's rules."""
    dialect, log = vendor
    answers: list[object] = []
    real_map = parse_module.LazyPool.map

    def spy(self: parse_module.LazyPool, jobs: list[tuple[object, ...]]) -> object:
        result = real_map(self, jobs)
        answers.append(result)
        return result

    monkeypatch.setattr(parse_module.LazyPool, "map", spy)
    pooled = forensics.load(log, dialects=[dialect], workers=2, fast=False, chunk_lines=4, card_key="k")
    assert answers and all(a is not None for a in answers)  # chunks went to worker processes
    assert _kinds(pooled) == {"txn.result"} and pooled.events.height == 12
    alone = forensics.load(log, dialects=[dialect], card_key="k")
    assert pooled.events.equals(alone.events)


def test_timeline_and_diagnose_take_dialects(vendor: tuple[Path, Path]) -> None:
    from forensics.analysis import diagnose, timeline

    dialect, log = vendor
    assert set(timeline([log], dialects=[dialect]).events["kind"]) == {"txn.result"}
    assert set(diagnose([log], dialects=[dialect]).timeline.events["kind"]) == {"txn.result"}


@pytest.mark.parametrize("command", ["parse", "timeline", "diagnose", "report", "chart"])
def test_every_command_that_reads_logs_takes_dialect(command: str, vendor: tuple[Path, Path], tmp_path: Path) -> None:
    dialect, log = vendor
    extra = {"report": ["-o", str(tmp_path / "r")], "chart": ["-o", str(tmp_path / "c.png")]}.get(command, [])
    bad = dialect.with_name("bad.toml")
    bad.write_text(VENDORX.replace('trace = "stan"', 'trace = "stann"'), encoding="utf-8")
    result = CliRunner().invoke(cli, [command, str(log), "--dialect", str(bad), *extra])
    assert result.exit_code != 0 and isinstance(result.exception, DialectError)
    assert str(result.exception) == "bad.toml: rule 1 (Pay OK): field 'fields.trace': unknown column 'stann'"
    help_text = CliRunner().invoke(cli, [command, "--help"]).output
    assert "--dialect" in help_text and "FORENSICS_DIALECTS" in help_text


def test_cli_dialect_and_environment(vendor: tuple[Path, Path], tmp_path: Path) -> None:
    dialect, log = vendor
    env = {k: v for k, v in os.environ.items() if k != DIALECTS_ENV}

    def run(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from forensics.cli import main; main()", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env={**env, **more},
        )

    def kinds(result: subprocess.CompletedProcess[str]) -> set[str]:
        assert result.returncode == 0, result.stderr
        return {json.loads(line)["kind"] for line in result.stdout.splitlines()}

    base = ("parse", str(log), "--format", "jsonl", "-q")
    assert kinds(run(*base)) == {"log"}
    assert kinds(run(*base, "--dialect", str(dialect))) == {"txn.result"}
    assert kinds(run(*base, FORENSICS_DIALECTS=str(dialect))) == {"txn.result"}
    bad = dialect.with_name("bad.toml")
    bad.write_text(VENDORX.replace('kind = "txn.result"', 'kind = "txn.reslut"'), encoding="utf-8")
    failed = run("diagnose", str(log), "--dialect", str(bad))
    assert failed.returncode == 2
    assert failed.stderr.splitlines() == [
        "forensics: error: bad.toml: rule 1 (Pay OK): field 'kind': unknown kind 'txn.reslut'"
    ]
    assert "vendorx" in run("formats", "--dialect", str(dialect)).stdout


def test_report_records_the_dialect_files_read(vendor: tuple[Path, Path], tmp_path: Path) -> None:
    """Chain of custody: the vendor dialect files a report was made with, and their SHA-256."""
    import hashlib

    dialect, log = vendor
    out = tmp_path / "r"
    result = CliRunner().invoke(cli, ["report", str(log), "--dialect", str(dialect), "-o", str(out), "--format", "md"])
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(dialect.read_bytes()).hexdigest()
    row = next(line for line in (out / "report.md").read_text().splitlines() if line.startswith("| dialect files"))
    assert row.endswith(f"vendorx.toml (sha256 {digest}) |")  # the path as given (Markdown-escaped)
    plain = CliRunner().invoke(cli, ["report", str(log), "-o", str(tmp_path / "p"), "--format", "md"])
    assert plain.exit_code == 0 and "dialect files" not in (tmp_path / "p" / "report.md").read_text()


@pytest.mark.slow
def test_a_sweep_reads_the_vendor_dialect_on_its_workers(
    vendor: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``forensics sweep --dialect FILE``: the workers (other processes, maybe other machines) get the
    vendor's rules with each task, and a resumed sweep with another dialect parses again."""
    import polars as pl

    dialect, log = vendor
    monkeypatch.delenv(DIALECTS_ENV, raising=False)
    logs = tmp_path / "logs"
    logs.mkdir()
    log.rename(logs / log.name)

    def kinds(outdir: Path) -> set[str]:
        events = pl.scan_parquet(outdir / "events" / "**" / "*.parquet", hive_partitioning=True)
        return set(events.select("kind").collect()["kind"])

    first = forensics.sweep(logs, tmp_path / "out", workers=1, dialects=[dialect])
    assert kinds(first.outdir) == {"txn.result"}
    again = forensics.sweep(logs, tmp_path / "out", workers=1)  # other rules: the input is read again
    assert again.run["parsed_now"] == 1 and kinds(again.outdir) == {"log"}
    result = CliRunner().invoke(
        cli, ["sweep", str(logs), "-o", str(tmp_path / "cli"), "--workers", "1", "-q", "--dialect", str(dialect)]
    )
    assert result.exit_code == 0, result.output
    assert kinds(tmp_path / "cli") == {"txn.result"}


def test_a_big_input_is_spilled_with_its_vendor_dialect(
    vendor: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inputs beyond the spill size go through ``write_parquet`` with the same dialect files (the CLI
    always passes ``dialects``, None when none is given, which must not keep a big input in memory)."""
    import polars as pl

    from forensics.analysis import ingested

    dialect, log = vendor
    monkeypatch.delenv(DIALECTS_ENV, raising=False)
    monkeypatch.setenv("FORENSICS_SPILL_BYTES", "0")
    for given, kinds in (([dialect], {"txn.result"}), (None, {"log"})):
        with ingested([log], dialects=given) as (_, source):
            assert source is not None
            assert set(pl.read_parquet(source)["kind"]) == kinds
