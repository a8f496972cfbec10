"""Vendor styles of the simulator: the same world in other apps' words, every fact carried over."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import forensics
from forensics.analysis import diagnose
from forensics.cli import cli
from forensics.simulate import FAMILIES, VENDORS, simulate, simulate_volume
from forensics.simulate.vendors import Orbit, Quill
from forensics.vocabulary import VALUES

_OTHERS = [name for name in VENDORS if name != "reference"]
_LOGFMT_PAIR = re.compile(r"\b[a-z_]+=\S")


@pytest.mark.parametrize("name", _OTHERS)
@pytest.mark.parametrize("family", list(FAMILIES)[::4])
def test_a_style_is_the_same_world(name: str, family: str) -> None:
    """Only the app lines change: truth, host log, settlement files and the number of lines are those of the
    reference rendering of the same seed."""
    ref, other = simulate(family, 21), simulate(family, 21, vendor=name)
    truth = dict(other.truth)
    assert truth.pop("vendor") == name
    assert truth == ref.truth
    assert set(other.files) == set(ref.files)
    for file, data in ref.files.items():
        if file == "acquirer-host.log" or file.endswith(".csv"):
            assert other.files[file] == data
        elif file.endswith(".log"):
            assert other.files[file] != data
            assert other.files[file].count(b"\n") == data.count(b"\n")
    assert f"--vendor {name}" in other.files["README.md"].decode()


def test_orbit_logs_json_objects_in_its_own_words() -> None:
    case = simulate("dup_paper_out_rerun", 21, vendor="orbit")
    objects = [
        json.loads(line.split(": ", 1)[1])
        for data in case.files.values()
        for line in data.decode("utf-8", "replace").splitlines()
        if ': {"evt"' in line
    ]
    assert len(objects) > 20
    assert all("evt" in obj for obj in objects)
    begins = [obj for obj in objects if obj["evt"] == "begin"]
    assert begins and all(isinstance(b["txn"]["amount"]["minor"], int) for b in begins)
    assert all(b["txn"]["amount"]["ccy"].isdigit() and b["txn"]["type"].islower() for b in begins)
    assert {obj["outcome"] for obj in objects if obj["evt"] == "end"} <= {"approved", "declined", "comm_failure"}
    assert any(isinstance(obj.get("de", {}).get("55"), dict) for obj in objects)  # nested EMV data


def test_quill_logs_sentences_with_f_dumps() -> None:
    case = simulate("dup_paper_out_rerun", 21, vendor="quill")
    messages = [
        line.split("]: ", 1)[1] if "quilld[" in line else line.split("Quill   : ", 1)[1]
        for data in case.files.values()
        for line in data.decode("utf-8", "replace").splitlines()
        if "quilld[" in line or "Quill   : " in line
    ]
    assert len(messages) > 20 and all(re.match(r"\[[A-Z][a-z]+\] [A-Z]", m) for m in messages)
    assert not any(_LOGFMT_PAIR.search(m) for m in messages)  # no key=value: sentences, ISO as F<n>=
    assert any(re.search(r"\[Host\] Sent 0200 F\d+=", m) for m in messages)
    assert any(
        re.search(r"\[Txn\] Invoice \d+ approved \(trace \d+, response 00, auth code \w+, RRN \d+\)", m)
        for m in messages
    )


@pytest.mark.parametrize("speaker", [Orbit, Quill])
def test_a_style_never_drops_a_fact(speaker) -> None:
    say = speaker("USD", True).say
    tag, message = say("TransProcess", "START type=SALE inv=000045 amount=45.99 cur=USD op=07 src=keypad")
    assert "000045" in message and ("4599" in message or "45.99" in message)
    with pytest.raises(ValueError, match="drops"):
        say("TransProcess", "START type=SALE inv=000045 amount=45.99 cur=USD op=07 src=keypad lane=3")
    with pytest.raises(ValueError, match="no phrase"):
        say("TransProcess", "REPRINT inv=000045")


def test_orbit_numbers_the_host_link_by_host() -> None:
    orbit = Orbit("EUR", True)
    assert orbit.say("Comm", "CONNECT host=acq2 ok ms=300")[0] == "HostLink-2"
    tag, message = orbit.say("Comm", "TX 0400 DE3=000000 DE4=000000001200 DE11=000414 DE49=978")
    assert tag == "HostLink-2" and json.loads(message)["de"]["4"] == "000000001200"
    tag, message = orbit.say("SAF", "QUEUED mti=0220 stan=000415 inv=000049 amount=12.00 depth=3")
    assert json.loads(message)["advice"]["amount"] == {"minor": 1200, "ccy": "978"}


def test_syslog_devices_log_under_the_vendors_program() -> None:
    quill = simulate_volume(300, 4, android=False, vendor="quill").files["V400-0004.log"].decode()
    assert " quilld[" in quill and " payapp[" not in quill
    orbit = simulate_volume(300, 4, android=False, vendor="orbit").files["V400-0004.log"].decode()
    assert re.search(r" TxnEngine\[\d+\]: \{\"evt\":\"begin\"", orbit)


def test_cli_vendor_option(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "case"
    result = runner.invoke(
        cli, ["simulate", "--family", "clean_day", "--seed", "3", "--vendor", "quill", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "truth.json").read_text())["vendor"] == "quill"
    result = runner.invoke(cli, ["simulate", "--lines", "200", "--vendor", "quill", "-o", str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    assert " quilld[" in (tmp_path / "v" / "V400-0001.log").read_text()  # the vendor's home platform: syslog
    result = runner.invoke(cli, ["simulate", "--family", "clean_day", "--vendor", "nope", "-o", str(out)])
    assert result.exit_code == 2


# -- the shipped dialects read every style back to the same events and findings ---------------------------

#: The columns diagnosis reads from terminal app events.
_FACTS = [
    "kind", "txn_type", "status", "mti", "proc", "stan", "inv", "orig_inv", "batch", "rrn", "orig_rrn", "auth", "rc",
    "tid", "mid", "entry", "atc", "amount", "tip", "exponent", "card", "operator", "source", "serial", "app_version",
    "reason", "code", "device", "ts",
]  # fmt: skip
#: A handful of families that between them write every kind of app line (printer, reversal, SAF, batch,
#: recovery, TMS, tip, refund, EMV fallback, operator menu).
_HANDFUL = [
    "dup_paper_out_rerun",
    "dup_reversal_max_retries",
    "dup_clear_reversal",
    "dup_migration_saf_late",
    "amount_tip_twice",
    "refund_wrong_invoice_after_reset",
    "deposit_completion_resent_after_crash",
    "hardware_noise",
]


def _written(case, folder: Path) -> tuple[list[Path], dict[str, str]]:
    case.write(folder)
    paths = [folder / name for name in case.truth["inputs"]]
    return paths, {str(folder / d["file"]): d["tz"] for d in case.truth["devices"]}


def _app_events(case, folder: Path) -> pl.DataFrame:
    paths, tz = _written(case, folder)
    events = forensics.load(paths, tz=tz, card_key="test").events
    return (
        events.filter(pl.col("role") == "terminal", pl.col("kind") != "log")
        .with_columns(pl.col("path").str.split("/").list.last())
        .select("path", "line", *_FACTS)
        .sort("path", "line")
    )


@pytest.mark.parametrize("name", _OTHERS)
@pytest.mark.parametrize("family", _HANDFUL)
def test_every_fact_the_reference_line_carries_survives(tmp_path: Path, name: str, family: str) -> None:
    """Line by line, each style's app line gives the kind and every column the reference line gives."""
    ref = _app_events(simulate(family, 31), tmp_path / "reference")
    other = _app_events(simulate(family, 31, vendor=name), tmp_path / name)
    assert ref.height > 20
    joined = ref.join(other, on=["path", "line"], how="left", suffix="_v")
    assert joined["kind_v"].null_count() == 0, joined.filter(pl.col("kind_v").is_null()).head(3)
    for column in _FACTS:
        given = joined.filter(pl.col(column).is_not_null())
        same = pl.col(column) == pl.col(f"{column}_v")
        if column in VALUES:  # a word downstream does not compare (printer text) may stay in the vendor's words
            same = same | ~pl.col(column).is_in(list(VALUES[column]))
        differ = given.filter(pl.col(f"{column}_v").is_null() | ~same)
        assert differ.is_empty(), (column, differ.select("path", "line", column, f"{column}_v").head(3))
    assert other.height == ref.height  # and nothing else became an app event


