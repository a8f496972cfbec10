"""Fleets: connected groups, a sweep of many cases on a local Dask cluster giving exactly the union of the
one-case findings, and group-by-group diagnosis giving what one whole build gives."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics
from forensics.analysis import diagnose_by_group, timeline_by_group
from forensics.analysis.groups import UNATTACHED, connect, identifiers, labels, one_site, site_mids
from forensics.diagnosis import diagnose_timeline
from forensics.fleet.sweep import discover, sweep
from forensics.ingest import Loaded
from forensics.timeline import build
from tests.conftest import SAMPLES

#: Sample cases and ../shared cases with no device, TID or MID in common (checked below), each with its
#: terminal logs, host log and clearing file, as one fleet.
SAMPLE_CASES = ("dup_paper_out_rerun", "dup_migration_rerun", "refund_wrong_card", "misrouted_wrong_mid", "tour")
SHARED_CASES = ("dup_host_1", "deposit_1", "refund_1", "misrouted_0", "ledger_0")


def case_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv"))


def keys(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What the equality is on: each finding's kind, cause and transactions (device, TID, STAN, RRN)."""
    return sorted(
        (f["kind"], f["cause"], tuple((t["device"], t["tid"], t["stan"], t["rrn"]) for t in f["transactions"]))
        for f in findings
    )


def one_case(files: list[str]) -> list[dict[str, Any]]:
    """The findings of one case, by one whole build (not by groups)."""
    return [f.to_dict() for f in diagnose_timeline(build(forensics.load(files))).findings]


# -- groups ---------------------------------------------------------------------------


def links(*rows: tuple[str | None, str | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"device": pl.String, "tid": pl.String, "mid": pl.String}, orient="row")


def test_devices_tids_and_mids_that_share_any_are_one_group() -> None:
    groups = connect(
        links(
            ("A", "T2", "M1"),  # A and B share the MID; C shares B's TID
            ("B", "T3", "M1"),
            ("C", "T3", None),
            ("D", "T9", "M9"),  # alone
            (None, "T7", None),  # a host row of another merchant
            ("E", None, None),  # a log that names no TID
        )
    )
    by = {(k, v): g for k, v, g in groups.iter_rows()}
    assert by[("device", "A")] == by[("device", "B")] == by[("device", "C")] == by[("mid", "M1")] == "G-T2"
    assert by[("device", "D")] == "G-T9" and by[("tid", "T7")] == "G-T7"
    assert by[("device", "E")] == "G-device-E"
    assert groups["group"].n_unique() == 4


def test_a_host_log_links_nothing_by_its_own_name_and_lines_without_ids_go_with_their_file() -> None:
    events = pl.DataFrame(
        {
            "role": ["settlement", "settlement", "settlement", "host", "host", "terminal"],
            "path": ["s.csv", "s.csv", "s.csv", "h.log", "h.log", "t.log"],
            "device": ["s", "s", "s", "h", "h", "A1"],
            "tid": [None, "T1", "T2", "T1", "T2", "T1"],
            "mid": [None, "M1", "M2", "M1", "M2", "M1"],
        }
    )
    groups = connect(identifiers(events))
    assert sorted(groups["group"].unique()) == ["G-T1", "G-T2"]  # the host log's name "h" joins nothing
    assert labels(events, groups).to_list() == ["G-T1", "G-T1", "G-T2", "G-T1", "G-T2", "G-T1"]
    alone = pl.DataFrame({"role": ["system"], "path": ["x.log"], "device": ["x"], "tid": [None], "mid": [None]})
    assert labels(alone, connect(identifiers(alone))).to_list() == [UNATTACHED]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a.log", "b.log", "c.log"]),
            st.sampled_from(["terminal", "host"]),
            st.sampled_from([None, "D1", "D2"]),
            st.sampled_from([None, None, "T1", "T2", "T3"]),
            st.sampled_from([None, None, "M1", "M2"]),
        ),
        max_size=30,
    )
)
def test_a_row_naming_nothing_takes_the_group_of_the_next_named_row_of_its_file_else_the_last(rows: list) -> None:
    events = pl.DataFrame(rows, schema=["path", "role", "device", "tid", "mid"], orient="row")
    groups = connect(identifiers(events))
    by = {(k, v): g for k, v, g in groups.iter_rows()}

    def own(path: str, role: str, device: str | None, tid: str | None, mid: str | None) -> str | None:
        keys = [("device", device if role == "terminal" else None), ("tid", tid), ("mid", mid)]
        return next((by[k] for k in keys if k[1] is not None and k in by), None)

    mine = [own(*row) for row in rows]
    expected = []
    for n, row in enumerate(rows):
        same = [m for i, m in enumerate(mine) if rows[i][0] == row[0]]
        at = sum(1 for r in rows[:n] if r[0] == row[0])  # the row's place among its file's rows
        later = [m for m in same[at:] if m is not None]
        earlier = [m for m in same[:at] if m is not None]
        expected.append(later[0] if later else earlier[-1] if earlier else UNATTACHED)
    assert labels(events, groups).to_list() == expected
    assert labels(events.lazy(), groups).to_list() == expected


