"""The command line: parse every shipped sample; clear errors and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import forensics
from forensics.cli import cli
from tests.conftest import malformed_lines, sample_log_files


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from forensics.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_samples_exist() -> None:
    assert len(sample_log_files()) >= 4


@pytest.mark.slow
@pytest.mark.parametrize("log", sample_log_files(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_parse_every_sample(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    unparsed = tmp_path / "unparsed.csv"
    result = CliRunner().invoke(
        cli, ["parse", str(log), "-o", str(out), "--unparsed", str(unparsed), "--card-key", "k"]
    )
    assert result.exit_code == 0, result.output
    # to Parquet the CLI streams (write_parquet); the rows are load()'s
    assert_frame_equal(pl.read_parquet(out), forensics.load(log, card_key="k").events)
    assert set(pl.read_csv(unparsed, schema_overrides={"line": pl.Int64})["line"]) == malformed_lines(log)


def test_missing_file_exits_nonzero_with_one_line(tmp_path: Path) -> None:
    result = run("parse", str(tmp_path / "missing.log"), "-o", str(tmp_path / "e.parquet"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"forensics: error: {tmp_path / 'missing.log'}: no such file"]


@pytest.mark.slow
def test_bad_zone_and_bad_usage(tmp_path: Path) -> None:
    log = sample_log_files()[0]
    bad = run("parse", str(log), "--tz", "Mars/Olympus")
    assert bad.returncode == 2 and "unknown time zone" in bad.stderr
    for args, says in (
        (["--tz", "+25:00"], "time zone offset '+25:00' is out of range (-14:00 to +14:00)"),
        (["--tz", "+08:75"], "time zone offset '+08:75' is out of range (-14:00 to +14:00)"),
        (["--year", "0"], "year 0 is out of range (1970 to 2100)"),
    ):
        bad = run("parse", str(log), *args)
        assert bad.returncode == 2 and bad.stderr.strip() == f"forensics: error: {says}"
    assert run("parse").returncode == 2
    assert run("parse", str(log), "-o", "-", "--format", "parquet").returncode == 2


@pytest.mark.slow
@pytest.mark.parametrize("command", ["parse", "timeline", "diagnose", "chart"])
def test_output_that_cannot_be_written_is_refused_before_any_work(command: str, tmp_path: Path) -> None:
    log = str(sample_log_files()[0])
    missing = run(command, log, "-o", str(tmp_path / "no" / "out.png"))
    assert missing.returncode == 2 and f"no such folder: {tmp_path / 'no'}" in missing.stderr
    folder = run(command, log, "-o", str(tmp_path))
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize(
    "before",
    [
        "",
        # a parent that blocked SIGTERM (inherited through exec): no thread would ever take it
        "import signal; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}); ",
        # the unwinding never starts (the signal reached another thread while the main one waits on the pipe,
        # or its exception was dropped in a finaliser): the watcher must end the process all the same
        "from forensics import cli; cli._terminated = lambda signum, frame: None; ",
    ],
    ids=["unwinds", "blocked-by-parent", "unwinding-lost"],
)
def test_sigterm_removes_the_spool_and_writes_no_output(tmp_path: Path, before: str) -> None:
    """A parse stopped by SIGTERM (a job scheduler, `kill`) cleans up after itself."""
    fifo, spool, out = tmp_path / "live.log", tmp_path / "tmp", tmp_path / "events.parquet"
    os.mkfifo(fifo)
    spool.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", before + "from forensics.cli import main; main()", "parse", str(fifo), "-o", str(out)],
        env={**os.environ, "TMPDIR": str(spool)},
        stderr=subprocess.PIPE,
    )
    writer = os.open(fifo, os.O_WRONLY)  # the child is reading: its spool folder exists
    try:
        os.write(writer, sample_log_files()[0].read_bytes()[:4000])
        deadline = time.monotonic() + 300  # a limit, not a verdict: the loop waits on the spool
        while not any(spool.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p.name[:10] for p in spool.iterdir()] == ["forensics-"]
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=300)
        assert code == 128 + signal.SIGTERM, (code, child.stderr.read() if child.stderr else "")
    finally:
        os.close(writer)
        child.kill()
    assert list(spool.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.log", "tmp"]


def test_remove_scratch_removes_the_temporary_folders_and_partial_outputs_that_exist_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the SIGTERM watcher removes: scratch folders and partial outputs while they exist, nothing after."""
    from forensics.outputs import remove_scratch, scratch_folder, written_aside

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # TMPDIR is read again
    target = tmp_path / "out.json"
    with scratch_folder("forensics-") as folder, written_aside(target) as partial:
        (folder / "0-0.arrow").write_bytes(b"spooled")
        partial.write_text("half", encoding="utf-8")
        assert folder.parent == tmp_path
        remove_scratch()
        assert not folder.exists() and not partial.exists()
        partial.write_text("done", encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    with scratch_folder("forensics-") as kept:
        pass
    remove_scratch()  # nothing is known any more: a finished output is never touched
    assert not kept.exists() and target.read_text(encoding="utf-8") == "done"


def test_jsonl_to_stdout_and_formats_listing() -> None:
    log = sample_log_files()[0]
    result = run("parse", str(log), "--format", "jsonl", "-q")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.count("\n") == pl.read_ndjson(result.stdout.encode(), infer_schema_length=None).height
    listing = run("formats")
    assert listing.returncode == 0
    for name in ("logcat", "syslog", "jpos", "settlement", "reference", "TransProcess: START"):
        assert name in listing.stdout
    assert (  # which grammars compile
        "[syslog.lark; fast path: repeated, severity, severity_untagged, bsd_hostless, bsd, bsd_untagged]"
        in listing.stdout
    )
    assert "[jpos.lark; Lark only]" in listing.stdout


def test_diagnose_json_is_the_library_document_to_stdout_and_to_a_file(tmp_path: Path) -> None:
    from forensics.analysis import diagnose

    case = Path(__file__).resolve().parent.parent / "sample_logs" / "dup_paper_out_rerun"
    logs = [str(p) for p in sorted(case.iterdir()) if p.suffix in (".log", ".csv")]
    expected = diagnose(logs, card_key="k").to_json()
    out = tmp_path / "findings.json"
    to_stdout = CliRunner().invoke(cli, ["diagnose", *logs, "--format", "json", "--card-key", "k"])
    to_file = CliRunner().invoke(cli, ["diagnose", *logs, "--format", "json", "--card-key", "k", "-o", str(out)])
    assert to_stdout.exit_code == 0 and to_file.exit_code == 0
    assert to_stdout.stdout == expected == out.read_text(encoding="utf-8")


def test_log_format_names_the_format_of_an_input(tmp_path: Path) -> None:
    raw = tmp_path / "pos.log"
    raw.write_text("I/PosApp: sale started\nstill the app's words\n", encoding="utf-8")
    out = tmp_path / "events.jsonl"
    runner = CliRunner()
    done = runner.invoke(cli, ["parse", str(raw), "--log-format", "pos.log=logcat_raw", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert {json.loads(line)["format"] for line in out.read_text().splitlines()} == {"logcat_raw"}
    assert "format logcat_raw: named for this file" in done.output
    wrong = runner.invoke(cli, ["diagnose", str(raw), "--log-format", "nosuch"])
    assert wrong.exit_code == 2 and "unknown format 'nosuch'" in wrong.output
    other = runner.invoke(cli, ["timeline", str(raw), "--log-format", "other.log=logcat_raw"])
    assert other.exit_code == 2 and "other.log is not one of the inputs" in other.output