def _findings(case, folder: Path) -> list[tuple]:
    paths, tz = _written(case, folder)
    found = diagnose(paths, tz=tz, card_key="test").document()["findings"]
    return sorted(
        (
            f["kind"],
            f["cause"],
            tuple(f["contributing"]),
            tuple(sorted((t["device"], t["stan"]) for t in f["transactions"])),
        )
        for f in found
    )


@pytest.mark.parametrize("name", _OTHERS)
@pytest.mark.parametrize("family", _HANDFUL[:5])
def test_every_style_gets_the_reference_findings(tmp_path: Path, name: str, family: str) -> None:
    """Same seed, same findings: kinds, causes, contributing causes and transaction keys."""
    ref = _findings(simulate(family, 32), tmp_path / "reference")
    assert ref and ref == _findings(simulate(family, 32, vendor=name), tmp_path / name)


def test_orbit_card_keys_mask_what_the_general_guard_would_not(tmp_path: Path) -> None:
    """A card number that is not Luhn-valid, under orbit's JSON card keys, is masked and recorded; the same
    digits under a MID in a reference ISO dump are not card data."""
    wrong = "4761739001010118"  # one digit off a test card: the general guard asks for Luhn
    log = tmp_path / "A920-0001.log"
    log.write_text(
        f'01-05 10:00:00.000  2311  2398 I TxnEngine: {{"evt":"card","card":{{"read":"icc","pan":"{wrong}"}}}}\n'
        "01-05 10:00:01.000  2311  2398 I HostLink-1: "
        f'{{"evt":"send","mti":"0200","de":{{"2":"{wrong}","3":"000000"}}}}\n'
        "01-05 10:00:02.000  2311  2398 I Comm    : TX 0200 DE3=000000 DE42=000000684361682\n",
        encoding="utf-8",
    )
    loaded = forensics.load([log], tz="UTC", year=2026)
    events = loaded.events.sort("line")
    assert events["card"].to_list()[:2] == ["476173******0118"] * 2
    assert events["mid"].to_list()[2] == "000000684361682"
    assert wrong not in "".join(events["text"].to_list() + events["message"].to_list())
    assert sorted(loaded.compliance["line"].to_list()) == [1, 2]


def test_shipped_vendor_card_keys_keep_reference_lines_on_the_fast_path() -> None:
    """orbit's card key "de.2" is a JSON key only: the screen that sends lines with card data to the Lark
    path does not take a reference ISO dump for one because of its 15-digit MID (DE42=...)."""
    from forensics.ingest import registry

    line = "05-06 08:37:35.582  3070  3157 I Comm    : TX 0200 DE3=000000 DE4=000000002858 DE42=000000684361682"
    assert not pl.Series([line]).str.contains(registry().card_screen).item()
    assert (
        pl.Series(['I HostLink-1: {"evt":"send","de":{"2":"4761739001010118"}}'])
        .str.contains(registry().card_screen)
        .item()
    )
