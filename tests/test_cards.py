"""Card data: masked from the first byte, never in any output, reported as compliance."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics
from forensics.cli import cli
from forensics.ingest.cards import CardGuard, luhn_ok, mask_pan, mask_shapes, required_text

PAN = "4761739001010010"  # Visa test card, Luhn-valid
PAN2 = "5413330089604111"
FULL = re.compile(r"(?<!\d)(?:4761739001010010|5413330089604111|476173900101|9001010010)(?!\d)")

SEEDED = {
    "term.log": "\n".join(
        [
            f"03-14 10:02:08.731  2311  2398 I TransProcess: CARD entry=chip pan={PAN} atc=001A",
            f"03-14 10:02:09.220  2311  2398 I Comm    : TX 0200 DE2={PAN} DE35={PAN}=25122011143804400000 DE52=1A2B3C4D5E6F7A8B DE4=000000004599 DE49=840",  # noqa: E501 (a log line as logged)
            f"03-14 10:02:09.221  2311  2398 D Debug   : track2={PAN}D25122011143804400000 pinblock=99AA",
            f"03-14 10:02:09.222  2311  2398 I Comm    : TX 0200 DE55=5A08{PAN}9F3602001A",
            f"03-14 10:02:09.223  2311  2398 I TransProcess: CARD entry=chip pan={PAN2}",
            f"broken line with pan={PAN} in it",
        ]
    ),
    "host.log": "\n".join(
        [
            '<log realm="c" at="2026-03-14T10:02:09.680"><receive><isomsg>',
            f'<field id="2" value="{PAN}"/><field id="35" value="{PAN}=2512201"/><field id="52" value="ABCDEF0123456789"/>',  # noqa: E501 (a log line as logged)
            "</isomsg></receive></log>",
        ]
    ),
    "settle.csv": "\n".join(
        [
            "settle_date,tid,mid,batch,stan,rrn,auth,proc,amount,currency,pan,atc,capture_ts",
            f"2026-03-14,T0001234,000000001234567,000012,000412,412110000412,A1B2C3,000000,45.99,USD,{PAN},001A,2026-03-14T10:02:11+00:00",
        ]
    ),
}


def _seed(tmp_path: Path) -> list[str]:
    paths = []
    for name, body in SEEDED.items():
        (tmp_path / name).write_text(body)
        paths.append(str(tmp_path / name))
    return paths


def test_luhn_and_mask() -> None:
    assert luhn_ok(PAN) and luhn_ok(PAN2) and not luhn_ok("4761739001010011")
    assert mask_pan(PAN) == "476173******0010"


def test_no_full_pan_in_any_table(tmp_path: Path) -> None:
    loaded = forensics.load(_seed(tmp_path), card_key="case-1")
    for frame in loaded:
        dump = frame.write_csv() + frame.write_ndjson()
        assert not FULL.search(dump), frame
    assert "[WIPED]" in loaded.events.filter(pl.col("line") == 2)["text"][0]
    assert "1A2B3C4D5E6F7A8B" not in loaded.events.write_csv()
    kinds = loaded.compliance.group_by("kind").len().sort("kind").rows()
    assert dict(kinds) == {"full_pan": 7, "pin_block": 3, "track_data": 3}
    assert set(loaded.compliance["masked"]) <= {"476173******0010", "541333******4111", "[WIPED]"}
    assert loaded.unparsed.filter(pl.col("text").str.contains("476173\\*{6}0010")).height == 1


def test_no_full_pan_in_cli_outputs(tmp_path: Path) -> None:
    paths = _seed(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for fmt in ("parquet", "jsonl", "csv"):
        result = CliRunner().invoke(
            cli,
            [
                "parse",
                *paths,
                "-o",
                str(out / f"e.{fmt}"),
                "--unparsed",
                str(out / f"u.{fmt}"),
                "--compliance",
                str(out / f"c.{fmt}"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert not FULL.search(result.output)
    for path in out.iterdir():
        text = pl.read_parquet(path).write_csv() if path.suffix == ".parquet" else path.read_text()
        assert not FULL.search(text), path


def test_card_id_is_keyed_and_joins_sightings(tmp_path: Path) -> None:
    paths = _seed(tmp_path)
    a = forensics.load(paths, card_key="case-1").events
    b = forensics.load(paths, card_key="case-2").events
    ids_a = a.filter(pl.col("card") == "476173******0010")["card_id"].unique().to_list()
    assert len(ids_a) == 1
    assert ids_a != b.filter(pl.col("card") == "476173******0010")["card_id"].unique().to_list()
    other = a.filter(pl.col("card") == "541333******4111")["card_id"].unique().to_list()
    assert other and other != ids_a


def test_masked_pans_get_one_format() -> None:
    text, found = CardGuard(b"k").protect('<field id="2" value="519360______2645"/>')
    assert text == '<field id="2" value="519360******2645"/>' and found == []


_PIECES = [
    "pan=",
    "DE2=",
    "DE35=",
    "DE52=",
    "DE55=",
    "DE55.5A=",
    "track2=",
    "pinblock=",
    '<field id="2" value="',
    "4761739001010010",
    "476173",
    "0010",
    "******",
    "___",
    "XX",
    "##",
    "*",
    "9F2608",
    "5A08",
    " ",
    "=",
    "a",
    "_",
    '"',
    "5413 3300 8902 0011",
    "3714-4963-5398-431",
    "PAN ",
    "cardNo:",
    "%B",
    "^DOE/J^",
    "2512",
    ";",
    "?",
    "-",
    ".",
    ":",
    "1",
    "mid=",
    '<field id="42" value="',
    "blk_",
]


@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
@settings(max_examples=400, deadline=None)
def test_card_screen_catches_every_line_protect_touches(text: str) -> None:
    """The fast path's screen is a superset of what the card guard masks, wipes or reports."""
    from forensics.ingest.cards import screen_pattern

    masked, found = CardGuard(b"k").protect(text)
    if masked != text or found:
        assert pl.Series([text]).str.contains(screen_pattern())[0], text


