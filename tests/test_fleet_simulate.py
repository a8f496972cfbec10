"""The simulated fleet: distinct identifiers across merchants, one time-ordered host log, daily clearing
files, the model on the identity line, the incidents' own truth, the same bytes from a seed."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import forensics
from forensics.analysis import diagnose
from forensics.cli import cli
from forensics.simulate.fleet import simulate_fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("fleet") / "f"
    truth = simulate_fleet(out, 8, seed=5, days=2, incidents=3)
    return out, truth


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_counts(fleet: tuple[Path, dict]) -> None:
    root, truth = fleet
    f = truth["fleet"]
    assert f["merchants"] == 8 and f["terminals"] == len(truth["devices"]) > 8  # several lanes on some
    assert sorted(truth["inputs"]) == sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.suffix in (".log", ".csv")
    )
    assert not (root / ".chunks").exists()
    lines = sum((root / d["file"]).read_bytes().count(b"\n") for d in truth["devices"])
    assert lines == f["terminal_lines"]
    host = (root / "host/acquirer-host.log").read_text()
    assert host.count("<log ") == f["host_blocks"]
    rows = sum(len(p.read_text().splitlines()) - 1 for p in (root / "settlement").glob("*.csv"))
    assert rows == f["clearing_rows"] > 0
    assert len(truth["settlement"]) >= 2  # a clearing file per day
    assert {d["format"] for d in truth["devices"]} == {"logcat", "syslog"}
    assert json.loads((root / "truth.json").read_text()) == truth


def test_identifiers_distinct_across_merchants(fleet: tuple[Path, dict]) -> None:
    root, truth = fleet
    for key in ("serial", "tid", "mid"):
        owners: dict[str, set[int]] = {}
        for d in truth["devices"]:
            owners.setdefault(d[key], set()).add(d["merchant"])
        assert all(len(m) == 1 for m in owners.values()), key
    serials = Counter(d["serial"] for d in truth["devices"])
    assert max(serials.values()) == 1
    host = (root / "host/acquirer-host.log").read_text()
    rrn_tids: dict[str, set[str]] = {}
    for block in host.split("</log>"):
        tid = re.search(r'field id="41" value="(\S+?)\s*"', block)
        for rrn in re.findall(r'field id="37" value="(\d+)"', block):
            rrn_tids.setdefault(rrn, set()).add(tid.group(1) if tid else "")
    merchants = {d["tid"]: d["merchant"] for d in truth["devices"]}
    assert rrn_tids and all(len({merchants[t] for t in tids}) == 1 for tids in rrn_tids.values())


def test_host_log_in_time_order_and_covers_every_merchant(fleet: tuple[Path, dict]) -> None:
    root, truth = fleet
    host = (root / "host/acquirer-host.log").read_text()
    stamps = re.findall(r'<log realm="[^"]+" at="([^"]+)"', host)
    assert stamps == sorted(stamps)
    tids = set(re.findall(r'field id="41" value="(\S+?)\s*"', host))
    assert {d["tid"] for d in truth["devices"]} <= tids


def test_model_is_logged_and_parsed(fleet: tuple[Path, dict]) -> None:
    root, truth = fleet
    dev = truth["devices"][0]
    loaded = forensics.load([root / dev["file"]])
    identity = loaded.events.filter(kind="tms.device")
    assert identity.height >= 1
    assert json.loads(identity["attrs"][0]) == {"model": dev["model"]}
    assert identity["serial"][0] == dev["serial"] and identity["app_version"][0] == dev["app"]


def test_incidents_carry_their_familys_truth(fleet: tuple[Path, dict]) -> None:
    _, truth = fleet
    assert len(truth["fleet"]["incidents"]) == 3
    assert truth["findings"], "incident families with a finding kind"
    from forensics.simulate.families import FAMILIES

    for merchant, family in truth["fleet"]["incidents"].items():
        own = {(f["kind"], f["cause"]) for f in truth["findings"] if f["merchant"] == int(merchant)}
        assert (FAMILIES[family].kind, FAMILIES[family].cause) in own  # a wide family may add a second incident
    for f in truth["findings"]:
        assert truth["fleet"]["incidents"][str(f["merchant"])] == f["family"]
        merchant_tids = {d["tid"] for d in truth["devices"] if d["merchant"] == f["merchant"]}
        assert {t["tid"] for t in f["transactions"]} <= merchant_tids


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path, fleet: tuple[Path, dict]) -> None:
    root, _ = fleet
    simulate_fleet(tmp_path / "again", 8, seed=5, days=2, incidents=3, workers=2)
    assert _files(tmp_path / "again") == _files(root)
    simulate_fleet(tmp_path / "other", 8, seed=6, days=2, incidents=3)
    assert _files(tmp_path / "other") != _files(root)


def test_refuses_a_folder_in_use_and_bad_sizes(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "evidence.log").write_text("x\n")
    with pytest.raises(FileExistsError):
        simulate_fleet(tmp_path / "used", 2)
    assert (tmp_path / "used" / "evidence.log").read_text() == "x\n"
    with pytest.raises(ValueError):
        simulate_fleet(tmp_path / "a", 0)
    with pytest.raises(ValueError):
        simulate_fleet(tmp_path / "b", 2, incidents=3)


def test_cli_fleet(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["simulate", "--fleet", "3", "--days", "1", "--seed", "2", "-o", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    assert "3 merchants" in result.output
    assert (tmp_path / "f" / "truth.json").exists()
    again = runner.invoke(cli, ["simulate", "--fleet", "3", "-o", str(tmp_path / "f")])
    assert again.exit_code == 2 and "not empty" in again.output


@pytest.mark.slow
def test_diagnosis_finds_the_injected_findings_and_nothing_else(fleet: tuple[Path, dict]) -> None:
    root, truth = fleet
    result = diagnose([root / name for name in truth["inputs"]])
    found = {(f["kind"], f["cause"], t["rrn"]) for f in result.document()["findings"] for t in f["transactions"]}
    for f in truth["findings"]:
        keys = {(f["kind"], f["cause"], t["rrn"]) for t in f["transactions"] if t["rrn"]}
        assert keys & found, f["family"]
    assert len(result.findings) == len(truth["findings"])


@pytest.mark.slow
def test_a_sweep_of_the_fleet_finds_the_injected_findings_and_writes_the_summary(
    fleet: tuple[Path, dict], tmp_path: Path
) -> None:
    from forensics.fleet.sweep import sweep

    root, truth = fleet
    done = sweep([root / "terminals", root / "host", root / "settlement"], tmp_path / "out", workers=1)
    found = {(row["kind"], row["cause"], t["rrn"]) for row in done.findings.iter_rows(named=True)
             for t in json.loads(row["finding"])["transactions"]}  # fmt: skip
    for f in truth["findings"]:
        assert {(f["kind"], f["cause"], t["rrn"]) for t in f["transactions"] if t["rrn"]} & found, f["family"]
    assert done.findings.height == len(truth["findings"])
    models = dict(done.devices.select("device", "model").iter_rows())
    assert models == {d["serial"]: d["model"] for d in truth["devices"]}
    summary = tmp_path / "out" / "summary"
    assert (summary / "model.parquet").exists() and (summary / "findings_by_model.png").exists()
    assert pl.read_parquet(summary / "overview.parquet")["terminals"].item() == truth["fleet"]["terminals"]
    # reading the sweep back: lazy scans, a group's events, its timeline rebuilt gives the same finding
    from forensics.diagnosis import diagnose_timeline
    from forensics.fleet import read

    out = tmp_path / "out"
    assert read.scan(out, "findings").collect().equals(done.findings)
    first = done.findings.row(0, named=True)
    group_events = read.events(out, first["group"]).collect()
    assert group_events.height == done.groups.filter(group=first["group"])["events"].item()
    assert read.events(out).filter(pl.col("group") == first["group"]).collect().height == group_events.height
    again = diagnose_timeline(read.timeline(out, first["group"]))
    assert [f"{first['group']}/{f.id}" for f in again.findings] == done.findings.filter(group=first["group"])[
        "id"
    ].to_list()
    assert read.finding(out, first["id"])["summary"] == first["summary"]
    with pytest.raises(KeyError):
        read.events(out, "G-nonesuch")


def test_benchmark_scores_findings_per_merchant(fleet: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/fleet.py's scoring: the injected findings themselves score 100%; a finding on a clean
    merchant is a false positive of that merchant."""
    from tests.conftest import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from fleet import score  # type: ignore[import-not-found]

    _, truth = fleet
    perfect = [
        {"kind": f["kind"], "cause": f["cause"], "devices": f["devices"], "tid": f["tid"],
         "transactions": f["transactions"], "evidence": [{"line": 1}]}
        for f in truth["findings"]
    ]  # fmt: skip
    s = score(truth, {"findings": perfect}, 1.0).summary()
    assert (s["finding_recall"], s["finding_precision"], s["cause_accuracy"]) == (1.0, 1.0, 1.0)
    clean = next(d for d in truth["devices"] if str(d["merchant"]) not in truth["fleet"]["incidents"])
    spurious = {**perfect[0], "devices": [clean["serial"]], "tid": clean["tid"],
                "transactions": [{"device": clean["serial"], "stan": "000001", "rrn": None}]}  # fmt: skip
    board = score(truth, {"findings": [*perfect, spurious]}, 1.0)
    assert board.summary()["false_positives"] == 1
    assert [c.case for c in board.cases if c.false_positives] == [f"M{clean['merchant']:04d}"]
