"""ISO 8583 messages pretty-printed by a library into another format's log (pyiso8583's
``iso8583.pp()``, jPOS's ``ISOMsg.dump``), the bytes jPOS could not unpack (``--- data ---``), and
card numbers packed in BCD in hex bytes. Every line here was written for these tests, in the
shapes ``iso8583.pp`` (pyiso8583 4.0.1) and jPOS print; the card numbers are test numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

import forensics
from forensics.errors import FormatError
from forensics.ingest import embedded
from forensics.ingest.cards import HEX_SCREEN, CardGuard, bcd_pans, screen_pattern
from tests.test_fastpath import both
from tests.test_ingest import assert_conserved, write
from tests.test_real_jpos import hexdump

PAN = "4111111111111111"  # Visa's test card number (Luhn-valid)
PAN2 = "5555555555554444"  # Mastercard's
ODD = "1234567890123456"  # no Luhn: masked all the same on a pp PAN line

PP_REQUEST = [
    "t   Message Type                  : '0200'",
    "p   Bitmap, Primary               : '7020000000C08000'",
    f"2   Primary Account Number (PAN)  : '{PAN}'",
    "3   Processing Code               : '000000'",
    "4   Amount, Transaction           : '000000004599'",
    "11  System Trace Audit Number     : '000412'",
    "41  Card Acceptor Terminal ID     : 'T0001234'",
    "42  Card Acceptor ID Code         : '000000001234567'",
    "49  Currency Code, Transaction    : '978'",
    "63  Reserved Private              : 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX'",
    "                                    'XXXXXXXXXXXXXXXX'",
]
PP_RESPONSE_BYTES = [
    "t   Message Type                  : b'0210'",
    "p   Bitmap, Primary               : b'7020000006800000'",
    f"2   Primary Account Number (PAN)  : b'16' b'{PAN2[:8]}'",
    f"                                           b'{PAN2[8:]}'",
    "11  System Trace Audit Number     : b'000412'",
    "37  Retrieval Reference Number    : b'412110000412'",
    "38  Authorization ID Response     : b'A1B2C3'",
    "39  Response Code                 : b'00'",
    "41  Card Acceptor Terminal ID     : b'T0001234'",
]


def no_pan(loaded: forensics.Loaded, *pans: str) -> None:
    """No full card number in any string cell of any table."""
    for frame in loaded:
        for column in frame.columns:
            if frame[column].dtype == pl.String:
                for value in frame[column].drop_nulls():
                    for pan in pans:
                        assert pan not in value, (column, value)


def test_pp_in_a_log4j_app_log_is_one_event_timed_by_the_line_before(tmp_path: Path) -> None:
    lines = [
        "2026-03-14 10:02:11,204 INFO [main] [com.shop.Pos] sending request",
        *PP_REQUEST,
        "2026-03-14 10:02:12,950 INFO [main] [com.shop.Pos] got response",
        *PP_RESPONSE_BYTES,
        "2026-03-14 10:02:13,001 INFO [main] [com.shop.Pos] done",
    ]
    fast, _ = both([Path(write(tmp_path, "app.log", "\n".join(lines) + "\n"))])
    assert_conserved(fast)
    no_pan(fast, PAN, PAN2)
    blocks = fast.events.filter(pl.col("mti").is_not_null())
    assert blocks.height == 2 and fast.unparsed.height == 0
    request, response = blocks.iter_rows(named=True)
    assert (request["line"], request["line_end"], request["mti"], request["stan"]) == (2, 12, "0200", "000412")
    assert (request["amount"], request["currency"], request["tid"]) == (4599, "EUR", "T0001234")
    assert request["card"] == "411111******1111"
    assert request["ts"].isoformat() == "2026-03-14T10:02:11.204000+00:00"
    assert json.loads(request["attrs"])["DE63"] == "X" * 58  # the wrapped value joined
    assert (response["mti"], response["rrn"], response["rc"], response["auth"]) == (
        "0210",
        "412110000412",
        "00",
        "A1B2C3",
    )
    assert response["card"] == "555555******4444"  # cut across two lines in the encoded form, joined and masked
    assert response["ts"].isoformat() == "2026-03-14T10:02:12.950000+00:00"
    assert sorted(fast.compliance["masked"].to_list()) == ["411111******1111", "555555******4444"]


def test_pp_in_logcat_each_line_enveloped_gets_a_kind_by_its_mti(tmp_path: Path) -> None:
    def logcat(message: str, at: str = "10:02:11.300") -> str:
        return f"03-14 {at}  2311  2398 D IsoLog  : {message}"

    lines = [
        logcat("START type=SALE", "10:02:11.204").replace("D IsoLog  ", "I TransProcess"),
        *(logcat(line) for line in PP_REQUEST),
        *(logcat(line, "10:02:12.500") for line in PP_RESPONSE_BYTES),
    ]
    fast, _ = both([Path(write(tmp_path, "pos.log", "\n".join(lines) + "\n"))])
    assert_conserved(fast)
    no_pan(fast, PAN, PAN2)
    blocks = fast.events.filter(pl.col("mti").is_not_null())
    assert blocks["kind"].to_list() == ["iso.tx", "iso.rx"]  # an originator's message, then a response
    assert blocks["tag"].to_list() == ["IsoLog", "IsoLog"]
    assert blocks["line"].to_list() == [2, 13] and blocks["line_end"].to_list() == [12, 21]
    assert [t.isoformat()[11:23] for t in blocks["ts"]] == ["10:02:11.300", "10:02:12.500"]


def test_a_header_line_opens_the_block_and_a_second_mti_opens_the_next(tmp_path: Path) -> None:
    lines = ["2026-03-14 10:02:11,204 INFO [main] [com.shop.Pos] two messages, printed back to back"]
    lines += ["h   Message Header                : 'ISO016000055'", *PP_REQUEST, *PP_RESPONSE_BYTES]
    loaded = forensics.load([write(tmp_path, "app.log", "\n".join(lines) + "\n")], card_key="k")
    assert_conserved(loaded)
    blocks = loaded.events.filter(pl.col("mti").is_not_null())
    assert blocks.select("line", "line_end", "mti").rows() == [(2, 13, "0200"), (14, 22, "0210")]
    assert json.loads(blocks["attrs"][0]) == {"DE63": "X" * 58, "embedded": "pyiso8583_pp"}  # no header, no bitmap


def test_a_card_number_wrapped_one_digit_a_line_is_masked(tmp_path: Path) -> None:
    # iso8583.pp(doc, spec, line_width=20) writes each character of a long value on a line of its own
    lines = ["Nov 18 08:30:20 pos7 app[311]: sending", "t   Message Type                  : '0200'"]
    lines += ["2   Primary Account Number (PAN)  : '4'"] + [f"{' ' * 36}'{d}'" for d in PAN[1:]]
    lines += ["11  System Trace Audit Number     : '000413'"]
    loaded = forensics.load([write(tmp_path, "sys.log", "\n".join(lines) + "\n")], card_key="k", year=2026)
    assert_conserved(loaded)
    no_pan(loaded, PAN)
    event = loaded.events.filter(pl.col("mti") == "0200").row(0, named=True)
    assert event["card"] == "411111******1111" and event["stan"] == "000413"
    assert loaded.compliance.select("line", "field", "masked").rows() == [(2, "pp field 2", "411111******1111")]


def test_a_broken_block_is_unparsed_with_its_reason_and_its_card_number_masked(tmp_path: Path) -> None:
    lines = [
        "2026-03-14 10:02:11,204 INFO [main] [com.shop.Pos] sending request",
        "t   Message Type                  : '0200'",
        f"2   Primary Account Number (PAN)  : '{ODD}'",
        "4   Amount, Transaction           : '00000000459",  # the line cut short
        "2026-03-14 10:02:12,204 INFO [main] [com.shop.Pos] no MTI below",
        "h   Message Header                : 'ISO016000055'",
        f"2   Primary Account Number (PAN)  : '{ODD}'",
    ]
    loaded = forensics.load([write(tmp_path, "app.log", "\n".join(lines) + "\n")], card_key="k")
    assert_conserved(loaded)
    no_pan(loaded, ODD)
    rows = loaded.unparsed.select("line", "line_end", "reason").rows()
    assert rows == [
        (2, 4, "a pyiso8583_pp block: line 4: field 4: its value is no whole literal"),
        (6, 7, "a pyiso8583_pp block: no message type (MTI)"),
    ]
    assert "123456******3456" in loaded.unparsed["text"][0]


def test_a_jpos_dump_printed_into_logcat_is_read_and_one_cut_short_says_so(tmp_path: Path) -> None:
    def logcat(message: str) -> str:
        return f"03-14 10:02:12.000  2311  2398 D IsoDump: {message}"

    dump = [
        '<isomsg direction="incoming">',
        "  <!-- org.jpos.iso.packager.GenericPackager[iso87ascii.xml] -->",
        '  <field id="0" value="0210"/>',
        '  <field id="11" value="000412"/>',
        '  <field id="37" value="412110000412"/>',
        '  <field id="39" value="00"/>',
        '  <field id="41" value="T0001234"/>',
        "</isomsg>",
    ]
    lines = [logcat(line) for line in dump + dump[:4]] + ["03-14 10:02:13.000  2311  2398 I TransProcess: END"]
    fast, _ = both([Path(write(tmp_path, "pos.log", "\n".join(lines) + "\n"))])
    assert_conserved(fast)
    event = fast.events.filter(pl.col("mti").is_not_null()).row(0, named=True)
    assert (event["kind"], event["stan"], event["rrn"], event["rc"], event["tid"]) == (
        "iso.rx",
        "000412",
        "412110000412",
        "00",
        "T0001234",
    )
    assert fast.unparsed.select("line", "line_end", "reason").rows() == [
        (9, 12, "a jpos_dump block with no closing line (it stops at line 12)")
    ]


def test_a_jpos_dump_with_de55_as_nested_fields_is_one_block_its_card_data_masked(tmp_path: Path) -> None:
    """DE55 dumped by a packager of its own: ``<isomsg id="55">`` with a field per EMV tag, read as 55.<tag>."""

    def logcat(message: str) -> str:
        return f"03-14 10:02:12.000  2311  2398 D IsoDump: {message}"

    dump = [
        '<isomsg direction="outgoing">',
        '  <field id="0" value="0200"/>',
        f'  <field id="2" value="{PAN}"/>',
        '  <field id="11" value="000412"/>',
        '  <isomsg id="55">',
        f'    <field id="5A" value="{PAN}"/>',
        f'    <field id="57" value="{PAN}D25122011000"/>',
        '    <field id="9F36" value="001A"/>',
        '    <field id="95" value="0000008000"/>',
        "  </isomsg>",
        '  <field id="41" value="T0001234"/>',
        "</isomsg>",
    ]
    lines = [logcat(line) for line in dump] + ["03-14 10:02:13.000  2311  2398 I TransProcess: END"]
    fast, _ = both([Path(write(tmp_path, "pos.log", "\n".join(lines) + "\n"))])
    assert_conserved(fast)
    no_pan(fast, PAN)
    assert fast.unparsed.height == 0
    event = fast.events.row(0, named=True)
    assert (event["line"], event["line_end"], event["kind"], event["mti"], event["stan"], event["tid"]) == (
        1,
        12,
        "iso.tx",
        "0200",
        "000412",
        "T0001234",
    )
    assert json.loads(event["attrs"])["emv"] == (
        "5A PAN; 57 Track 2 Equivalent Data; 9F36 ATC 001A; 95 TVR 0000008000 (transaction exceeds floor limit)"
    )
    assert fast.compliance.select("line", "masked").rows() == [(n, "411111******1111") for n in (3, 6, 7)]
    assert '<field id="57" value="[WIPED]"/>' in event["text"]


def test_nested_fields_with_numeric_ids_and_packager_comments_read_as_subfields(tmp_path: Path) -> None:
    """A tagged-fields packager's DE48 and DE54 (``<isomsg id="48">``, its own packager comment, subfield ids
    that are numbers) inside a dump printed by a log4j app: one block, subfields as 48.<id>, not fields."""
    dump = [
        '<isomsg direction="incoming">',
        '  <field id="0" value="1110"/>',
        '  <field id="11" value="120866"/>',
        '  <isomsg id="48">',
        "    <!-- org.jpos.iso.packager.GenericTaggedFieldsPackager -->",
        '    <field id="2" value="702"/>',
        '    <field id="11" value="9"/>',
        "  </isomsg>",
        '  <isomsg id="54">',
        '    <field id="5" value="000000474648"/>',
        "  </isomsg>",
        '  <field id="39" value="000"/>',
        "</isomsg>",
    ]
    lines = ["2022-09-25 12:16:04,787 INFO [main] [com.shop.Gw] received:", *dump]
    fast, _ = both([Path(write(tmp_path, "gw.log", "\n".join(lines) + "\n"))])
    assert_conserved(fast)
    block = fast.events.filter(pl.col("mti").is_not_null()).row(0, named=True)
    assert (block["line"], block["line_end"], block["stan"], block["rc"]) == (2, 14, "120866", "000")
    attrs = json.loads(block["attrs"])
    assert {k: v for k, v in attrs.items() if k.startswith("DE")} == {
        "DE48.2": "702",
        "DE48.11": "9",
        "DE54.5": "000000474648",
    }
    assert attrs["embedded"] == "jpos_dump"


def test_a_block_is_never_split_between_batches(tmp_path: Path) -> None:
    head = [f"2026-03-14 10:02:{i:02d},000 INFO [main] [com.shop.Pos] tick {i}" for i in range(40)]
    lines = head + PP_REQUEST + head
    path = write(tmp_path, "app.log", "\n".join(lines) + "\n")
    whole = forensics.load([path], card_key="k")
    for size in (1 << 10, 3 << 10):  # batches cut every few dozen lines
        cut = forensics.load([path], card_key="k", batch_bytes=size)
        assert cut.events.drop("ts").equals(whole.events.drop("ts"))
    assert whole.events.filter(pl.col("mti") == "0200")["line_end"].to_list() == [40 + len(PP_REQUEST)]


def test_block_forms_are_data_checked_at_load() -> None:
    raw = {
        "hint": ["t "],
        "first": "^t ",
        "line": "^(?P<key>t) (?P<value>.*)$",
        "kinds": {"terminal": ["iso.tx", "iso.rx"]},
    }
    assert embedded._form("x", raw).name == "x"
    for change, says in (
        ({"line": "^(?P<key>t) .*$"}, "no group 'value'"),
        ({"first": "("}, "field 'first': bad regular expression"),
        ({"value": "json"}, "field 'value'"),
        ({"kinds": {"terminal": ["iso.tx"]}}, "field 'kinds'"),
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"hint": []}, "field 'hint'"),
    ):
        with pytest.raises(FormatError, match=re.escape(says)):
            embedded._form("x", {**raw, **change})
    assert {form.name for form in embedded.forms()} == {"pyiso8583_pp", "jpos_dump"}


# --- bytes jPOS could not unpack, and card numbers packed in BCD ------------------------------------


def jpos_block(at: str, data: bytes) -> list[str]:
    return [
        f'<log realm="server-8005/127.0.0.1:64244" at="{at}" lifespan="3ms">',
        "  <receive>",
        "    <iso-exception>",
        "      org.jpos.iso.IFA_LLLCHAR: Problem unpacking field 36",
        "    </iso-exception>",
        "    --- data ---",
        *("    " * (not i) + line for i, line in enumerate(hexdump(data))),  # jPOS indents the first line only
        "  </receive>",
        "</log>",
    ]


def test_jpos_data_bytes_are_decoded_or_say_why_not(tmp_path: Path) -> None:
    ascii_request = f"02007020000000C08000{len(PAN)}{PAN}000000000000004599000412T0001234000000001234567978".encode()
    bcd_pan = bytes.fromhex("0200F2") + bytes([0x16]) + bytes.fromhex(PAN2) + b"00000000000000000000000000"
    first = jpos_block("2019-09-08T14:06:37.568", ascii_request)
    lines = first + jpos_block("2019-09-08T14:06:38.568", bcd_pan)
    loaded = forensics.load([write(tmp_path, "q2.log", "\n".join(lines) + "\n")], card_key="k")
    assert_conserved(loaded)
    no_pan(loaded, PAN, PAN2)
    decoded, undecoded = loaded.events.iter_rows(named=True)
    assert (decoded["kind"], decoded["mti"], decoded["stan"], decoded["tid"]) == (
        "host.error",
        "0200",
        "000412",
        "T0001234",
    )
    assert (decoded["amount"], decoded["currency"], decoded["card"]) == (4599, "EUR", "411111******1111")
    assert "0200 DE2=411111******1111 DE3=000000" in decoded["message"]
    assert undecoded["mti"] is None and undecoded["kind"] == "host.error"
    assert json.loads(undecoded["attrs"])["undecoded"].startswith("ISO 8583 dump (spec ascii) does not decode: ")
    assert "0000  [WIPED]" in undecoded["text"]  # the BCD card number found in the hex column
    assert loaded.compliance.select("line", "field", "masked").rows() == [
        (1, "DE2", "411111******1111"),
        (len(first) + 1, "hexdump BCD card number", "555555******4444"),
    ]


@pytest.mark.parametrize("prefix", [b"", b"\x16", b"\x00\x2a"])
def test_an_xml_message_on_the_wire_says_so(tmp_path: Path, prefix: bytes) -> None:
    """jPOS's XMLChannel sends ``<isomsg>`` as text (behind a length or not): no ISO 8583 spec reads it."""
    xml = b'<isomsg> <field id="0" value="0800" /> <field id="11" value="000001" /></isomsg>'
    lines = jpos_block("2019-09-08T14:06:37.568", prefix + xml)
    loaded = forensics.load([write(tmp_path, "q2.log", "\n".join(lines) + "\n")], card_key="k")
    assert json.loads(loaded.events["attrs"][0])["undecoded"] == (
        "ISO 8583 dump (spec ascii) does not decode: an XML message (jPOS XMLPackager: <isomsg> as text on the"
        " wire), not ISO 8583 packed fields"
    )


