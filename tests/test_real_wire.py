"""ISO 8583 wire dumps in terminal logs (issue 24): messages logged as their packed bytes, decoded
through a declared field spec (pyiso8583), their card data masked or wiped as in plain text. The
messages are built here with pyiso8583 from synthetic values (Luhn-valid test PANs)."""

from __future__ import annotations

import json
from pathlib import Path

import iso8583
import polars as pl
import pytest
from click.testing import CliRunner

import forensics
from forensics.cli import cli
from forensics.errors import DialectError
from forensics.ingest import registry
from forensics.ingest.dialect import Dialects, installed_sources
from forensics.ingest.wire import named_spec
from tests.test_fastpath import both
from tests.test_ingest import write

PAN = "4761739001010010"  # Visa's test card
PAN2 = "5413330089020011"  # a Mastercard test number, in ASCII inside a hex dump
REQUEST = {
    "t": "0200",
    "2": PAN,
    "3": "000000",
    "4": "000000004599",
    "11": "000412",
    "22": "051",
    "35": PAN + "D25122010000000000000",
    "41": "T0001234",
    "42": "000000001234567",
    "49": "840",
    "52": "0123456789ABCDEF",
    "55": "9F3602001A5A08" + PAN + "5F340101",
}
RESPONSE = {"t": "0210", "11": "000412", "37": "412110000412", "38": "A1B2C3", "39": "00", "41": "T0001234"}


def packed(doc: dict[str, str], spec: str = "bcd") -> str:
    raw, _ = iso8583.encode(dict(doc), named_spec(spec))
    return bytes(raw).hex().upper()


def logcat(second: int, message: str) -> str:
    return f"03-14 10:02:{second:02d}.120  1234  1250 I Comm    : {message}\n"


def _strings(frame: pl.DataFrame) -> str:
    return "\n".join(str(v) for c in frame.columns for v in frame[c].to_list())


def test_bcd_request_and_response_become_iso_events(tmp_path: Path) -> None:
    spaced = " ".join(packed(RESPONSE)[i : i + 2] for i in range(0, len(packed(RESPONSE)), 2))
    log = write(tmp_path, "a920.log", logcat(11, "ISO REQ: " + packed(REQUEST)) + logcat(12, "ISO RSP: " + spaced))
    loaded, _ = both([Path(log)])
    tx, rx = loaded.events.to_dicts()
    keys = ("kind", "mti", "stan", "tid", "mid", "amount", "exponent", "currency", "card", "atc")
    assert {k: tx[k] for k in keys} == {
        "kind": "iso.tx",
        "mti": "0200",
        "stan": "000412",
        "tid": "T0001234",
        "mid": "000000001234567",
        "amount": 4599,
        "exponent": 2,
        "currency": "USD",
        "card": "476173******0010",
        "atc": "001A",
    }
    assert {k: rx[k] for k in ("kind", "mti", "stan", "rrn", "auth", "rc", "tid")} == {
        "kind": "iso.rx",
        "mti": "0210",
        "stan": "000412",
        "rrn": "412110000412",
        "auth": "A1B2C3",
        "rc": "00",
        "tid": "T0001234",
    }
    # the dump in `text` is the decoded one, card data masked or wiped as a TX line's would be
    assert "DE2=476173******0010" in tx["text"] and "DE35=[WIPED]" in tx["text"] and "DE52=[WIPED]" in tx["text"]
    assert "DE55.5A=476173******0010" in tx["text"] and "DE55.9F36=001A" in tx["text"]
    assert sorted(zip(loaded.compliance["kind"], loaded.compliance["field"], strict=True)) == [
        ("full_pan", "DE2"),
        ("full_pan", "DE55.5A"),
        ("pin_block", "DE52"),
        ("track_data", "DE35"),
    ]
    assert set(loaded.compliance["masked"]) == {"476173******0010", "[WIPED]"}
    assert loaded.unparsed.height == 0


