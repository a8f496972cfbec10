"""forensics dialect check: a dialect file's coverage of real logs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli import cli
from forensics.ingest.cards import luhn_ok
from forensics.ingest.dialect_check import check_dialect
from forensics.simulate import simulate, simulate_volume

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "dialects.md").read_text(encoding="utf-8")


def _block(name: str) -> str:
    """The guide's fenced block whose info string names ``name`` (```toml quill_draft.toml)."""
    found = re.findall(r"```\w+ " + re.escape(name) + r"\n(.*?)```", GUIDE, re.S)
    assert len(found) == 1, name
    return found[0]


# The guide's first draft for the quill app's logcat lines: two rules of many, by regular expression only.
DRAFT = _block("quill_draft.toml")
_PAN = "4761739001010119"  # a Luhn-valid test card number


@pytest.fixture(scope="module")
def quill_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("quill")
    case = simulate_volume(3000, 7, android=True, vendor="quill")
    case.write(folder)
    log = folder / "A920-0007.log"
    # a debug build that logged a card number in clear on a line no rule matches
    with log.open("a", encoding="utf-8") as out:
        out.write(f"11-30 23:59:59.000  2311  2398 D Quill   : [Card] debug track pan={_PAN} exp=2612\n")
    return log


@pytest.fixture(scope="module")
def draft(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("draft") / "quill_draft.toml"
    path.write_text(DRAFT, encoding="utf-8")
    return path


def _messages(log: Path) -> list[str]:
    return [
        line.split("Quill   : ", 1)[1] for line in log.read_text(errors="replace").splitlines() if " Quill   : " in line
    ]


def test_a_draft_shows_what_it_maps_and_the_shapes_it_misses(quill_log: Path, draft: Path) -> None:
    report = check_dialect(draft, [quill_log])
    messages = _messages(quill_log)
    starts = sum(bool(re.match(r"\[Txn\] \w+ started: invoice", m)) for m in messages)
    approved = sum(bool(re.match(r"\[Txn\] Invoice \d+ approved", m)) for m in messages)
    assert report.mapped == {("Quill", "txn.start"): starts, ("Quill", "txn.result"): approved}
    assert report.unmatched_lines == len(messages) - starts - approved > 0
    counts = [s.count for s in report.unmatched]
    assert counts == sorted(counts, reverse=True)
    sends = sum(m.startswith("[Host] Sent ") for m in messages)
    sent_shapes = [s for s in report.unmatched if s.template.startswith("[Host] Sent ")]
    assert sends and sum(s.count for s in sent_shapes) == sends
    assert all(s.example.startswith("[Host] Sent ") and s.line > 0 for s in sent_shapes)
    # every line the draft leaves is in exactly one shape; the system's own lines are other dialects' or no one's
    assert sum(s.count for s in report.unmatched) == report.unmatched_lines
    assert report.unowned and "Quill" not in report.unowned


def test_the_report_masks_card_data_and_fits_120_columns(quill_log: Path, draft: Path) -> None:
    runner = CliRunner()
    for fmt in ("text", "json"):
        result = runner.invoke(cli, ["dialect", "check", str(draft), str(quill_log), "--format", fmt])
        assert result.exit_code == 0, result.output
        assert _PAN not in result.output
        assert not [n for n in re.findall(r"\d{13,19}", result.output) if luhn_ok(n)]
    assert "[Card] debug track pan=476173******0119" in result.output
    data = json.loads(result.output)
    assert data["unmatched_lines"] == sum(s["lines"] for s in data["unmatched"])
    text = runner.invoke(cli, ["dialect", "check", str(draft), str(quill_log)]).output
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "matched by no rule, by shape" in text and "tags no dialect owns" in text


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("name = 'x'\ntags = ['Quill']\n[[rule]]\ntag = 'Quill'\nkind = 'txn.nope'\n", "unknown kind 'txn.nope'"),
        ("name = 'x'\ntags = [\n", "not valid TOML"),
        (DRAFT.replace('inv = "000045" }', 'inv = "000046" }', 1), "expected '000046'"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, quill_log: Path, content: str, says: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(content, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "forensics.cli", "dialect", "check", str(bad), str(quill_log)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and says in run.stderr and "bad.toml" in run.stderr


def test_an_installed_dialect_checked_as_edited_replaces_itself(tmp_path: Path, quill_log: Path) -> None:
    """A copy of an installed file under its own dialect name is checked in its place, not beside it."""
    reference = ROOT / "forensics" / "dialects" / "reference.toml"
    edited = tmp_path / "reference.toml"
    edited.write_text(reference.read_text(encoding="utf-8"), encoding="utf-8")
    report = check_dialect(edited, [quill_log])
    assert report.dialect == "reference" and report.mapped_by_others == {}
    assert report.mapped[("healthd", "power.battery")] > 0


def test_values_outside_the_value_maps_are_listed(tmp_path: Path, quill_log: Path) -> None:
    """A map that knows 'approved' only leaves 'declined' as logged: listed with its count."""
    mapped = DRAFT.replace(
        r"(?P<inv>\d+) approved \(trace", r"(?P<inv>\d+) (?P<status>approved|declined) \(trace"
    ).replace('tags = ["Quill"]\n', 'tags = ["Quill"]\n\n[values]\nstatus = { approved = "APPROVED" }\n')
    draft = tmp_path / "quill_draft.toml"
    draft.write_text(mapped, encoding="utf-8")
    report = check_dialect(draft, [quill_log])
    declined = sum(bool(re.match(r"\[Txn\] Invoice \d+ declined", m)) for m in _messages(quill_log))
    assert declined and report.outside == {("status", "txn.result", "declined"): declined}
    text = report.to_text()
    assert re.search(rf"status\s+txn\.result\s+declined\s+{declined}\b", text)


@pytest.mark.parametrize("vendor", ["orbit", "quill"])
def test_a_shipped_vendor_dialect_covers_its_simulated_logs(tmp_path: Path, vendor: str) -> None:
    """Every app line of the vendor's simulated logs maps to a kind by its own dialect: nothing unmatched,
    no value outside the maps; the lines left are the system's (kernel, healthd) and other apps'."""
    case = simulate("dup_migration_saf_late", 5, vendor=vendor)
    case.write(tmp_path)
    logs = [tmp_path / d["file"] for d in case.truth["devices"]]
    file = ROOT / "forensics" / "dialects" / f"{vendor}.toml"
    report = check_dialect(file, logs)
    assert report.unmatched == [] and report.outside == {} and report.mapped_by_others == {}
    kinds = {kind for _, kind in report.mapped}
    assert {"txn.start", "txn.card", "txn.result", "iso.tx", "iso.rx", "saf.queued", "tms.device"} <= kinds
    assert sum(report.mapped.values()) > 100
    assert not set(report.unowned) & {"TxnEngine", "Quill", "quilld", "HostLink-1"}


def test_the_guide_shows_what_the_check_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/dialects.md's example: its draft, its commands and the output quoted; the shipped quill.toml
    leaves nothing unmatched on the same log."""
    monkeypatch.chdir(tmp_path)
    Path("quill_draft.toml").write_text(DRAFT, encoding="utf-8")
    runner = CliRunner()
    command = re.search(r"```sh\n(forensics simulate [^\n]*)\n(forensics dialect check [^\n]*)\n```", GUIDE)
    assert command is not None
    for line in command.groups():
        result = runner.invoke(cli, line.split()[1:])
        assert result.exit_code == 0, result.output
    assert result.stdout == _block("quill_draft check")
    shipped = check_dialect(ROOT / "forensics" / "dialects" / "quill.toml", ["quill-day/A920-0007.log"])
    assert shipped.unmatched == [] and shipped.outside == {} and sum(shipped.mapped.values()) == 2958