def test_the_logs_of_one_site_are_one_group(shared: Path) -> None:
    # misrouted_1: a device initialised under a TID of its own replaced one of the site's other devices; the
    # site has two MIDs, so the input is one group and the finding, which links devices sharing no identifier, stays
    loaded = forensics.load(case_files(shared / "cases" / "misrouted_1"))
    assert one_site(site_mids(loaded.events))
    whole = diagnose_timeline(build(loaded))
    assert [f.kind for f in whole.findings] == ["misrouted_funds"]
    assert diagnose_by_group(loaded).to_json() == whole.to_json()
    assert not one_site(pl.DataFrame({"device": ["A", "B", "C"], "mid": ["M1", "M2", "M3"], "rows": [5, 5, 5]}))
    ties = pl.DataFrame({"device": ["A", "A", "B"], "mid": ["M1", "M3", "M2"], "rows": [5, 5, 9]})
    assert not one_site(ties)  # A's most frequent MIDs are M1 and M3: three in all


def test_group_by_group_gives_what_one_build_gives() -> None:
    files = case_files(SAMPLES / "dup_paper_out_rerun") + case_files(SAMPLES / "tour")
    loaded = forensics.load(files)
    whole = diagnose_timeline(build(loaded))
    grouped = diagnose_by_group(loaded)
    assert grouped.to_json() == whole.to_json()
    for name in ("transactions", "events", "devices", "clocks", "host", "settlement"):
        assert getattr(grouped.timeline, name).equals(getattr(whole.timeline, name)), name
    assert timeline_by_group(loaded).transactions.equals(whole.timeline.transactions)
    lean = diagnose_by_group(loaded, events=False)  # as forensics diagnose runs it
    assert lean.to_json() == whole.to_json() and lean.to_text() == whole.to_text()
    assert lean.timeline.events.is_empty() and lean.timeline.devices.equals(whole.timeline.devices)


def test_a_group_without_host_rows_still_knows_a_host_log_was_given() -> None:
    # tour's second terminal (V400-0017) has no host traffic in the tour's host log
    loaded = forensics.load(case_files(SAMPLES / "tour") + case_files(SAMPLES / "dup_paper_out_rerun"))
    whole = build(loaded).transactions.filter(pl.col("device") == "V400-0017")
    grouped = timeline_by_group(loaded).transactions.filter(pl.col("device") == "V400-0017")
    assert whole.height and whole["host_log"].all() and whole["host_outcome"].to_list() == ["NOT_SEEN"] * whole.height
    assert grouped.equals(whole)


# -- sweeps -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[Path, Loaded], Path]:
    """Each case of the fleet, loaded alone; a folder to sweep into."""
    cases = [SAMPLES / c for c in SAMPLE_CASES] + [shared / "cases" / c for c in SHARED_CASES]
    return {case: forensics.load(case_files(case)) for case in cases}, tmp_path_factory.mktemp("fleet")