@pytest.mark.parametrize(
    "line",
    [
        "2026-04-08,T1441474,4111111111111111,000292,47.13",  # a CSV field after a field ending in a digit
        "2026-04-08,000000206317310,4111111111111111",
        "TX 0200 DE2:4111111111111111 DE4:000000004599",  # a colon-separated ISO dump
    ],
)
def test_a_card_number_after_a_number_and_a_comma_or_colon_is_masked(line: str) -> None:
    found: list = []
    masked = mask_shapes(line, found)
    assert "4111111111111111" not in masked and "411111******1111" in masked
    assert [s.kind for s in found] == ["full_pan"]


@pytest.mark.parametrize("text", ["amount 12,50 EUR", "10:02:05.123", "1,234,567", "12.4111111111111111"])
def test_decimal_fractions_and_time_fields_stay(text: str) -> None:
    assert mask_shapes(text) == text


def test_a_run_of_decimal_digits_is_a_number_not_hex_bytes_holding_a_bcd_card_number() -> None:
    """Bytes written without spaces are read as hex only when a letter A-F is among them: an id of decimal
    digits whose tail after a 13-19 "length" is Luhn-valid (an HDFS block id) is left as it is, the same digits
    inside a hex run are a card number packed in BCD and wiped."""
    from forensics.ingest.cards import CardGuard, screen_pattern

    guard = CardGuard("k")
    block = "Receiving block blk_-164111111111111111 src: /10.250.19.102:54106"
    assert guard.protect(block) == (block, [])
    assert not pl.Series([block]).str.contains(screen_pattern()).item()
    wire = "ISO out: 0200B23A800108E080001641111111111111110000000000000045990000"
    masked, found = guard.protect(wire)
    assert "4111111111111111" not in masked and [s.field for s in found] == ["BCD card number"]
    assert pl.Series([wire]).str.contains(screen_pattern()).item()


@pytest.mark.parametrize(
    ("pattern", "required"),
    [
        (r"\bDE2=(?P<v>\d{13,19})(?!\d)", "DE2="),
        (r'<field id="35" value="(?P<v>[^"]+)"', '<field id="35" value="'),
        (r"(?:^|[ :])2 {3}\S.{0,59}?: (?:b'\d+' )?b?'(?P<v>[^'\n]+)'?$", ": "),
        (r"(?i:\bpan)\s*[=:]\s*(?P<v>\d+)", ""),  # case-insensitive: no plain text is certain
        (r"(?i)DE2=(?P<v>\d+)", ""),
        (r"(?:DE2|F2)=(?P<v>\d+)", "="),
        (r"(?P<v>\d{13,19})", ""),
    ],
)
def test_required_text_is_in_every_match(pattern: str, required: str) -> None:
    assert required_text(re.compile(pattern)) == required


@given(st.text(alphabet='DEF2=<>field id"value35:[] 41x', max_size=60))
@settings(max_examples=300, deadline=None)
def test_the_guard_skips_a_context_only_when_its_text_is_missing(text: str) -> None:
    """Every match of every context of the shipped guard holds the context's required text: the guard never
    skips a context that would have matched."""
    text = text.replace("41x", "4111111111111111")
    for _, pattern, _, required in CardGuard(b"k")._contexts:
        for m in pattern.finditer(text):
            assert required in m.group(0), (pattern.pattern, text)
