"""Timelines: every sample's truth transactions rebuilt with keys, amounts and outcomes; clocks."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from forensics.analysis import timeline
from forensics.cli import cli
from forensics.report import timesketch
from forensics.timeline import Timeline
from tests.conftest import SAMPLES

INCIDENTS = sorted(p.parent for p in SAMPLES.glob("*/truth.json"))


def case_timeline(folder: Path) -> tuple[Timeline, dict]:
    truth = json.loads((folder / "truth.json").read_text())
    paths = sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))
    zones = {str(folder / d["file"]): d["tz"] for d in truth["devices"]}
    return timeline(paths, tz=zones), truth


@pytest.mark.slow
@pytest.mark.parametrize("folder", INCIDENTS, ids=lambda p: p.name)
def test_truth_transactions_are_rebuilt(folder: Path) -> None:
    tl, truth = case_timeline(folder)
    txns = tl.transactions
    for finding in truth["findings"]:
        for want in finding["transactions"]:
            rows = txns.filter(
                pl.col("device") == want["device"], pl.col("stan") == want["stan"], pl.col("inv") == want["inv"]
            )
            assert rows.height == 1, want
            got = rows.row(0, named=True)
            assert (got["tid"], got["rrn"], got["auth"]) == (want["tid"], want["rrn"], want["auth"]), want
            assert got["txn_type"] == want["type"]
            exp = got["exponent"]
            assert got["amount_entered"] / 10**exp == pytest.approx(float(want["amount_entered"])), want
            assert got["merchant_outcome"] == want["merchant_outcome"], want
            assert got["host_outcome"] == want["host_outcome"], want
            assert got["cleared_count"] == want["cleared"], want


def _true_skew(device: dict, at: datetime) -> float:
    return device["skew_s"] + sum(s["step_s"] for s in device["clock_steps"] if datetime.fromisoformat(s["at"]) <= at)


@pytest.mark.slow
@pytest.mark.parametrize("folder", INCIDENTS, ids=lambda p: p.name)
def test_skew_within_one_second_in_every_clock_segment(folder: Path) -> None:
    tl, truth = case_timeline(folder)
    for d in truth["devices"]:
        assert tl.devices.filter(pl.col("device") == d["serial"]).height == 1
        segments = (
            tl.events.filter(pl.col("device") == d["serial"], pl.col("segment").is_not_null())
            .group_by("segment")
            .agg(pl.col("ts_utc").median().alias("mid"), pl.len().alias("n"))
        )
        checked = 0
        for seg in segments.filter(pl.col("n") > 20).iter_rows(named=True):
            clock = tl.clocks.filter(pl.col("device") == d["serial"], pl.col("segment") == seg["segment"])
            if clock["source"][0].startswith("none"):
                continue
            want = _true_skew(d, seg["mid"])
            assert abs(clock["skew_s"][0] - want) < 1.0, (d["serial"], seg["segment"], clock["skew_s"][0], want)
            checked += 1
        assert checked or not d["file"], d


def test_migration_is_detected_without_being_told() -> None:
    tl, _ = case_timeline(SAMPLES / "dup_migration_rerun")
    devs = tl.devices.sort("first_seen")
    assert devs.height == 2 and devs["tid"].n_unique() == 1
    assert devs["role"].to_list() == [
        "replaced (older device on a shared TID)",
        "replacement (newer device on a shared TID)",
    ]
    assert devs["counter_resets"][1] >= 1


def test_filters() -> None:
    tl, truth = case_timeline(SAMPLES / "dup_paper_out_rerun")
    first = truth["findings"][0]["transactions"][0]
    assert tl.filter(inv=first["inv"]).transactions["stan"].to_list() == [first["stan"]]
    card = tl.filter(inv=first["inv"]).transactions["card"][0]
    assert tl.filter(card=card[-4:]).transactions.height >= 2
    assert tl.filter(tid="nope").transactions.height == 0


def test_timesketch_rows_have_the_required_fields() -> None:
    tl, _ = case_timeline(SAMPLES / "dup_crash_rerun")
    text = timesketch.write(tl)
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == tl.events.filter(pl.col("ts_utc").is_not_null()).height
    for row in rows[:200]:
        for field in timesketch.REQUIRED:
            assert isinstance(row[field], str) and row[field]
        assert row["datetime"].endswith("+00:00") and "T" in row["datetime"]


@pytest.mark.parametrize(
    "folder",
    [SAMPLES / "dup_paper_out_rerun", SAMPLES / "dup_crash_rerun", SAMPLES / "cbd_power_loss"],
    ids=lambda p: p.name,
)
def test_single_device_view_tells_the_story_on_one_screen(folder: Path) -> None:
    truth = json.loads((folder / "truth.json").read_text())
    device_log = folder / truth["devices"][0]["file"]
    result = CliRunner().invoke(cli, ["timeline", str(device_log)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) <= 60
    for txn in truth["findings"][0]["transactions"]:
        assert f"inv {txn['inv']} stan {txn['stan']}" in result.output
    assert "\x1b[" not in result.output  # no colour when not a terminal


@pytest.mark.slow
def test_cli_formats(tmp_path: Path) -> None:
    folder = SAMPLES / "dup_clear_reversal"
    logs = sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))
    runner = CliRunner()
    for fmt in ("json", "csv", "parquet", "timesketch"):
        out = tmp_path / f"t.{fmt}"
        result = runner.invoke(cli, ["timeline", *logs, "--format", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
    assert pl.read_parquet(tmp_path / "t.parquet").height > 10
    bad = runner.invoke(cli, ["timeline", logs[0], "--since", "yesterday"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output


def test_crash_after_the_outcome_is_not_in_flight() -> None:
    tour = SAMPLES / "tour"
    tl = timeline(sorted(str(p) for p in tour.iterdir() if p.suffix in (".log", ".csv")))
    preauth = tl.transactions.filter(pl.col("txn_type") == "PREAUTH").row(0, named=True)
    assert preauth["merchant_outcome"] == "APPROVED"
    assert not {"crash_in_flight", "power_lost_in_flight", "reversal_pending"} & set(preauth["flags"])


@pytest.mark.parametrize("log", sorted(SAMPLES.glob("*/[AV]*.log")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_device_view_fits_one_screen(log: Path) -> None:
    result = CliRunner().invoke(cli, ["timeline", str(log)])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) <= 60


def test_device_view_of_transactions_without_type_or_outcome(tmp_path: Path) -> None:
    """A log whose START lines lost their type= (a mangled or foreign log) still renders, --all too."""
    log = tmp_path / "mangled.log"
    text = (SAMPLES / "tour" / "V400-0017.log").read_text(encoding="utf-8", errors="replace")
    log.write_text(text.replace(" type=", " typ=").replace(" status=", " stat="), encoding="utf-8")
    tl = timeline([str(log)])
    assert tl.transactions.height and tl.transactions["txn_type"].is_null().all()
    for args in ([], ["--all"]):
        result = CliRunner().invoke(cli, ["timeline", str(log), *args])
        assert result.exit_code == 0, result.output


def test_mark_a_start_logged_twice_opens_one_attempt_in_any_file() -> None:
    """A START repeating the line before it in its own file opens no attempt, whichever file comes first and
    however the files' lines interleave; the same START text in another file does."""
    from forensics.timeline import mark

    start = "TransProcess: START type=SALE inv=000001"
    rows = [
        ("host.log", "host", "host.rx", "0200 request"),
        ("b.log", "terminal", "txn.start", start),
        ("a.log", "terminal", "txn.start", start),
        ("b.log", "terminal", "txn.start", start),  # b.log's line written twice
        ("a.log", "terminal", "txn.result", "APPROVED"),
        ("a.log", "terminal", "txn.start", start),  # not the line before it in a.log: a new attempt
        ("b.log", "terminal", "txn.start", "TransProcess: START type=SALE inv=000002"),
    ]
    events = pl.DataFrame(rows, schema=["path", "role", "kind", "text"], orient="row")
    marked = mark(events)
    assert marked["attempt"].to_list() == [None, 1, 1, 1, 1, 2, 2]


