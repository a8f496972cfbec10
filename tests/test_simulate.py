"""The simulator: reproducible, parseable, truthful about its transactions, and silent on causes."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import forensics
from forensics.cli import cli
from forensics.diagnosis.kinds import kinds as finding_kinds
from forensics.diagnosis.rules import CAUSES
from forensics.simulate import FAMILIES, HELD_OUT_SEED, INPUT_SETS, build_library, simulate, simulate_volume
from forensics.simulate.world import TEST_BINS
from tests.conftest import SAMPLES

ROOT = Path(__file__).resolve().parents[1]

# Words no terminal or host writes: causes, finding kinds, verdicts (spec section 5).
_LEAKS = re.compile(
    r"duplicat|migrat|operator[ _]error|hardware[ _]fault|software[ _]bug|sync[ _]delay|"
    r"network_timeout|host_error|charged_but|misrouted|ledger_mismatch|refund_error|deposit_error|"
    r"amount_mismatch|root cause",
    re.IGNORECASE,
)


def _logs(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))


def _case(tmp_path: Path, family: str, seed: int) -> tuple[Path, dict]:
    case = simulate(family, seed)
    folder = tmp_path / f"{family}-{seed}"
    case.write(folder)
    return folder, case.truth


def _roles(names: list[str]) -> set[str]:
    """The input roles a case's file names give besides the terminal logs."""
    return ({"host"} if "acquirer-host.log" in names else set()) | (
        {"settlement"} if any(n.startswith("settlement-") for n in names) else set()
    )


def _check_truth(family: str, truth: dict) -> None:
    """Findings are well-formed, named after registered families, and kept exactly when evidenced."""
    every = truth["findings"] + truth.get("unsupported", [])
    assert (FAMILIES[family].kind is None) == (every == [])
    assert FAMILIES[family].kind is None or any(f["mechanism"] == family for f in every)
    given = _roles(truth["inputs"])
    for f in every:
        mech = FAMILIES[f["mechanism"]]
        assert (f["kind"], f["cause"], f["contributing"]) == (mech.kind, mech.cause, list(mech.contributing))
        assert f["transactions"] and f["needs"] == [list(n) for n in mech.needs], f
        assert re.fullmatch(r"-?\d+(\.\d+)?", f["amount"]) and f["currency"] == truth["currency"]
        assert f["devices"] == sorted({t["device"] for t in f["transactions"]})
        assert (f in truth["findings"]) == any(set(n) <= given for n in f["needs"]), f


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_parses_and_its_truth_is_in_the_logs(tmp_path: Path, family: str) -> None:
    folder, truth = _case(tmp_path, family, 7)
    assert truth["inputs"] == sorted(p.name for p in folder.iterdir() if p.name not in ("truth.json", "README.md"))
    loaded = forensics.load(_logs(folder))
    got = {(Path(p).name, line) for p, line in loaded.unparsed.select("path", "line").iter_rows()}
    assert got == {(m["file"], m["line"]) for m in truth["malformed"]}
    _check_truth(family, truth)
    events = loaded.events
    for f in truth["findings"]:
        for key in f["transactions"]:
            on_device = events.filter(
                pl.col("device") == key["device"],
                pl.col("stan") == key["stan"],
                pl.col("kind").is_in(["iso.tx", "txn.result", "saf.queued"]),
            )
            assert on_device.height, key
            assert events.filter(pl.col("device") == key["device"], pl.col("inv") == key["inv"]).height, key
            if key["rrn"] and key["cleared"] and "settlement" in _roles(truth["inputs"]):
                assert events.filter(pl.col("rrn") == key["rrn"]).height, key


@pytest.mark.slow
@pytest.mark.parametrize("family", [f for f, fam in FAMILIES.items() if not fam.wide])
def test_first_families_hold_in_a_wide_world(tmp_path: Path, family: str) -> None:
    case = simulate(family, 13, wide=True, inputs="seeded")
    case.write(tmp_path)
    loaded = forensics.load(_logs(tmp_path))
    got = {(Path(p).name, line) for p, line in loaded.unparsed.select("path", "line").iter_rows()}
    assert got == {(m["file"], m["line"]) for m in case.truth["malformed"]}
    _check_truth(family, case.truth)
    assert case.files != simulate(family, 13, inputs="seeded").files


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_input_set_lists_its_files_and_keeps_what_they_evidence(family: str) -> None:
    full = simulate(family, 3, messy=False, inputs="all")
    for roles in INPUT_SETS:
        case = simulate(family, 3, messy=False, inputs=roles)
        names = sorted(n for n in case.files if n not in ("truth.json", "README.md"))
        assert case.truth["inputs"] == names and _roles(names) == set(roles)
        assert all(case.files[n] == full.files[n] for n in names), "the choice of inputs must not change the logs"
        _check_truth(family, case.truth)
        every = case.truth["findings"] + case.truth.get("unsupported", [])
        if "settlement" not in roles:  # without a settlement file whether an item cleared is unknown
            assert all(t["cleared"] is None for f in every for t in f["transactions"])
            every = [{**f, "transactions": [{**t, "cleared": "?"} for t in f["transactions"]]} for f in every]
            full_findings = [
                {**f, "transactions": [{**t, "cleared": "?"} for t in f["transactions"]]}
                for f in full.truth["findings"]
            ]
        else:
            full_findings = full.truth["findings"]
        assert sorted(map(json.dumps, every)) == sorted(map(json.dumps, full_findings))
    with pytest.raises(ValueError, match="unknown input roles"):
        simulate(family, 3, inputs=["terminal", "clearing"])


