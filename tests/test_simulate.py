"""The simulator: reproducible, parseable, truthful about its transactions, and silent on causes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import forensics
from forensics.cli import cli
from forensics.simulate import FAMILIES, build_library, simulate, simulate_volume
from forensics.simulate.world import TEST_BINS
from tests.conftest import SAMPLES

# Words no terminal or host writes: causes, finding kinds, verdicts (spec section 5).
_LEAKS = re.compile(r"duplicat|migrat|operator[ _]error|hardware[ _]fault|software[ _]bug|sync[ _]delay|"
                    r"network_timeout|host_error|charged_but|misrouted|ledger_mismatch|refund_error|deposit_error|"
                    r"amount_mismatch|root cause", re.IGNORECASE)


def _logs(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))


def _case(tmp_path: Path, family: str, seed: int) -> tuple[Path, dict]:
    case = simulate(family, seed)
    folder = tmp_path / f"{family}-{seed}"
    case.write(folder)
    return folder, case.truth


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_parses_and_its_truth_is_in_the_logs(tmp_path: Path, family: str) -> None:
    folder, truth = _case(tmp_path, family, 7)
    loaded = forensics.load(_logs(folder))
    got = {(Path(p).name, line) for p, line in loaded.unparsed.select("path", "line").iter_rows()}
    assert got == {(m["file"], m["line"]) for m in truth["malformed"]}
    assert (FAMILIES[family].kind is None) == (truth["findings"] == [])
    events = loaded.events
    for f in truth["findings"]:
        assert (f["kind"], f["cause"]) == (FAMILIES[family].kind, FAMILIES[family].cause)
        assert f["transactions"], f
        for key in f["transactions"]:
            on_device = events.filter(pl.col("device") == key["device"], pl.col("stan") == key["stan"],
                                      pl.col("kind").is_in(["iso.tx", "txn.result", "saf.queued"]))
            assert on_device.height, key
            assert events.filter(pl.col("device") == key["device"], pl.col("inv") == key["inv"]).height, key
            if key["rrn"]:
                assert events.filter(pl.col("rrn") == key["rrn"]).height, key


@pytest.mark.parametrize("family", list(FAMILIES))
def test_logs_name_no_cause_and_use_test_cards_only(tmp_path: Path, family: str) -> None:
    folder, _ = _case(tmp_path, family, 11)
    for path in _logs(folder):
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
        leak = _LEAKS.search(text)
        assert leak is None, f"{path}: {leak.group(0) if leak else ''}"
        for pan in re.findall(r"(?<![\d])(\d{6})[*_]{5,6}\d{4}", text):
            assert pan in TEST_BINS


def test_same_seed_same_bytes_through_the_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    for out in ("a", "b"):
        result = runner.invoke(cli, ["simulate", "--family", "dup_migration_rerun", "--seed", "5", "-o", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert a == b and len(a) >= 5
    other = simulate("dup_migration_rerun", 6).files
    assert other["truth.json"] != a["truth.json"]


def test_list_names_every_family() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--list"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.splitlines()]
    assert listed == list(FAMILIES)


def test_families_cover_every_finding_kind_and_cause() -> None:
    kinds = {f.kind for f in FAMILIES.values() if f.kind}
    causes = {f.cause for f in FAMILIES.values() if f.cause}
    assert kinds == {"duplicate_charge", "amount_mismatch", "refund_error", "deposit_error", "charged_but_declined",
                     "misrouted_funds", "ledger_mismatch"}
    assert causes == {"hardware_fault", "software_bug", "operator_error", "migration_sync_delay", "network_timeout",
                      "host_error"}
    assert sum(f.kind is None for f in FAMILIES.values()) >= 4


def test_variation_across_seeds() -> None:
    truths = [simulate("clean_day", seed).truth for seed in range(12)]
    assert len({t["currency"] for t in truths}) >= 3
    assert len({t["devices"][0]["tz"] for t in truths}) >= 3
    assert len({t["devices"][0]["format"] for t in truths}) == 2
    assert len({t["devices"][0]["skew_s"] for t in truths}) == 12


def test_volume_mode_line_count() -> None:
    case = simulate_volume(5000, 2, android=False)
    log = next(name for name in case.files if name.startswith("V400"))
    assert case.files[log].count(b"\n") == 5000


def test_shipped_library_is_the_simulators_output(tmp_path: Path) -> None:
    (tmp_path / "catalog.toml").write_bytes((SAMPLES / "catalog.toml").read_bytes())
    rebuilt = build_library(tmp_path)
    assert len(rebuilt) >= 16
    incidents = 0
    for folder in rebuilt:
        shipped = SAMPLES / folder.name
        for path in folder.iterdir():
            assert (shipped / path.name).read_bytes() == path.read_bytes(), path
        assert sum(p.stat().st_size for p in shipped.iterdir()) < 1_000_000
        incidents += bool(json.loads((folder / "truth.json").read_text())["findings"])
    assert incidents >= 14
