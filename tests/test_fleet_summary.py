"""The fleet summary tables and charts, on frames built from per-case diagnose output (one group per case)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from matplotlib.image import imread

from forensics.fleet.summary import TABLES, device_models, summarize, write_tables
from forensics.report.fleet import write_charts
from forensics.simulate.fleet import simulate_fleet
from tests.conftest import SAMPLES
from tests.fleet_frames import case_dirs_frames, case_frames

CASES = ("dup_paper_out_rerun", "misrouted_wrong_mid", "clean_day", "amount_exponent_bug", "cbd_crash")


@pytest.fixture(scope="module")
def frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return case_dirs_frames({f"G-{name}": SAMPLES / name for name in CASES})


@pytest.fixture(scope="module")
def fleet_frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A three-merchant fleet, one merchant (its lanes, the host log and clearing files) per group."""
    root = tmp_path_factory.mktemp("fleet") / "f"
    truth = simulate_fleet(root, 3, seed=11, days=1, incidents=1)
    shared = [root / "host/acquirer-host.log", *(root / s for s in truth["settlement"])]
    parts = []
    for merchant in range(1, 4):
        lanes = [root / d["file"] for d in truth["devices"] if d["merchant"] == merchant]
        parts.append(case_frames(f"G-M{merchant}", lanes + shared, {}))
    return tuple(pl.concat([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def test_tables_of_sample_cases(frames: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    findings, devices, inputs = frames
    tables = summarize(findings, devices, inputs)
    assert tuple(tables) == TABLES
    overview = tables["overview"].row(0, named=True)
    assert overview["groups"] == len(CASES)
    assert overview["findings"] == findings.height >= 4
    assert overview["terminals"] == devices["device"].n_unique()
    assert overview["inputs"] == inputs.height
    kc = tables["kind_cause"]
    assert kc["findings"].sum() == findings.height
    dup = kc.filter(kind="duplicate_charge", cause="hardware_fault").row(0, named=True)
    assert dup["findings"] == 1 and dup["currency"] == "CNY" and dup["amount"] == 2528 and dup["exponent"] == 2
    # every day between the first and last terminal line is there, quiet days with 0
    days = tables["day_cause"]
    assert days["findings"].sum() == findings.height
    span = (devices["last_ts"].max().date() - devices["first_ts"].min().date()).days + 1
    assert days["day"].n_unique() == span and (days["findings"] == 0).any()
    assert set(days["cause"]) == set(findings["cause"])


def test_app_version_counts_terminals_and_findings(frames: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    findings, devices, inputs = frames
    versions = summarize(findings, devices, inputs)["app_version"]
    assert versions["terminals"].sum() == devices.height
    for row in versions.iter_rows(named=True):
        mine = devices.filter(pl.col("app_version").eq_missing(row["app_version"]))
        touched = findings.explode("devices").join(
            mine, left_on=["group", "devices"], right_on=["group", "device"], how="semi"
        )
        assert row["findings"] == touched["id"].n_unique()
        assert row["findings_per_100_terminals"] == pytest.approx(100 * row["findings"] / row["terminals"])


def test_a_finding_counts_once_per_version_among_its_devices() -> None:
    devices = pl.DataFrame(
        {"group": ["G1"] * 3, "device": ["OLD", "NEW", "OTHER"], "app_version": ["1.0", "2.0", None]}
    )
    findings = pl.DataFrame(
        {"group": ["G1", "G1"], "id": ["G1/F1", "G1/F2"], "devices": [["OLD", "NEW"], ["NEW"]]},
    )
    from forensics.fleet.summary import _by_device

    table = _by_device(findings, devices, "app_version")
    assert table.to_dicts() == [
        {"app_version": "1.0", "terminals": 1, "findings": 1, "terminals_with_findings": 1,
         "findings_per_100_terminals": 100.0},
        {"app_version": "2.0", "terminals": 1, "findings": 2, "terminals_with_findings": 1,
         "findings_per_100_terminals": 200.0},
        # the terminal that never logged its version stays unknown: not merged into a version, not dropped
        {"app_version": None, "terminals": 1, "findings": 0, "terminals_with_findings": 0,
         "findings_per_100_terminals": 0.0},
    ]  # fmt: skip


def test_models_come_from_the_identity_line(fleet_frames: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    findings, devices, inputs = fleet_frames
    assert devices["model"].null_count() == 0
    assert (devices["device"].str.split("-").list.first() == devices["model"]).all()
    models = summarize(findings, devices, inputs)["model"]
    assert models["terminals"].sum() == devices.height
    assert models["findings"].sum() >= 1


def test_device_models_takes_the_last_model_logged() -> None:
    events = pl.DataFrame(
        {
            "role": ["terminal", "terminal", "terminal", "host"],
            "kind": ["tms.device", "tms.device", "tms.device", "tms.device"],
            "device": ["A", "A", "B", "A"],
            "path": ["a.log", "a.log", "b.log", "h.log"],
            "line": [9, 2, 1, 1],
            "attrs": ['{"model":"A77"}', '{"model":"A920"}', '{"other":"x"}', '{"model":"HOST"}'],
        }
    )
    assert device_models(events).to_dicts() == [{"device": "A", "model": "A77"}]


def test_inputs_by_outcome() -> None:
    inputs = pl.DataFrame(
        {
            "path": ["a", "b", "c", "d"],
            "size": [10, 20, 30, 40],
            "format": ["logcat", "logcat", "jpos", None],
            "role": ["terminal", "terminal", "host", None],
            "lines": [5, 6, 7, 0],
            "parsed": [5, 4, 7, 0],
            "unparsed": [0, 2, 0, 0],
            "error": [None, None, None, "not readable: permission denied"],
        }
    )
    table = summarize(
        pl.DataFrame(schema={"group": pl.String, "id": pl.String, "kind": pl.String, "cause": pl.String,
                             "currency": pl.String, "amount": pl.Int64, "exponent": pl.Int8, "day": pl.Date,
                             "devices": pl.List(pl.String)}),
        pl.DataFrame(schema={"group": pl.String, "device": pl.String, "app_version": pl.String, "model": pl.String,
                             "events": pl.Int64, "first_ts": pl.Datetime("us", "UTC"),
                             "last_ts": pl.Datetime("us", "UTC")}),
        inputs,
    )["inputs"]  # fmt: skip
    assert table.select("format", "outcome", "files", "unparsed").rows() == [
        ("jpos", "parsed", 1, 0),
        ("logcat", "parsed", 1, 0),
        ("logcat", "partly unparsed", 1, 2),
        (None, "failed", 1, 0),
    ]


def test_no_findings_is_a_fleet_of_zeros_not_an_error(frames: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    findings, devices, inputs = frames
    tables = summarize(findings.clear(), devices, inputs)
    assert tables["overview"]["findings"].item() == 0
    assert tables["kind_cause"].is_empty()
    assert tables["app_version"]["findings"].sum() == 0
    assert tables["day_cause"]["findings"].sum() == 0 and tables["day_cause"]["day"].min() >= date(2026, 1, 1)


def test_lazy_frames_give_the_same_tables(frames: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    eager = summarize(*frames)
    lazy = summarize(*(f.lazy() for f in frames))
    for name in TABLES:
        assert lazy[name].equals(eager[name]), name


def test_tables_and_charts_written(frames: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], tmp_path: Path) -> None:
    tables = summarize(*frames)
    paths = write_tables(tables, tmp_path)
    assert [p.name for p in paths] == [f"{name}.parquet" for name in TABLES]
    assert pl.read_parquet(tmp_path / "kind_cause.parquet").equals(tables["kind_cause"])
    charts = write_charts(tables, tmp_path / "charts")
    assert {p.name for p in charts} == {
        "findings_by_cause_per_day.png",
        "findings_by_kind_and_cause.png",
        "findings_by_app_version.png",
        "findings_by_model.png",
        "inputs_by_format.png",
    }
    for path in charts:
        pixels = imread(path)
        assert pixels.shape[0] > 150 and pixels.shape[1] > 1000
    assert not list((tmp_path / "charts").glob(".*partial*"))


def test_charts_without_findings_leave_out_the_finding_charts(
    frames: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    findings, devices, inputs = frames
    charts = write_charts(summarize(findings.clear(), devices, inputs), tmp_path)
    assert [p.name for p in charts] == ["inputs_by_format.png"]


def test_every_outcome_and_cause_has_its_colour() -> None:
    from benchmarks.scoring import CAUSES
    from forensics.fleet.summary import OUTCOMES
    from forensics.report.fleet import CAUSE_COLOURS, OUTCOME_COLOURS

    assert tuple(OUTCOME_COLOURS) == OUTCOMES
    assert set(CAUSE_COLOURS) == set(CAUSES)


def test_day_span_ignores_a_few_clocks_far_off() -> None:
    from datetime import UTC, datetime

    from forensics.fleet.summary import _days

    start, end = datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 5, 20, tzinfo=UTC)
    devices = pl.DataFrame(
        {
            "first_ts": [start] * 9 + [datetime(2026, 1, 1, tzinfo=UTC)],  # an RTC reset read as New Year
            "last_ts": [end] * 9 + [datetime(2052, 5, 4, tzinfo=UTC)],
        }
    )
    findings = pl.DataFrame({"day": [date(2026, 3, 3)], "cause": ["host_error"]})
    days = _days(findings, devices)
    assert days["day"].to_list() == [date(2026, 3, d) for d in range(2, 6)]
    assert days["findings"].to_list() == [0, 1, 0, 0]
    # a finding on a day outside the span still has its day
    late = pl.DataFrame({"day": [date(2026, 3, 9)], "cause": ["host_error"]})
    assert _days(late, devices)["day"].max() == date(2026, 3, 9)