def test_cli_gives_the_inputs_asked_for(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "simulate",
            "--family",
            "cbd_crash",
            "--seed",
            "4",
            "--inputs",
            "terminal,settlement",
            "--wide",
            "-o",
            str(tmp_path / "a"),
        ],
    )
    assert result.exit_code == 0, result.output
    truth = json.loads((tmp_path / "a" / "truth.json").read_text())
    assert _roles(truth["inputs"]) == {"settlement"} and truth["findings"]
    result = runner.invoke(
        cli, ["simulate", "--family", "cbd_crash", "--inputs", "terminal", "-o", str(tmp_path / "b")]
    )
    truth = json.loads((tmp_path / "b" / "truth.json").read_text())
    assert result.exit_code == 0 and truth["findings"] == [] and truth["unsupported"]
    result = runner.invoke(cli, ["simulate", "--family", "cbd_crash", "--inputs", "hots", "-o", str(tmp_path / "c")])
    assert result.exit_code == 2 and "unknown input roles ['hots']" in result.output


def test_seeded_inputs_vary_towards_all_three() -> None:
    drawn = [tuple(sorted(_roles(simulate("lookalike_day", seed, messy=False).truth["inputs"]))) for seed in range(40)]
    counts = {roles: drawn.count(roles) for roles in set(drawn)}
    assert set(counts) == {tuple(sorted(r)) for r in INPUT_SETS}
    assert max(counts, key=counts.__getitem__) == ("host", "settlement")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_logs_name_no_cause_and_use_test_cards_only(tmp_path: Path, family: str) -> None:
    folder, _ = _case(tmp_path, family, 11)
    for path in _logs(folder):
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
        leak = _LEAKS.search(text)
        assert leak is None, f"{path}: {leak.group(0) if leak else ''}"
        for pan in re.findall(r"(?<![\d])(\d{6})[*_]{5,6}\d{4}", text):
            assert pan in TEST_BINS


@pytest.mark.parametrize("family", ["dup_migration_rerun", next(f for f in FAMILIES if FAMILIES[f].wide)])
def test_same_seed_same_bytes_through_the_cli(tmp_path: Path, family: str) -> None:
    runner = CliRunner()
    for out in ("a", "b"):
        result = runner.invoke(cli, ["simulate", "--family", family, "--seed", "5", "-o", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert a == b and len(a) >= 3
    other = simulate(family, 6).files
    assert other["truth.json"] != a["truth.json"]


def test_list_names_every_family() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--list"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.splitlines()]
    assert listed == list(FAMILIES)
    second_column = {len(line) - len(line[len(line.split()[0]) :].lstrip()) for line in result.output.splitlines()}
    assert len(second_column) == 1, "the verdicts line up"


def test_families_cover_every_finding_kind_and_cause() -> None:
    kinds = {f.kind for f in FAMILIES.values() if f.kind}
    causes = {f.cause for f in FAMILIES.values() if f.cause}
    assert kinds == set(finding_kinds())
    assert causes == set(CAUSES) - {"undetermined"}
    assert sum(f.kind is None for f in FAMILIES.values()) >= 4


def test_held_out_seeds_stay_out_of_rule_examples_and_samples() -> None:
    seeds: list[int] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            seeds.extend(v for k, v in node.items() if k == "seed" and isinstance(v, int))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in sorted((ROOT / "forensics" / "rules").glob("*.toml")):
        walk(tomllib.loads(path.read_text(encoding="utf-8")))
    assert seeds and max(seeds) < HELD_OUT_SEED
    catalog = tomllib.loads((SAMPLES / "catalog.toml").read_text(encoding="utf-8"))
    assert max(entry["seed"] for entry in catalog["case"]) < 1000


@pytest.mark.slow
def test_wide_world_has_the_noise_and_timings_of_real_shops() -> None:
    wide = [f for f, fam in FAMILIES.items() if fam.wide]
    logs = b""
    timeouts, skews = set(), []
    for i in range(24):
        case = simulate(wide[i % len(wide)], 400 + i, inputs="all")
        logs += b"".join(data for name, data in case.files.items() if name.endswith(".log") and name[0] != "a")
        skews += [abs(d["skew_s"]) for d in case.truth["devices"]]
        timeouts |= set(re.findall(rb"waited_ms=(\d+)", b"".join(case.files.values())))
    for needle in (
        b"\r\n",
        b"rc=95",
        b"UPLOAD stan=",
        b"CANCEL inv=",
        b"PIN entered",
        b"RX 0410 DE11=",
        b"DE39=25",
        b"CONNECT host=acq1 fail",
        b"type=TIP_ADJUST",
        b"type=PREAUTH_COMPLETE",
        b"Reprint Last",
        b"DE11=000001 ",
    ):
        assert needle in logs, needle
    assert len(timeouts) >= 3 and max(skews) > 600
    steps = [
        s["step_s"]
        for case in (simulate(f, 400 + i).truth for i, f in enumerate(wide * 3))
        for d in case["devices"]
        for s in d["clock_steps"]
    ]
    assert min(steps) < -20 * 365 * 86400, "an RTC reset to 2000-01-01"


def test_variation_across_seeds() -> None:
    truths = [simulate("clean_day", seed).truth for seed in range(12)]
    assert len({t["currency"] for t in truths}) >= 3
    assert len({t["devices"][0]["tz"] for t in truths}) >= 3
    assert len({t["devices"][0]["format"] for t in truths}) == 2
    assert len({t["devices"][0]["skew_s"] for t in truths}) == 12


@pytest.mark.slow
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
        shipped = SAMPLES / folder.relative_to(tmp_path)
        for path in folder.iterdir():
            assert (shipped / path.name).read_bytes() == path.read_bytes(), path
        assert sum(p.stat().st_size for p in shipped.iterdir()) < 1_000_000
        incidents += bool(json.loads((folder / "truth.json").read_text())["findings"])
    assert incidents >= 14