def spaced(digits: str) -> str:
    """Digits as hex bytes written one by one: ``41 11 11 ...``."""
    return " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))


@pytest.mark.parametrize(
    "line",
    [
        f"03-14 10:02:11.300  2311  2398 D Comm: 0010  16 {spaced(PAN)}  00 00 30 30",
        f"Nov 18 08:30:20 pos7 comm[311]: TX 02 00 70 20 00 00 00 C0 80 00 16  {spaced(PAN2)}",
        f"Nov 18 08:30:20 pos7 comm[311]: TX 0200702000000AC0800210{PAN}000000",  # binary length 0x10, unspaced
        f"Nov 18 08:30:20 pos7 comm[311]: TX 0200 13 {spaced('4222222222222F')} 00",  # 13 digits, F after
        # a track 2 packed in BCD whatever its length byte (37: the track's digits): card, D, expiry
        f"Nov 18 08:30:20 pos7 comm[311]: TX 35 37 {spaced(PAN)} D2 51 22 01 10 00 00",
        f"Nov 18 08:30:20 pos7 comm[311]: TX 00 {spaced('0378282246310005D25122011')}",  # 15 digits, 0 before
        f"Nov 18 08:30:20 pos7 comm[311]: TX 0200702000000AC0800037{PAN}D25122011000",  # unspaced
    ],
)
def test_a_bcd_card_number_in_hex_bytes_is_screened_and_wiped(line: str) -> None:
    assert re.search(f"{screen_pattern()}|{HEX_SCREEN}", line)  # off the fast path
    assert pl.Series([line]).str.contains(screen_pattern()).item() or pl.Series([line]).str.contains(HEX_SCREEN).item()
    text, found = CardGuard(b"k").protect(line)
    assert "[WIPED]" in text and [s.field for s in found] == ["BCD card number"]
    for pan in (PAN, PAN2, "4222222222222"):
        assert pan not in text.replace(" ", "")


