"""Big inputs analysed from a temporary Parquet file of their events, group by group, reading each group's rows
when its turn comes (``forensics.analysis.ingested``, ``diagnose_parquet``): the same findings, JSON, text
and timeline as the in-memory analysis, and the temporary folder always removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics
from forensics import analysis
from forensics.analysis import (
    diagnose,
    diagnose_by_group,
    diagnose_parquet,
    ingested,
    scan_split,
    timeline,
    timeline_by_group,
    timeline_parquet,
)
from forensics.cli import cli
from forensics.ingest import Loaded
from forensics.report import text
from tests.conftest import SAMPLES

analysis_diagnose_parquet = analysis.diagnose_parquet
FRAMES = ("transactions", "events", "devices", "clocks", "host", "settlement")


def case_files(*names: str) -> list[str]:
    """The logs of sample cases (cases with no device, TID or MID in common: tests/test_fleet.py)."""
    return sorted(str(p) for name in names for p in (SAMPLES / name).iterdir() if p.suffix in (".log", ".csv"))


#: Multi-group inputs (several sample cases as one input), and inputs of one group.
INPUTS = [
    ("dup_paper_out_rerun", "tour"),
    ("tour", "dup_paper_out_rerun", "refund_wrong_card"),
    ("refund_wrong_card", "misrouted_wrong_mid", "dup_migration_rerun", "dup_paper_out_rerun", "tour"),
    ("tour",),
]


@pytest.fixture
def spill_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORENSICS_SPILL_BYTES", "0")


@pytest.mark.parametrize("cases", INPUTS, ids="+".join)
def test_the_lazy_analysis_gives_what_the_in_memory_one_gives(cases: tuple[str, ...], spill_always: None) -> None:
    files = case_files(*cases)
    memory = forensics.load(files, card_key="k")
    expected = diagnose_by_group(memory)
    with ingested(files, card_key="k") as (loaded, source):
        assert source is not None and source.exists() and loaded.events.is_empty()
        folder = source.parent
        groups = scan_split(source, loaded, folder)
        assert (groups is None) == (len(cases) == 1)
        lazy = diagnose_parquet(source, loaded)
        lean = diagnose_parquet(source, loaded, events=False)
        tl = timeline_parquet(source, loaded)
    assert not folder.exists()
    assert lazy.to_json() == expected.to_json() and lazy.to_text() == expected.to_text()
    assert lean.to_json() == expected.to_json() and lean.to_text() == expected.to_text()
    assert [f.to_dict() for f in lazy.findings] == [f.to_dict() for f in expected.findings]
    for name in FRAMES:
        assert getattr(lazy.timeline, name).equals(getattr(expected.timeline, name)), name
        assert getattr(tl, name).equals(getattr(timeline_by_group(memory), name)), name
        if name != "events":
            assert getattr(lean.timeline, name).equals(getattr(expected.timeline, name)), name
    assert lean.timeline.events.is_empty()
    rendered = text.render(expected.timeline, findings=expected.findings, transactions=expected.timeline.transactions)
    assert text.render(lazy.timeline, findings=lazy.findings, transactions=lazy.timeline.transactions) == rendered


@pytest.mark.parametrize("slices", [2, 0], ids=["slices", "spooled"])
def test_each_group_gets_its_rows_from_slices_or_spooled_files(
    slices: int, spill_always: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analysis, "_SLICES", slices)  # 0: the events are always sorted by group into Arrow files
    files = case_files("tour", "dup_paper_out_rerun", "refund_wrong_card")
    memory = forensics.load(files, card_key="k")
    cut = analysis.split(memory)
    assert cut is not None
    with ingested(files, card_key="k") as (loaded, source), tempfile.TemporaryDirectory() as spool:
        assert source is not None
        groups = scan_split(source, loaded, Path(spool))
        assert groups is not None and groups[1] == cut[1]
        for spooled, held in zip(groups[0], cut[0], strict=True):
            assert spooled.events.equals(held.events)
            assert not list(Path(spool).iterdir()) or slices == 0
        assert not list(Path(spool).iterdir())  # each spooled file is removed once read
        lazy = diagnose_parquet(source, loaded)
    assert lazy.to_json() == diagnose_by_group(memory).to_json()


def test_the_library_spills_beyond_the_threshold_only(monkeypatch: pytest.MonkeyPatch) -> None:
    files = case_files("dup_paper_out_rerun", "tour")
    with ingested(files) as (loaded, source):
        assert source is None and loaded.events.height  # small: in memory
    monkeypatch.setenv("FORENSICS_SPILL_BYTES", "0")
    spilled = diagnose(files, card_key="k")
    monkeypatch.delenv("FORENSICS_SPILL_BYTES")
    assert spilled.to_json() == diagnose(files, card_key="k").to_json()
    assert timeline(files, card_key="k").transactions.equals(spilled.timeline.transactions)


def test_the_temporary_folder_goes_on_an_error(spill_always: None) -> None:
    with pytest.raises(RuntimeError), ingested(case_files("tour")) as (_, source):
        assert source is not None
        folder = source.parent
        raise RuntimeError("interrupted")
    assert not folder.exists()


@pytest.mark.parametrize("command", [["diagnose", "--format", "json"], ["diagnose"], ["timeline"]])
def test_the_cli_gives_the_same_output_spilled_or_not(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = case_files("tour", "dup_paper_out_rerun", "refund_wrong_card")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the spilled events go
    read: list[Path] = []

    def spy(source: Path, *args: Any, **kwargs: Any) -> Any:
        read.append(source)
        return analysis_diagnose_parquet(source, *args, **kwargs)

    monkeypatch.setattr(analysis, "diagnose_parquet", spy)
    monkeypatch.setattr(analysis, "timeline_parquet", lambda *a: pytest.fail("the CLI diagnoses"))
    args = [*command, *files, "--card-key", "k", "--quiet"]
    in_memory = CliRunner().invoke(cli, args)
    assert not read
    monkeypatch.setenv("FORENSICS_SPILL_BYTES", "0")
    spilled = CliRunner().invoke(cli, args)
    assert [p.parent.parent for p in read] == [tmp_path]  # analysed from the spilled events
    assert in_memory.exit_code == spilled.exit_code == 0, spilled.output
    assert spilled.output == in_memory.output and spilled.output.strip()
    assert not list(tmp_path.iterdir())


def test_the_spilled_events_are_the_loaded_ones(spill_always: None) -> None:
    files = case_files("tour")
    with ingested(files, card_key="k") as (_, source):
        assert source is not None
        assert pl.read_parquet(source).equals(forensics.load(files, card_key="k").events)
        import pyarrow.parquet as pq

        codecs = {pq.ParquetFile(source).metadata.row_group(0).column(n).compression for n in range(3)}
        assert codecs == {"LZ4"}  # what each group's rows are read back from: lz4, faster to read than snappy


def test_the_temporary_folder_goes_on_sigterm(tmp_path: Path) -> None:
    files = case_files("refund_wrong_card", "misrouted_wrong_mid", "dup_migration_rerun", "dup_paper_out_rerun", "tour")
    env = {**os.environ, "FORENSICS_SPILL_BYTES": "0", "TMPDIR": str(tmp_path)}
    forensics_cli = Path(sys.executable).with_name("forensics")
    run = subprocess.Popen([str(forensics_cli), "diagnose", *files, "--quiet"], env=env, stdout=subprocess.DEVNULL)
    while run.poll() is None and not list(tmp_path.glob("forensics-events-*/events.parquet")):
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)  # while the events are analysed from the spilled file, unless it is done
    assert run.wait(timeout=300) in (0, 128 + signal.SIGTERM)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("lazy", [False, True], ids=["in-memory", "parquet"])
def test_a_groups_rows_are_let_go_before_the_next_group_is_read(
    lazy: bool, spill_always: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The analysis holds one group's rows at a time: when the next group is asked for, nothing holds the last
    one's (an ``enumerate`` over the groups held it until the next was read: 1.2 GB more at 10.5M events)."""
    files = case_files("tour", "dup_paper_out_rerun", "refund_wrong_card")
    asked: list[weakref.ref[pl.DataFrame]] = []
    alive: list[int] = []

    def watched(groups: Iterator[Loaded]) -> Iterator[Loaded]:
        for group in groups:
            alive.append(sum(ref() is not None for ref in asked))  # the groups before this one still held
            asked.append(weakref.ref(group.events))
            yield group

    def watch(split: Callable[..., Any]) -> Callable[..., Any]:
        def cut(*args: Any) -> Any:
            parts, flags = split(*args)
            return watched(parts), flags

        return cut

    monkeypatch.setattr(analysis, "split", watch(analysis.split))
    monkeypatch.setattr(analysis, "scan_split", watch(analysis.scan_split))
    if lazy:
        with ingested(files, card_key="k") as (loaded, source):
            assert source is not None
            diagnose_parquet(source, loaded, events=False)
    else:
        diagnose_by_group(forensics.load(files, card_key="k"), events=False)
    assert len(alive) >= 3 and not any(alive)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 3)), st.sampled_from(["a", "b", None])), max_size=40),
    st.booleans(),
)
def test_ordered_is_a_stable_sort_of_the_frame_it_takes(rows: list[tuple[int | None, str | None]], last: bool) -> None:
    """``analysis._ordered`` (columns put in order a few at a time) gives what ``DataFrame.sort`` gives."""
    frame = pl.DataFrame(
        {"k": [r[0] for r in rows], "s": [r[1] for r in rows], **{f"c{n}": range(len(rows)) for n in range(11)}},
        schema_overrides={"k": pl.Int64, "s": pl.String},
    )
    expected = frame.sort("k", "s", maintain_order=True, nulls_last=last)
    held = [frame.clone()]
    assert analysis._ordered(held, [pl.col("k"), pl.col("s")], nulls_last=last).equals(expected)
    assert held == []


def test_a_group_read_in_pieces_is_put_in_one_column_by_column() -> None:
    """``analysis._in_one_piece``: the same frame, each column in one chunk, taken out of the list it came in
    (but the columns ``build`` carries through untouched, left in their chunks)."""
    pieces = pl.concat(
        [
            pl.DataFrame({"a": [n, None], "s": ["x", None], **{f"c{k}": [k, k] for k in range(12)}, "text": ["t", "u"]})
            for n in range(5)
        ]
    )
    assert pieces.n_chunks() == 5
    held = [pieces.clone()]
    whole = analysis._in_one_piece(held)
    assert held == [] and whole.equals(pieces) and whole.columns == pieces.columns
    assert set(whole.drop("text").n_chunks("all")) == {1}
    assert whole["text"].n_chunks() == 5  # timeline.CARRIED: build takes it as it comes