def test_a_dump_that_does_not_decode_is_unparsed_naming_field_and_position(tmp_path: Path) -> None:
    cut = packed(REQUEST)[:60]  # the PAN is whole, the message stops inside field 11
    odd = packed(RESPONSE)[:-1]
    log = write(tmp_path, "a920.log", logcat(13, "ISO REQ: " + cut) + logcat(14, "ISO RSP: " + odd))
    loaded, _ = both([Path(log)])
    assert loaded.events.height == 0
    first, second = loaded.unparsed.to_dicts()
    assert first["reason"] == (
        "ISO 8583 dump (spec bcd) does not decode: Field data is 2 bytes, expecting 3: field 11 pos 28"
    )
    assert first["text"].endswith("ISO REQ: [WIPED]")
    assert "odd number" in second["reason"]
    assert PAN not in _strings(loaded.unparsed)


def test_no_full_pan_in_any_frame_or_cli_output(tmp_path: Path) -> None:
    ascii_hex = packed({**REQUEST, "2": PAN2, "35": PAN2 + "=2512201", "55": "9F3602001A"}, "ascii")
    dialect = tmp_path / "vendor.toml"
    dialect.write_text(
        'name = "vendor"\ntags = ["Net"]\n'
        "[[wire]]\n"
        "match = 'send (?P<dump>[0-9A-F]{24,})'\n"
        'spec = "ascii"\n'
        "[[rule]]\n"
        'tag = "Net"\nkeyword = "send"\nkind = "iso.tx"\nargs = ["mti"]\nfields = "iso"\n',
        encoding="utf-8",
    )
    lines = (
        logcat(11, "ISO REQ: " + packed(REQUEST))
        + logcat(13, "ISO REQ: " + packed(REQUEST)[:60])
        + "03-14 10:02:15.000  1234  1250 I Net     : send "
        + ascii_hex
        + "\n"
    )
    log = write(tmp_path, "a920.log", lines)
    fast = forensics.load([log], dialects=[dialect], card_key="k", year=2026)
    slow = forensics.load([log], dialects=[dialect], card_key="k", year=2026, fast=False)
    for loaded in (fast, slow):
        everything = "\n".join(_strings(getattr(loaded, n)) for n in ("events", "unparsed", "compliance", "inputs"))
        for pan in (PAN, PAN2):
            assert pan not in everything
        assert PAN2.encode().hex().upper() not in everything  # nor its ASCII bytes in hex
    tx = fast.events.filter(pl.col("tag") == "Net").row(0, named=True)
    assert (tx["kind"], tx["card"], tx["stan"], tx["amount"]) == ("iso.tx", "541333******0011", "000412", 4599)
    out = tmp_path / "out"
    out.mkdir()
    runner = CliRunner()
    outputs = []
    for args in (
        ["parse", log, "-o", str(out / "e.jsonl"), "--format", "jsonl"]
        + ["--unparsed", str(out / "u.csv"), "--compliance", str(out / "c.csv")],
        ["timeline", log, "--all", "--format", "json"],
        ["diagnose", log, "--format", "json"],
    ):
        result = runner.invoke(cli, [*args, "--dialect", str(dialect), "--card-key", "k", "--year", "2026"])
        assert result.exit_code in (0, 3), result.output
        outputs.append(result.output)
    outputs += [p.read_text(encoding="utf-8") for p in sorted(out.iterdir())]
    for text in outputs:
        for pan in (PAN, PAN2):
            assert pan not in text


def test_specs_are_data_checked_at_load(tmp_path: Path) -> None:
    def dialect(wire: str) -> list[tuple[str, str]]:
        return [*installed_sources(), ("v.toml", f'name = "v"\ntags = ["Net"]\n[[wire]]\n{wire}\n')]

    good = "match = 'tx (?P<dump>[0-9A-F]+)'\nspec = \"bcd\"\n"
    assert len(Dialects(dialect(good)).wire) == len(Dialects().wire) + 1
    for wire, says in (
        ("match = 'tx ([0-9A-F]+)'\nspec = \"bcd\"", "no group 'dump'"),
        ("match = 'tx (?P<dump>[0-9A-F]+)'\nspec = \"visa\"", "is not a spec of iso8583_wire.toml"),
        (good + 'encoding = "base64"', "field 'encoding'"),
        (good + 'fields.2 = { max_len = "19" }', "fields.2.max_len': must be a int"),
        (good + 'fields.2 = { pad = "F" }', "not a spec key"),
        (good + 'kept = "yes"', "field 'kept'"),
        (good + "fields.300 = { max_len = 3 }", "not an ISO 8583 field"),
        (good + '[[wire.sample]]\ndump = "0210"\nexpect = { t = "0210" }', "sample 1: does not decode"),
    ):
        with pytest.raises(DialectError, match="v.toml: wire 1: ") as caught:
            Dialects(dialect(wire))
        assert says in str(caught.value)