def test_bcd_pans_wants_a_length_byte_and_luhn() -> None:
    assert bcd_pans(bytes([0x16]) + bytes.fromhex(PAN)) == [(1, 9, PAN)]
    assert bcd_pans(bytes([0x10]) + bytes.fromhex(PAN)) == [(1, 9, PAN)]  # binary length
    assert bcd_pans(bytes([0x15]) + bytes.fromhex(PAN)) == []  # 15 digits of it do not pass Luhn
    assert bcd_pans(bytes([0x16]) + bytes.fromhex(ODD)) == []
    assert bcd_pans(bytes.fromhex(PAN) * 2) == []  # no length byte
    assert CardGuard(b"k").protect("0010  16 12 34 56 78 90 12 34 56  ........") == (
        "0010  16 12 34 56 78 90 12 34 56  ........",
        [],
    )


#: an ISO 8583 request in ASCII with a binary bitmap (field 2 "16" + the card, field 3, field 4), and a track 2
ASCII_ISO = b"0200" + bytes.fromhex("7234054128C28A00") + b"16" + PAN.encode() + b"000000000000012500"
ASCII_TRACK = b"37" + PAN.encode() + b"=25122011000000000000"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("TX " + " ".join(f"{b:02X}" for b in ASCII_ISO), "hex ISO 8583 field 2"),
        ("TX " + ASCII_ISO.hex().upper(), "hex ISO 8583 field 2"),
        ("tx: " + ASCII_ISO.hex(), "hex ISO 8583 field 2"),
        ("TX " + " ".join(f"{b:02X}" for b in ASCII_TRACK), "hex ISO 8583 field 35"),
        ("\n".join(hexdump(ASCII_ISO)), "hexdump ISO 8583 field 2"),
    ],
)
def test_a_message_written_as_characters_logged_in_hex_bytes_is_wiped(line: str, field: str) -> None:
    """The bytes read as characters: what protect finds there, and an ISO 8583 message's field 2 (a length
    of 13-19 at a run of digit characters, that many digits Luhn-valid, a processing code after them)."""
    assert pl.Series([line]).str.contains(screen_pattern()).item() or pl.Series([line]).str.contains(HEX_SCREEN).item()
    text, found = CardGuard(b"k").protect(line)
    assert [(s.field, s.masked) for s in found] == [(field, "411111******1111")]
    assert PAN.encode().hex() not in re.sub(r"[^0-9a-f]", "", text.lower())