@pytest.mark.parametrize("seed", range(6))
def test_mark_numbers_each_file_alone_whether_its_lines_come_together_or_not(seed: int) -> None:
    """Segments and attempts count within each file: the same whether the files' rows come one file after the
    other (as ingest gives them) or interleaved, and the same as each file marked on its own."""
    import random

    from forensics.timeline import mark

    rng = random.Random(seed)
    kinds = ["txn.start", "txn.result", "clock.step", "power.boot", "iso.tx", "txn.start", "log.divider", None]
    paths = ["a.log", "b.log", "c.log"]
    picks = [(rng.choice([*paths, "host.log"]), rng.choice(kinds)) for _ in range(300)]
    # each file opens and ends with the same START: the line before a file's first is another file's
    picks = [(p, "txn.start") for p in paths] + picks + [(p, "txn.start") for p in paths]
    picks[:0] = [("a.log", None), ("c.log", None)] if seed % 2 else []  # files whose first row has no kind
    rows = [
        (path, "host" if path == "host.log" else "terminal", kind, f"{kind} {n % 3 if 2 < n < 303 else 0}", n)
        for n, (path, kind) in enumerate(picks)
    ]
    interleaved = pl.DataFrame(rows, schema=["path", "role", "kind", "text", "n"], orient="row")
    together = interleaved.sort("path", maintain_order=True)
    alone = pl.concat([mark(part) for part in together.partition_by("path", maintain_order=True)])
    for frame in (interleaved, together):
        marked = mark(frame).sort("n")
        assert marked.select("segment", "attempt").equals(alone.sort("n").select("segment", "attempt"))
    assert alone["attempt"].max() > 5 and alone["segment"].max() > 5