def test_the_fleet_cases_share_no_identifier(fleet: tuple[dict[Path, Loaded], Path]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for case, loaded in fleet[0].items():
        ids = identifiers(loaded.events)
        for key in ("device", "tid", "mid"):
            for value in ids[key].drop_nulls().unique():
                assert seen.setdefault((key, value), case.name) == case.name, (key, value)


@pytest.mark.slow
def test_a_sweep_finds_exactly_the_union_of_the_one_case_findings(fleet: tuple[dict[Path, Loaded], Path]) -> None:
    loaded, work = fleet
    cases = list(loaded)
    expected = [f.to_dict() for one in loaded.values() for f in diagnose_timeline(build(one)).findings]
    assert len(expected) >= 5
    out = work / "out"
    patterns = [str(case / "*.log") for case in cases] + [str(case / "*.csv") for case in cases]
    done = sweep(patterns, out, workers=2)
    objects = json.loads((out / "findings.json").read_text())["findings"]
    assert keys(objects) == keys(expected)
    findings = pl.read_parquet(out / "findings.parquet")
    assert sorted(findings["id"]) == sorted(o["id"] for o in objects)
    assert all(o["id"].startswith(o["group"] + "/F") for o in objects)
    inputs = pl.read_parquet(out / "inputs.parquet")
    assert inputs.height == sum(len(case_files(c)) for c in cases) and inputs["error"].is_null().all()
    assert set(inputs["role"]) == {"terminal", "host", "settlement"}
    events = pl.scan_parquet(out / "events" / "**" / "*.parquet", hive_partitioning=True).collect()
    assert events.height == done.run["events"] == sum(one.events.height for one in loaded.values())
    groups = pl.read_parquet(out / "groups.parquet")
    assert set(events["group"]) <= set(groups["group"])
    # two inputs sharing a TID (the two devices of a migration) are one group
    migration = groups.filter(pl.col("devices").list.contains("V400-4172"))
    assert migration["devices"].to_list() == [["V400-4172", "V400-5930N"]]
    devices = pl.read_parquet(out / "devices.parquet")
    assert set(devices["device"]) == {d for ds in groups["devices"] for d in ds}
    run = json.loads((out / "run.json").read_text())
    assert run["workers"] == 2 and run["parsed_now"] == inputs.height and len(run["peak_rss_workers"]) == 2
    assert run["peak_rss_client"] > 0 and run["events_per_s"] > 0

    # a second run on the same folder parses nothing again and gives the same findings
    again = sweep(patterns, out, workers=1)
    assert again.run["parsed_now"] == 0
    assert keys(json.loads((out / "findings.json").read_text())["findings"]) == keys(expected)
    assert not list(out.rglob(".*partial*")) and not list(out.glob(".events-*"))


@pytest.mark.slow
def test_a_sweep_reads_folders_and_compressed_logs_and_records_what_it_cannot_parse(tmp_path: Path) -> None:
    folder = tmp_path / "fleet" / "shop"
    folder.mkdir(parents=True)
    for f in case_files(SAMPLES / "dup_paper_out_rerun"):
        with open(f, "rb") as src, gzip.open(folder / (Path(f).name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    (folder / "blob.bin").write_bytes(bytes(range(256)) * 64)
    os.symlink(tmp_path / "gone.log", folder / "broken.log")  # listed in the folder, cannot be read
    (folder / ".hidden.log").write_text("not part of the fleet\n")
    out = tmp_path / "out"
    done = sweep([tmp_path / "fleet"], out, workers=1)
    inputs = pl.read_parquet(out / "inputs.parquet")
    names = {Path(p).name: row for p, row in zip(inputs["path"], inputs.iter_rows(named=True), strict=True)}
    assert ".hidden.log" not in names and len(names) == len(case_files(SAMPLES / "dup_paper_out_rerun")) + 2
    assert names["broken.log"]["error"] and names["broken.log"]["parsed"] == 0
    assert names["blob.bin"]["error"] is None and names["blob.bin"]["parsed"] == 0
    assert {names[n]["role"] for n in names if n.endswith(".gz")} == {"terminal", "host", "settlement"}
    expected = one_case(case_files(SAMPLES / "dup_paper_out_rerun"))
    assert keys(json.loads((out / "findings.json").read_text())["findings"]) == keys(expected)
    assert done.findings.height == len(expected)


def test_discover_refuses_a_path_that_matches_nothing(tmp_path: Path) -> None:
    from forensics.fleet.sweep import SweepError

    with pytest.raises(SweepError, match="no such file"):
        discover([tmp_path / "missing"])
    with pytest.raises(SweepError, match="no such file"):
        discover([str(tmp_path / "*.log")])


def test_the_sweep_command_refuses_bad_paths_before_any_work(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from forensics.cli import cli

    log = tmp_path / "logs" / "a.log"
    log.parent.mkdir()
    log.write_text("x\n")
    runner = CliRunner()
    missing = runner.invoke(cli, ["sweep", str(tmp_path / "nothing"), "-o", str(tmp_path / "out")])
    assert missing.exit_code != 0 and "no such file" in str(missing.exception)
    inside = runner.invoke(cli, ["sweep", str(log.parent), "-o", str(log.parent)])
    assert inside.exit_code != 0 and "holds inputs" in str(inside.exception)
    assert not (tmp_path / "out").exists() and sorted(p.name for p in log.parent.iterdir()) == ["a.log"]


def test_an_inputs_record_is_the_same_read_once_or_scanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small input's record (links, site MIDs, span, given, first stamp) read from its events file held in
    memory once equals the one read by scanning the file for each question (what bigger inputs get)."""
    from forensics.fleet import sweep as sweeping
    from forensics.ingest.dialect import dialect_sources

    files = sorted(str(p) for p in (SAMPLES / "tour").iterdir() if p.suffix in (".log", ".csv"))
    options = sweeping.Options(dialects=tuple(dialect_sources(None)))
    records = {}
    for limit in (sweeping._READ_ONCE, 0):
        monkeypatch.setattr(sweeping, "_READ_ONCE", limit)
        work = tmp_path / str(limit)
        work.mkdir()
        found = sweeping.parse_inputs([(f, ()) for f in files], str(work), options, b"k")
        records[limit] = [{k: v for k, v in r.items() if k != "row"} for r in found]
    assert records[0] == records[sweeping._READ_ONCE] and len(records[0]) == len(files)
    assert any(r["links"] for r in records[0]) and any(r["first_stamp"] for r in records[0])


@pytest.mark.parametrize("slices_held", [1, 2, 3])
@pytest.mark.parametrize("rows_at_a_time", [1, 2, 3, 1000])
def test_routing_puts_each_row_in_its_group_whatever_the_slices(
    rows_at_a_time: int, slices_held: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route stage reads an input in slices; a row naming nothing goes with the next named row of its
    whole file (as ``groups.labels`` reads it), not of its slice: a host's link line at the end of a slice
    went with the TID before it. However many slices are held before they are written, a group's part files
    read in name order give its rows in the input's order."""
    from forensics.fleet import sweep as sweeping

    tids = ["T1", None, "T2", None, None, "T1", None]
    events = pl.DataFrame(
        {
            "path": ["h.log"] * len(tids),
            "line": list(range(1, len(tids) + 1)),
            "role": ["host"] * len(tids),
            "device": [None] * len(tids),
            "tid": tids,
            "mid": [None] * len(tids),
        },
        schema_overrides={"device": pl.String, "mid": pl.String},
    )
    (tmp_path / "work").mkdir()
    events.write_parquet(tmp_path / "work" / "k.parquet")
    groups = connect(identifiers(events))
    monkeypatch.setattr(sweeping, "_ROUTE_ROWS", rows_at_a_time)
    monkeypatch.setattr(sweeping, "_ROUTE_SLICES_HELD", slices_held)
    events = events.sort("line", descending=True)  # the input's order, not the lines' order
    events.write_parquet(tmp_path / "work" / "k.parquet")
    counts = sweeping.route_input("k", 0, str(tmp_path / "work"), str(tmp_path / "events"), groups)
    routed = {
        folder.name.removeprefix("group="): pl.read_parquet(sorted(folder.glob("*.parquet")))["line"].to_list()
        for folder in (tmp_path / "events").iterdir()
    }
    expected = events.with_columns(group=labels(events, groups)).group_by("group", maintain_order=True).agg("line")
    assert routed == {str(g): lines for g, lines in expected.iter_rows()}
    assert counts == {g: len(lines) for g, lines in routed.items()}


@pytest.mark.parametrize("links", [True, False])
def test_an_input_of_one_group_is_routed_whole_without_being_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    """A log whose rows are all one group's (most terminals') becomes its group's part as parsed (a hard link,
    else a copy): the same rows, the parsed file left as it is for the next sweep; an input of two groups is
    still cut by rows."""
    from forensics.fleet import sweep as sweeping

    if not links:

        def no_link(*_: object) -> None:
            raise OSError("no links here")

        monkeypatch.setattr(sweeping.os, "link", no_link)

    one = pl.DataFrame(
        {"path": ["t.log"] * 3, "line": [1, 2, 3], "role": ["terminal"] * 3, "device": ["D1"] * 3},
        schema_overrides={"device": pl.String},
    ).with_columns(tid=pl.lit("T1"), mid=pl.lit(None, pl.String))
    two = one.with_columns(path=pl.lit("h.log"), role=pl.lit("host"), device=pl.lit(None, pl.String)).with_columns(
        tid=pl.Series(["T1", "T2", "T2"])
    )
    work = tmp_path / "work"
    work.mkdir()
    one.write_parquet(work / "one.parquet", use_pyarrow=True, compression="zstd")  # as no rewrite by Polars writes it
    two.write_parquet(work / "two.parquet")
    before = (work / "one.parquet").read_bytes()
    groups = connect(identifiers(pl.concat([one, two])))
    events = tmp_path / "events"
    assert sweeping.route_input("one", 0, str(work), str(events), groups) == {"G-T1": 3}
    assert sweeping.route_input("two", 1, str(work), str(events), groups) == {"G-T1": 1, "G-T2": 2}
    part = events / "group=G-T1" / "part-000000-00000.parquet"
    assert part.read_bytes() == before and (work / "one.parquet").read_bytes() == before
    assert pl.read_parquet(part).equals(one)
    assert sorted(p.name for p in (events / "group=G-T1").iterdir()) == [part.name, "part-000001-00000.parquet"]
    assert pl.read_parquet(list((events / "group=G-T2").iterdir()))["line"].to_list() == [2, 3]