@pytest.mark.parametrize(
    "line",
    [
        "key 30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 plain",  # digits, no card
        "TX " + " ".join(f"{b:02X}" for b in b"1733431541093123456"),  # an epoch in nanoseconds
        "TX " + " ".join(f"{b:02X}" for b in b"16" + PAN.encode()),  # no field after it: no message
        "TX " + " ".join(f"{b:02X}" for b in b"0200" + bytes(8) + b"16" + ODD.encode() + b"000000"),  # no Luhn
        "TX " + spaced(PAN) + " D2 51",  # no expiry after the separator
    ],
)
def test_digits_as_characters_in_hex_bytes_that_hold_no_card_stay(line: str) -> None:
    assert CardGuard(b"k").protect(line) == (line, [])


def test_messages_in_hex_bytes_read_on_both_paths(tmp_path: Path) -> None:
    rows = [
        "Nov 18 08:30:19 pos7 comm[311]: hello",
        "Nov 18 08:30:20 pos7 comm[311]: TX " + " ".join(f"{b:02X}" for b in ASCII_ISO),
        f"Nov 18 08:30:21 pos7 comm[311]: RX 35 37 {spaced(PAN)} D2 51 22 01 10 00 00",
        "Nov 18 08:30:22 pos7 comm[311]: key 30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36",
    ]
    loaded, _ = both([write(tmp_path, "pos.log", "\n".join(rows) + "\n")])
    assert_conserved(loaded)
    no_pan(loaded, PAN)
    assert loaded.events["message"].to_list() == ["hello", "TX [WIPED]", "RX 35 37 [WIPED]", rows[3][32:]]
    assert loaded.compliance.select("line", "field").rows() == [(2, "hex ISO 8583 field 2"), (3, "BCD card number")]


