"""Real system logs nobody on this project wrote (Loghub 2k samples, ../shared/corpus/loghub).

Acceptance: Linux, Android and OpenSSH parse with no unparsed line; host, tag, pid, thread,
level and message equal the ground-truth CSV on at least 99.9% of lines, timestamps on all.
HDFS and Apache parse too (grammars of their own). Column names per the corpus README notes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

import forensics

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _truth(shared: Path, system: str) -> list[dict[str, str]]:
    path = shared / "corpus" / "loghub" / system / f"{system}_2k.log_structured.csv"
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _load(shared: Path, system: str) -> tuple[forensics.Loaded, list[dict[str, str]]]:
    loaded = forensics.load(shared / "corpus" / "loghub" / system / f"{system}_2k.log", year=2005)
    return loaded, _truth(shared, system)


def _expected(system: str, row: dict[str, str]) -> dict[str, object]:
    if system == "Linux":
        return {
            "host": row["Level"],
            "tag": row["Component"],
            "pid": int(row["PID"]) if row["PID"] else None,
            "thread": None,
            "level": None,
            "message": row["Content"],
            "stamp": (_MONTHS.index(row["Month"]) + 1, int(row["Date"]), row["Time"]),
        }
    if system == "OpenSSH":
        return {
            "host": row["Component"],
            "tag": "sshd",
            "pid": int(row["Pid"]),
            "thread": None,
            "level": None,
            "message": row["Content"],
            "stamp": (_MONTHS.index(row["Date"]) + 1, int(row["Day"]), row["Time"]),
        }
    month, day = row["Date"].split("-")
    return {
        "host": None,
        "tag": row["Component"],
        "pid": int(row["Pid"]),
        "thread": int(row["Tid"]),
        "level": row["Level"],
        "message": row["Content"],
        "stamp": (int(month), int(day), row["Time"]),
    }


@pytest.mark.parametrize("system", ["Linux", "Android", "OpenSSH"])
def test_loghub_fields_match_ground_truth(shared: Path, system: str) -> None:
    loaded, truth = _load(shared, system)
    assert loaded.unparsed.height == 0, loaded.unparsed.head(5)
    events = loaded.events.sort("line")
    assert events["line"].to_list() == list(range(1, 2001))
    fields = ("host", "tag", "pid", "thread", "level", "message")
    mismatches = {f: 0 for f in fields}
    stamps_wrong = 0
    for got, row in zip(events.iter_rows(named=True), truth, strict=False):
        want = _expected(system, row)
        for f in fields:
            if got[f] != want[f]:
                mismatches[f] += 1
        ts = got["ts"]
        frac = f".{ts.microsecond // 1000:03d}" if "." in want["stamp"][2] else ""
        if (ts.month, ts.day, ts.strftime("%H:%M:%S") + frac) != want["stamp"]:
            stamps_wrong += 1
    for f, n in mismatches.items():
        assert n <= 2, f"{system}: {f} differs from the ground truth on {n} of 2000 lines"
    assert stamps_wrong == 0


@pytest.mark.parametrize("system", ["HDFS", "Apache"])
def test_loghub_other_systems_parse(shared: Path, system: str) -> None:
    loaded, truth = _load(shared, system)
    assert loaded.unparsed.height == 0
    assert loaded.events.height == 2000
    assert loaded.events["ts"].null_count() == 0
    contents = [row["Content"] for row in truth]
    assert loaded.events.sort("line")["message"].to_list() == contents


def test_loghub_year_rolls_with_anchor(shared: Path) -> None:
    loaded = forensics.load(shared / "corpus" / "loghub" / "Linux" / "Linux_2k.log", year=2005)
    assert loaded.inputs["year_source"][0] == "--year"
    assert loaded.events["ts"].dt.year().unique().to_list() == [2005]
    assert loaded.events.filter(pl.col("ts").is_null()).height == 0