def test_a_field_declared_one_by_one_changes_the_decoding(tmp_path: Path) -> None:
    """A vendor whose DE49 is ASCII, not BCD: one field changed on the bcd spec, in its dialect file."""
    spec = named_spec("bcd")
    vendor_spec = {**spec, "49": {**spec["49"], "data_enc": "ascii", "len_count": "bytes", "max_len": 3}}
    raw, _ = iso8583.encode({**REQUEST, "49": "978"}, vendor_spec)
    dialect = tmp_path / "vendor.toml"
    dialect.write_text(
        'name = "vendor"\ntags = ["Net"]\n'
        "[[wire]]\nmatch = 'out (?P<dump>[0-9A-F]+)'\nspec = \"bcd\"\n"
        'fields.49 = { data_enc = "ascii", len_count = "bytes", max_len = 3 }\n'
        '[[rule]]\ntag = "Net"\nkeyword = "out"\nkind = "iso.tx"\nargs = ["mti"]\nfields = "iso"\n',
        encoding="utf-8",
    )
    log = write(tmp_path, "v.log", logcat(20, "").replace("Comm    : ", "Net: out " + bytes(raw).hex().upper()))
    loaded = forensics.load([log], dialects=[dialect], card_key="k", year=2026)
    event = loaded.events.row(0, named=True)
    assert (event["kind"], event["currency"], event["amount"], event["exponent"]) == ("iso.tx", "EUR", 4599, 2)
    assert json.loads(event["attrs"])["DE55.5A"] == "476173******0010"


def test_wire_lines_are_kept_off_the_fast_path() -> None:
    line = logcat(11, "ISO REQ: " + packed(REQUEST)).strip()
    assert pl.Series([line]).str.contains(registry().card_screen).item()


@pytest.mark.parametrize(
    ("doc", "shown"),
    [
        # DE55 not whole BER-TLV (a length one byte short): card data in it cannot be found, so none of it shows
        ({**REQUEST, "55": "9F3602001A5A07" + PAN + "5F340101"}, "DE55=[WIPED]"),
        # a card number glued to letters in a text element, a 5A whose value is no card number
        ({**REQUEST, "48": "X" + PAN + "Y"}, "DE48=[WIPED]"),
        ({**REQUEST, "55": "5A08" + PAN[:-1] + "A"}, "DE55.5A=[WIPED]"),
        ({**REQUEST, "45": "B" + PAN + "^TEST/CARD^2512201"}, "DE45=[WIPED]"),
        ({**REQUEST, "45": "B" + PAN + "^TEST CARD^2512201"}, "DE45=[WIPED]"),
    ],
)
def test_card_data_the_guard_could_miss_is_wiped_when_decoded(tmp_path: Path, doc: dict[str, str], shown: str) -> None:
    spec = named_spec("bcd")
    spec = {**spec, "48": {**spec["48"], "len_enc": "bcd", "len_type": 2}, "45": {**spec["45"], "len_enc": "bcd"}}
    dialect = tmp_path / "vendor.toml"
    dialect.write_text(
        'name = "vendor"\ntags = ["Net"]\n'
        "[[wire]]\nmatch = 'out (?P<dump>[0-9A-F]+)'\nspec = \"bcd\"\n"
        'fields.48 = { len_enc = "bcd", len_type = 2 }\nfields.45 = { len_enc = "bcd" }\n'
        '[[rule]]\ntag = "Net"\nkeyword = "out"\nkind = "iso.tx"\nargs = ["mti"]\nfields = "iso"\n',
        encoding="utf-8",
    )
    raw, _ = iso8583.encode(doc, spec)
    log = write(tmp_path, "v.log", logcat(20, "").replace("Comm    : ", "Net: out " + bytes(raw).hex().upper()))
    loaded = forensics.load([log], dialects=[dialect], card_key="k", year=2026)
    text = loaded.events["text"][0]
    assert shown in text and PAN not in text and PAN[:12] not in text
    assert loaded.events["card"][0] == "476173******0010"