# --- a hexdump written one row to a line: a card number cut by a row's end --------------------------


def android_hexdump(data: bytes) -> list[str]:
    """``data`` as Android's ``HexDump.dumpHexString`` writes it (0x and 8 hex digits, 16 bytes, characters)."""
    out = []
    for at in range(0, len(data), 16):
        row = data[at : at + 16]
        chars = "".join(chr(b) if 32 < b < 126 else "." for b in row)
        out.append(f"0x{at:08X} " + " ".join(f"{b:02X}" for b in row) + (f" {chars}" if len(row) == 16 else ""))
    return out


#: an ISO 8583 request with a BCD card number at bytes 11-19: its length byte ends the first 16-byte row
CUT_BCD = bytes.fromhex("02007020000000C08000") + b"\x00\x00\x00\x00\x00" + bytes([0x16]) + bytes.fromhex(PAN)
CUT_BCD += b"\x00\x00\x00\x00\x00\x00\x45\x99\x00\x04\x12" + b"T0001234"
#: the same with its digits as text, cut after the fourth; and within one row
CUT_TEXT = b"0200 ACCT:xx" + PAN.encode() + b" AMT 000000004599"
ROW_TEXT = b"0200 ACCT:xxxxxx" + PAN.encode() + b" AMT 000000004599"