def test_build_puts_back_the_columns_it_does_not_read_in_its_own_order(tmp_path: Path) -> None:
    """A rotated log given newer file first: the build sorts its events by stream and line, and the columns
    it leaves out of its work (``text``, ``message``...) come back with their own rows, in the input's order."""
    import forensics
    from forensics.timeline import build

    older = tmp_path / "AB1-0001.log.1"
    older.write_text(
        "01-05 08:00:00.000  1  1 I TMS     : device serial=AB1-0001 tid=T1 mid=M1\n"
        "01-05 08:00:05.000  1  2 I TransProcess: START type=SALE inv=000001\n"
        "01-05 08:00:06.000  1  2 I healthd : battery l=65\n"
    )
    newer = tmp_path / "AB1-0001.log"
    newer.write_text(
        "01-05 08:01:00.000  1  2 I TransProcess: RESULT status=APPROVED inv=000001 stan=000007 rc=00\n"
        "01-05 08:02:00.000  1  2 I healthd : battery l=64\n"
    )
    loaded = forensics.load([str(newer), str(older)])
    tl = build(loaded)
    given = loaded.events
    assert tl.events["path"].to_list()[:1] == [str(older)]  # sorted by stream: the older file first
    assert tl.events.columns[: given.width] == given.columns
    assert set(tl.events.columns[given.width :]) == {"segment", "attempt", "skew_s", "ts_utc", "ts_inferred"} | {
        "txn",
        "stream",
        "seq",
    }
    back = tl.events.select(given.columns).sort("path", "line")
    assert back.equals(given.sort("path", "line").with_columns(line_end=back["line_end"]))  # line_end: stream's
    assert tl.events.filter(pl.col("kind") == "txn.result")["txn"].to_list() == ["AB1-0001:2"]
