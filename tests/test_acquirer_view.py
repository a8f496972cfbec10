"""The acquirer's view: a host log and a clearing file with no terminal log rebuild transactions and find
what they can prove; terminal logs that cover a TID keep the host and clearing rows from being counted twice."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from forensics.analysis import diagnose, timeline
from forensics.coverage import coverage

from .conftest import SAMPLES

DUPLICATES = ["dup_operator_rerun", "dup_paper_out_rerun", "dup_timeout_other_lane", "dup_clear_reversal"]


def _inputs(folder: Path, *, terminal: bool = True) -> list[Path]:
    host = sorted(folder.glob("*host*.log"))
    logs = [p for p in sorted(folder.glob("*.log")) if p not in host]
    return (logs if terminal else []) + host + sorted(folder.glob("*.csv"))


def _expected_rrns(folder: Path, kind: str) -> set[str]:
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return {t["rrn"] for f in truth["findings"] if f["kind"] == kind for t in f["transactions"] if t.get("rrn")}


@pytest.mark.parametrize("name", DUPLICATES)
def test_host_and_clearing_alone_rebuild_the_transactions_and_find_the_duplicate(name: str) -> None:
    folder = SAMPLES / name
    tl = timeline(_inputs(folder, terminal=False))
    assert tl.transactions.height > 0
    assert set(tl.transactions["rebuilt_from"].unique()) <= {"host", "clearing"}
    assert (tl.transactions["merchant_outcome"] == "UNKNOWN").all()  # what the merchant saw is not known
    found = diagnose(_inputs(folder, terminal=False))
    dups = [f for f in found.findings if f.kind == "duplicate_charge"]
    assert dups, name
    rrns = {t.rrn for f in dups for t in f.transactions}
    assert _expected_rrns(folder, "duplicate_charge") <= rrns
    assert all(d.startswith("tid:") for f in dups for d in f.devices)


@pytest.mark.parametrize("name", ["clean_day", "clean_busy_day", "legit_repeat", "hardware_noise"])
def test_host_and_clearing_of_a_clean_day_find_nothing(name: str) -> None:
    assert diagnose(_inputs(SAMPLES / name, terminal=False)).findings == []


@pytest.mark.parametrize("name", ["clean_busy_day", *DUPLICATES])
def test_a_terminal_log_that_covers_the_tid_leaves_no_rebuilt_row(name: str) -> None:
    tl = timeline(_inputs(SAMPLES / name))
    rebuilt = tl.transactions.filter(pl.col("rebuilt_from") != "terminal")
    assert rebuilt.is_empty(), rebuilt.select("txn", "tid", "stan", "ts_start")


def test_clearing_file_alone_finds_an_item_cleared_twice() -> None:
    folder = SAMPLES / "dup_settlement_duplicated"
    found = diagnose(sorted(folder.glob("*.csv")))
    assert [(f.kind, f.cause) for f in found.findings] == [("duplicate_charge", "host_error")]
    assert found.findings[0].transactions[0].rrn in _expected_rrns(folder, "duplicate_charge")


def test_a_duplicate_found_from_host_and_clearing_cites_the_host_lines_and_says_the_terminal_was_not_checked() -> None:
    folder = SAMPLES / "dup_operator_rerun"
    (finding,) = diagnose(_inputs(folder, terminal=False)).findings
    assert finding.confidence > 0
    assert any(e.path.endswith("acquirer-host.log") for e in finding.evidence)
    if finding.cause == "undetermined":
        assert "terminal side was not checked" in finding.summary


def _block(at: str, tag: str, fields: dict[str, str]) -> str:
    rows = [f'<log realm="server-channel/10.0.0.1:9000" at="{at}">', f"  <{tag}>", "    <isomsg>"]
    rows += [f'      <field id="{k}" value="{v}"/>' for k, v in fields.items()]
    return "\n".join([*rows, "    </isomsg>", f"  </{tag}>", "</log>"])


def test_a_1993_host_log_alone_shows_a_card_charged_twice(tmp_path: Path) -> None:
    """ISO 8583:1993 messages (1200/1210, action code 000): the same card and amount approved twice 40 s apart."""
    request = {"2": "476173______0010", "3": "000000", "4": "000000004599", "41": "T0001234", "42": "M42", "49": "978"}
    blocks = []
    for n, (sent, stan, rrn) in enumerate(
        [("10:02:11.204", "000412", "412110000412"), ("10:02:51.880", "000414", "412110000414")]
    ):
        blocks.append(_block(f"2026-03-14T{sent}", "receive", {"0": "1200", **request, "11": stan}))
        blocks.append(
            _block(
                f"2026-03-14T{sent[:-3]}9{n}0",
                "send",
                {"0": "1210", "11": stan, "37": rrn, "38": f"A1B2C{n}", "39": "000", "41": "T0001234"},
            )
        )
    host = tmp_path / "host.log"
    host.write_text("\n".join(blocks) + "\n", encoding="utf-8")
    tl = timeline([host], tz="UTC")
    assert tl.transactions["txn_type"].to_list() == ["SALE", "SALE"]
    (finding,) = diagnose([host], tz="UTC").findings
    assert finding.kind == "duplicate_charge"
    assert [t.rrn for t in finding.transactions] == ["412110000412", "412110000414"]


def _host_in_local_time(folder: Path, into: Path, hours: int) -> list[Path]:
    """The case's inputs with its host log's times written ``hours`` from UTC, without a zone."""
    into.mkdir()
    out = []
    for path in _inputs(folder):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if path.name == "acquirer-host.log":
            text = re.sub(
                r'at="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})"',
                lambda m: (
                    f'at="{(datetime.fromisoformat(m[1]) + timedelta(hours=hours)).isoformat(timespec="milliseconds")}"'
                ),
                text,
            )
        (into / path.name).write_text(text, encoding="utf-8", errors="surrogateescape")
        out.append(into / path.name)
    return out


@pytest.mark.parametrize("hours", [-4, 9])
def test_a_host_log_without_zone_takes_it_from_the_clearing_file(tmp_path: Path, hours: int) -> None:
    folder = SAMPLES / "dup_operator_rerun"
    zones = {d["file"]: d["tz"] for d in json.loads((folder / "truth.json").read_text())["devices"]}
    before = diagnose([str(p) for p in _inputs(folder)], tz=zones, card_key="k")
    after = diagnose([str(p) for p in _host_in_local_time(folder, tmp_path / "local", hours)], tz=zones, card_key="k")
    host = after.timeline.clocks.filter(pl.col("segment").is_null())
    assert host["skew_s"].to_list() == [hours * 3600.0] and host["matches"][0] >= 3
    # the same story: same terminal clocks, transactions at the same instants, the same findings
    terminal = pl.col("segment").is_not_null()
    assert after.timeline.clocks.filter(terminal)["skew_s"].to_list() == before.timeline.clocks["skew_s"].to_list()
    assert after.timeline.transactions["ts_start"].to_list() == before.timeline.transactions["ts_start"].to_list()
    assert [(f.kind, f.cause, f.rules) for f in after.findings] == [(f.kind, f.cause, f.rules) for f in before.findings]
    said = coverage(after.timeline)
    note = f"UTC{hours:+03d}:00, from the capture times of"
    assert any(note in line for line in said.input_lines()) and not said.zone_note()
    # a zone given for the host log is the zone used: nothing is inferred
    given = diagnose(
        [str(p) for p in sorted((tmp_path / "local").iterdir())],
        tz={**zones, "acquirer-host.log": f"{hours:+03d}:00"},
        card_key="k",
    )
    assert given.timeline.clocks.filter(pl.col("segment").is_null()).is_empty()
    assert given.timeline.transactions["ts_start"].to_list() == before.timeline.transactions["ts_start"].to_list()


def test_a_host_log_in_utc_is_left_as_it_is() -> None:
    folder = SAMPLES / "dup_operator_rerun"
    tl = timeline([str(p) for p in _inputs(folder)])
    assert tl.clocks.filter(pl.col("segment").is_null()).is_empty()