def logcat_rows(rows: list[str], tag: str = "Comm") -> list[str]:
    return [f"03-14 10:02:11.{300 + i:03d}  2311  2398 D {tag}: {row}" for i, row in enumerate(rows)]


@pytest.mark.parametrize(
    ("lines", "at", "field"),
    [
        # jPOS ISOUtil.hexdump rows, one to a logcat line; the card's length byte ends the first row
        (logcat_rows(hexdump(CUT_BCD)), 1, "hexdump across lines BCD card number"),
        # Android's HexDump.dumpHexString: logcat writes each line of the message as a line of its own
        (logcat_rows(android_hexdump(CUT_BCD)), 1, "hexdump across lines BCD card number"),
        (logcat_rows(hexdump(CUT_TEXT)), 1, "hexdump across lines card number"),  # digits as text, cut
        (logcat_rows(hexdump(ROW_TEXT)), 2, "hexdump card number"),  # in one row, the hex read as text
        (  # another record between the rows
            [
                *logcat_rows(hexdump(CUT_BCD)[:1]),
                "03-14 10:02:11.305  2311  2311 I Ui: wait",
                *logcat_rows(hexdump(CUT_BCD)[1:]),
            ],
            1,
            "hexdump across lines BCD card number",
        ),
        (
            [f"Nov 18 08:30:20 pos7 comm[311]: {row}" for row in android_hexdump(CUT_BCD)],
            1,
            "hexdump across lines BCD card number",
        ),
    ],
)
def test_card_data_in_hexdump_rows_written_one_to_a_line_is_wiped(
    tmp_path: Path, lines: list[str], at: int, field: str
) -> None:
    path = write(tmp_path, "pos.log", "\n".join(lines) + "\n")
    loaded, _ = both([path])
    assert_conserved(loaded)
    no_pan(loaded, PAN)
    texts = [*loaded.events["text"].to_list(), *loaded.unparsed["text"].to_list()]
    for pan in (PAN, PAN.encode().hex().upper()):  # BCD, or the digits' ASCII codes
        assert pan not in "".join(re.sub(r"[^0-9A-F]", "", t.rsplit(": ", 1)[-1].upper()) for t in texts)
    assert loaded.compliance.select("line", "field", "masked").rows() == [(at, field, "411111******1111")]
    assert [t.endswith("[WIPED]") for t in texts] == [" I Ui: " not in t for t in lines]


def test_hexdump_rows_without_card_data_stay_as_logged(tmp_path: Path) -> None:
    clean = CUT_BCD.replace(bytes.fromhex(PAN), bytes.fromhex("55" * 8))  # no Luhn: no card number
    lines = logcat_rows(hexdump(clean)) + logcat_rows(android_hexdump(clean), "Hex")
    loaded, _ = both([write(tmp_path, "pos.log", "\n".join(lines) + "\n")])
    assert loaded.compliance.is_empty()
    assert sorted([*loaded.events["text"].to_list(), *loaded.unparsed["text"].to_list()]) == sorted(lines)


def test_a_card_number_cut_across_rows_of_many_small_logs_is_wiped(tmp_path: Path) -> None:
    """The sweep's path: many small inputs through the fast path at once (``_fast_together``)."""
    paths = [write(tmp_path, f"pos{i}.log", "\n".join(logcat_rows(hexdump(CUT_BCD))) + "\n") for i in range(3)]
    out = tmp_path / "events.parquet"
    tables = forensics.write_parquet(paths, out, card_key="k")
    events = pl.read_parquet(out)
    assert not any(PAN in re.sub(r"[^0-9A-F]", "", t) for t in events["text"])
    assert tables.compliance.filter(pl.col("field").str.starts_with("hexdump across lines")).height == 3
