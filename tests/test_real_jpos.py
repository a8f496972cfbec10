"""jPOS Q2 logs as real deployments write them (issue 24): every ``at=`` form jPOS versions have
written, zone names, excerpts cut mid-block, CMF and ISOAmount amounts, padded values, the
message families. Each block here is written for this test to reproduce a real shape; every
block is read right on both paths (fast and Lark) or left unset/unparsed with a reason."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

import forensics
from forensics.ingest import registry
from tests.test_fastpath import both
from tests.test_ingest import assert_conserved, write


def block(at: str, *fields: tuple[str, str], tag: str = "receive", attrs: str = "") -> str:
    """A plain jPOS block (one isomsg), as LogEvent.dump writes it."""
    lines = [f'<log realm="channel/10.1.2.3:8000" at="{at}"{attrs}>', f"  <{tag}>", "    <isomsg>"]
    lines += [f'      <field id="{fid}" value="{value}"/>' for fid, value in fields]
    return "\n".join([*lines, "    </isomsg>", f"  </{tag}>", "</log>"]) + "\n"


MSG = (("0", "0200"), ("11", "000412"), ("41", "T0001234"))


@pytest.mark.parametrize(
    ("at", "utc"),
    [
        ("2024-03-02T10:15:22.118", "2024-03-02 10:15:22.118"),  # LocalDateTime (jPOS 2), local in --tz
        ("2024-03-02T10:15:22.118204", "2024-03-02 10:15:22.118204"),  # Java 9+ micros
        ("2024-03-02T10:15:22", "2024-03-02 10:15:22"),  # LocalDateTime leaves out a zero fraction...
        ("2024-03-02T10:15", "2024-03-02 10:15:00"),  # ...and zero seconds
        ("2024-03-02 10:15:22.118", "2024-03-02 10:15:22.118"),  # a formatter with a space
        ("2024-03-02T10:15:22.118Z", "2024-03-02 10:15:22.118"),  # Instant
        ("2024-03-02T07:15:22.118-03:00", "2024-03-02 10:15:22.118"),  # OffsetDateTime
        ("2024-03-02T07:15:22.118-03:00[America/Montevideo]", "2024-03-02 10:15:22.118"),  # ZonedDateTime
        ("Sat Mar 02 07:15:22 UYT 2024.118", "2024-03-02 10:15:22.118"),  # Date.toString() + "." + millis
        ("Tue Dec 15 17:59:30 EST 2015.31", "2015-12-15 22:59:30.031"),  # millis unpadded: 31 ms
        ("Thu Oct 08 17:49:39.830 EAT 2020", "2020-10-08 14:49:39.830"),  # "EEE MMM dd HH:mm:ss.SSS z yyyy"
        ("Thu Oct 08 17:49:39.830 WITA 2020", "2020-10-08 09:49:39.830"),
        ("Thu Oct 08 17:49:39 GMT+03:00 2020.830", "2020-10-08 14:49:39.830"),  # a zone without a name
        ("Thu Oct  8 17:49:39 GMT 2020.5", "2020-10-08 17:49:39.005"),
        ("2025-05-03T07:51:35.351053200", "2025-05-03 07:51:35.351053"),  # Windows clocks: nanoseconds
    ],
)
def test_every_at_form_jpos_has_written(tmp_path: Path, at: str, utc: str) -> None:
    log = Path(write(tmp_path, "host.log", block(at, *MSG)))
    fast, _ = both([log])
    assert fast.events["ts"].to_list() == [datetime.fromisoformat(utc + "+00:00")]
    assert fast.events.select("mti", "stan", "tid").row(0) == ("0200", "000412", "T0001234")
    assert fast.inputs["unparsed"][0] == 0


@pytest.mark.parametrize("zone", ["CST", "IST", "BST", "AST", "XYZT"])
def test_a_zone_name_of_several_offsets_is_never_read_as_utc(tmp_path: Path, zone: str) -> None:
    log = write(tmp_path, "host.log", block(f"Tue Dec 15 17:59:30 {zone} 2015.31", *MSG))
    loaded = forensics.load(log)
    assert loaded.events["ts"][0] is None and loaded.events["mti"][0] == "0200"
    assert (
        f"zone name {zone} (" in loaded.inputs["notes"][0]
        and "1 times left unset (give --tz)" in (loaded.inputs["notes"][0])
    )
    decided = forensics.load(log, tz="America/Chicago")
    assert decided.events["ts"][0] == datetime.fromisoformat("2015-12-15 23:59:30.031+00:00")


def test_the_zone_table_is_data_and_consistent() -> None:
    from forensics.ingest.clock import _ABBREVIATIONS, AMBIGUOUS

    assert not set(_ABBREVIATIONS) & set(AMBIGUOUS)
    assert all(-12 * 60 <= minutes <= 14 * 60 for minutes in _ABBREVIATIONS.values())
    assert {"CST", "IST", "BST"} <= set(AMBIGUOUS) and _ABBREVIATIONS["EAT"] == 180


def test_stray_lines_before_the_first_block_do_not_hide_the_format(tmp_path: Path) -> None:
    stray = [f"2020-10-08 17:49:3{i},001 INFO  [Q2.system] deploying {i}" for i in range(8)]
    body = "\n".join(stray) + "\n" + block("2020-10-08T17:49:39.830", *MSG) * 3
    log = Path(write(tmp_path, "q2.log", body))
    fast, _ = both([log])
    assert fast.inputs["format"][0] == "jpos" and fast.events.height == 3
    assert fast.unparsed["reason"].to_list() == ["outside a jpos block"] * 8
    assert fast.inputs["notes"][0].startswith("format jpos: it reads 22 of the first 30 lines")


def test_an_excerpt_cut_inside_blocks_at_both_ends(tmp_path: Path) -> None:
    whole = block("2020-10-08T17:49:39.830", *MSG).splitlines()
    body = "\n".join(whole[4:]) + "\n" + block("2020-10-08T17:49:40.100", ("0", "0210"), ("39", "00"))
    body += "\n".join(whole[:5]) + "\n"
    log = Path(write(tmp_path, "excerpt.log", body))
    fast, _ = both([log])
    assert_conserved(fast)
    assert fast.inputs["format"][0] == "jpos"
    assert fast.events.select("line", "mti", "rc").rows() == [(6, "0210", "00"), (14, "0200", None)]
    assert '"truncated":"true"' in fast.events["attrs"][1]
    assert fast.unparsed["reason"].to_list() == ["the end of a jpos block that opens before the file starts"] * 5


DE49 = '<field id="49" value="858"/>'


@pytest.mark.parametrize(
    ("fields", "amount", "exponent", "currency"),
    [
        (['<field id="4" value="000000001250"/>', DE49], 1250, 2, "UYU"),  # ISO n12: minor units of DE49
        (['<field id="4" value="8582000000001250"/>'], 1250, 2, "UYU"),  # CMF: 858, exponent 2, 1250
        (['<field id="4" value="3920000000000500"/>'], 500, 0, "JPY"),  # CMF, exponent 0
        (['<field id="4" value="8400000000000012"/>'], 1200, 2, "USD"),  # CMF exponent 0, a 2-decimal currency
        (['<field id="4" currency="858" type="amount" value="12.50"/>'], 1250, 2, "UYU"),  # ISOAmount
        (['<field id="4" value="100000.0"/>', DE49], 10000000, 2, "UYU"),  # a decimal: major units
    ],
)
def test_de4_in_every_form_jpos_writes(
    tmp_path: Path, fields: list[str], amount: int, exponent: int, currency: str
) -> None:
    more = "".join(f"      {f}\n" for f in fields)
    text = block("2020-10-08T17:49:39.830", *MSG).replace("    </isomsg>", f"{more}    </isomsg>")
    log = Path(write(tmp_path, "host.log", text))
    fast, _ = both([log])
    assert fast.events.select("amount", "exponent", "currency").row(0) == (amount, exponent, currency)


def test_a_de4_currency_other_than_de49_is_kept(tmp_path: Path) -> None:
    text = block("2020-10-08T17:49:39.830", ("0", "0200"), ("4", "8582000000001250"), ("49", "840"))
    loaded = forensics.load(write(tmp_path, "host.log", text))
    assert loaded.events.select("amount", "currency").row(0) == (1250, "USD")
    assert '"DE4_currency":"858"' in loaded.events["attrs"][0]


def test_values_are_trimmed_as_jpos_pads_them(tmp_path: Path) -> None:
    fields = (("0", "0210"), ("11", "000412"), ("37", "412110000412"), ("38", "A1B2C "), ("39", "00"))
    fields += (("41", "T0001234"), ("42", "MID123         "))
    log = Path(write(tmp_path, "host.log", block("2020-10-08T17:49:39.830", *fields, tag="send")))
    fast, _ = both([log])
    assert fast.events.select("auth", "tid", "mid", "rc").row(0) == ("A1B2C", "T0001234", "MID123", "00")


@pytest.mark.parametrize(
    ("mti", "tag", "kind"),
    [
        ("0100", "receive", "host.rx"),
        ("0110", "send", "host.tx"),
        ("0120", "receive", "host.rx"),
        ("0200", "receive", "host.rx"),
        ("0220", "receive", "host.rx"),
        ("0230", "send", "host.tx"),
        ("0420", "receive", "host.rx"),
        ("0430", "send", "host.tx"),
        ("0800", "receive", "host.rx"),
        ("0810", "send", "host.tx"),
    ],
)
def test_every_message_family(tmp_path: Path, mti: str, tag: str, kind: str) -> None:
    fields = (("0", mti), ("7", "1008174939"), ("11", "000412"), ("70", "301"))
    log = Path(write(tmp_path, "host.log", block("2020-10-08T17:49:39.830", *fields, tag=tag)))
    fast, _ = both([log])
    assert fast.events.select("mti", "kind", "stan").row(0) == (mti, kind, "000412")
    assert '"DE70":"301"' in fast.events["attrs"][0]


def test_detection_scores_the_sample_and_says_why() -> None:
    reg = registry()
    jpos = block("2020-10-08T17:49:39.830", *MSG).splitlines()
    syslog = "Nov 21 08:15:02 term-0042 payapp[1234]: TransProcess: CANCEL inv=000048 op=07"
    choice = reg.choose([syslog] * 3 + jpos * 3)
    assert choice.format is not None and choice.format.name == "jpos"
    assert choice.why == "format jpos: it reads 27 of the first 30 lines (syslog 3)"
    assert reg.choose(jpos).why is None  # unanimous: nothing to say
    assert reg.choose(["just words", "more words"]).format is None
    assert reg.choose([syslog] * 20 + jpos[:4]).format.name == "syslog"  # a block opened and never closed


def test_a_1993_block_with_nested_fields_and_binary_de55_pasted_indented(tmp_path: Path) -> None:
    """jPOS blocks as pasted in code comments and issues: indented with tabs, ``</log>`` indented,
    1987 and 1993 MTIs, a 3-digit DE39, nested isomsg 48, DE55 typed binary, escaped DE43."""
    body = "\n".join(
        [
            "    REQUEST (as logged)",
            "    --------------------",
            '   <log realm="channel/10.9.8.7:6432" at="2022-09-25T12:16:04.787" lifespan="17ms">',
            "\t  <receive>",
            '\t    <isomsg direction="incoming">',
            "\t      <!-- org.jpos.iso.packager.GenericPackager[cfg/iso93ascii.xml] -->",
            '\t      <field id="0" value="1110"/>',
            '\t      <field id="4" value="000000001250"/>',
            '\t      <field id="11" value="120866"/>',
            '\t      <field id="39" value="000"/>',
            '\t      <field id="41" value="407682  "/>',
            '\t      <field id="43" value="SHOP ONE &gt; CITY"/>',
            '\t      <isomsg id="48">',
            '\t        <field id="2" value="702"/>',
            "\t      </isomsg>",
            '\t      <field id="49" value="368"/>',
            '\t      <field id="55" value="AA55AA55" type="binary"/>',
            "\t    </isomsg>",
            "\t  </receive>",
            "   </log>",
        ]
    )
    fast, _ = both([Path(write(tmp_path, "pasted.log", body + "\n"))])
    assert_conserved(fast)
    row = fast.events.row(0, named=True)
    assert (row["mti"], row["stan"], row["rc"], row["tid"], row["amount"], row["currency"]) == (
        "1110",
        "120866",
        "000",
        "407682",
        1250,
        "IQD",
    )
    assert row["exponent"] == 3 and '"DE48.2":"702"' in row["attrs"]
    assert fast.unparsed["reason"].to_list() == ["outside a jpos block"] * 2


def test_de55_is_said_in_words(tmp_path: Path) -> None:
    """TVR, TSI and CVM Results in words, each tag by name (forensics/data/emv.toml). (A DE55 holding
    a full PAN is wiped whole by the card guard before it is read: no words, a compliance row.)"""
    tlv = "9F3602001A" + "950500000080009B02E8009F34031F0002" + "9F2608A1B2C3D4E5F60708"
    text = block("2020-10-08T17:49:39.830", ("0", "0200"), ("11", "000412"), ("55", tlv))
    fast, _ = both([Path(write(tmp_path, "host.log", text))])
    attrs = json.loads(fast.events["attrs"][0])
    assert attrs["emv"] == (
        "9F36 ATC 001A; 95 TVR 0000008000 (transaction exceeds floor limit); 9B TSI E800 (offline data "
        "authentication was performed, cardholder verification was performed, card risk management was "
        "performed, terminal risk management was performed); 9F34 CVM Results 1F0002 (no CVM required, "
        "always, successful); 9F26 Application Cryptogram A1B2C3D4E5F60708"
    )
    assert fast.events["atc"][0] == "001A" and fast.compliance.height == 0


def test_card_data_in_de55_is_named_never_written() -> None:
    from forensics.ingest.emv import emv_words

    said = emv_words({"95": "0000000000", "57": "4761731234560010D2512", "5A": "4761731234560010"})
    assert said == "95 TVR 0000000000 (none set); 57 Track 2 Equivalent Data; 5A PAN"


def test_a_de55_without_tvr_tsi_or_cvm_gets_no_words(tmp_path: Path) -> None:
    text = block("2020-10-08T17:49:39.830", ("0", "0200"), ("55", "9F3602001A"))
    fast, _ = both([Path(write(tmp_path, "host.log", text))])
    assert fast.events["attrs"][0] is None or "emv" not in fast.events["attrs"][0]


HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n<logger class="org.jpos.util.DailyLogListener">\n'


def test_logger_headers_repeated_at_each_restart(tmp_path: Path) -> None:
    """A log listener writes its header at each start: a file may open with dozens of them, and a
    restart may cut a block short (no ``</log>``) with a header."""
    cut = block("2024-05-16T14:39:38.579285500", *MSG).splitlines()[:5]
    body = HEADER * 40 + block("2024-05-16T14:39:38.579285500", *MSG) + "\n".join(cut) + "\n"
    body += HEADER + block("2024-05-16T14:41:02.100", ("0", "0210"), ("39", "00")) + "</logger>\n"
    log = Path(write(tmp_path, "q2.log", body))
    fast, _ = both([log])
    assert_conserved(fast)
    assert fast.inputs["format"][0] == "jpos"
    assert fast.events.select("line", "line_end", "mti").rows() == [
        (81, 89, "0200"),
        (90, 94, "0200"),
        (97, 104, "0210"),
    ]
    assert '"truncated":"true"' in fast.events["attrs"][1]
    assert set(fast.unparsed["reason"]) == {"a jpos logger header, no record"} and fast.unparsed.height == 83


def test_only_logger_headers_is_still_a_jpos_log(tmp_path: Path) -> None:
    fast, _ = both([Path(write(tmp_path, "q2.log", HEADER * 3 + "</logger>\n"))])
    assert fast.inputs["format"][0] == "jpos" and fast.events.height == 0
    assert fast.inputs["notes"][0] == "format jpos: its header lines, no record"


def test_a_block_left_open_ends_where_the_next_opens(tmp_path: Path) -> None:
    """A committed log with a merge conflict: a block's opening line from each side, then the
    fields of both. Each block is an event; a field written twice with two values keeps the first
    and says so; a conflict marker outside a block is unparsed, one inside is the block's text."""
    first = block("2020-10-09T15:09:11.035", ("0", "0200"), ("11", "000101")).splitlines()
    second = block("2020-10-09T15:25:32.539", ("0", "0200"), ("11", "000102")).splitlines()
    body = "\n".join(
        ["<<<<<<< HEAD", first[0], "=======", second[0], ">>>>>>> 7a92a7c", *first[1:4], "<<<<<<< HEAD"]
        + [second[4].replace("000102", "000101"), "=======", second[4], ">>>>>>> 7a92a7c", *second[5:]]
    )
    fast, _ = both([Path(write(tmp_path, "q2.log", body + "\n"))])
    assert_conserved(fast)
    assert fast.events.select("line", "line_end", "stan").rows() == [(2, 3, None), (4, 16, "000101")]
    assert '"truncated":"true"' in fast.events["attrs"][0]
    assert '"repeated_fields":"11"' in fast.events["attrs"][1]
    assert fast.unparsed["line"].to_list() == [1]


def test_a_transaction_context_holding_request_and_response(tmp_path: Path) -> None:
    """A transaction manager's ``<commit>`` dumps its context: the request and the response, each
    an outer isomsg. The event is the first message's; the others' MTIs are kept in ``attrs``."""
    body = "\n".join(
        [
            '<log realm="TM" at="2025-06-13T15:20:02.802753" lifespan="3ms">',
            "  <commit>",
            "    txnmgr-3:idle:1",
            "    <context>",
            "      REQUEST: ",
            '       <isomsg direction="incoming">',
            '         <field id="0" value="0800"/>',
            '         <field id="11" value="000001"/>',
            '         <field id="70" value="301"/>',
            "       </isomsg>",
            "      RESPONSE: ",
            "       <isomsg>",
            '         <field id="0" value="0810"/>',
            '         <field id="11" value="000001"/>',
            '         <field id="37" value="002147483647"/>',
            '         <field id="39" value="00"/>',
            "       </isomsg>",
            "    </context>",
            "  </commit>",
            "</log>",
        ]
    )
    fast, _ = both([Path(write(tmp_path, "q2.log", body + "\n"))])
    row = fast.events.row(0, named=True)
    assert (row["mti"], row["stan"], row["rrn"], row["rc"]) == ("0800", "000001", None, None)
    assert json.loads(row["attrs"])["other_mti"] == "0810"


def hexdump(data: bytes) -> list[str]:
    """``data`` as jPOS's ISOUtil.hexdump writes it (offset, 16 bytes in two groups, characters)."""
    out = []
    for at in range(0, len(data), 16):
        row = data[at : at + 16]
        hexes = " ".join(f"{b:02X}" for b in row[:8]) + "  " + " ".join(f"{b:02X}" for b in row[8:])
        chars = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        out.append(f"{at:04x}  {hexes.strip():<48} {chars}")
    return out


#: a Luhn-valid test card number, never to be written in full by any output
TEST_PAN = "4761739001010010"


def test_a_hexdump_after_an_iso_exception_never_writes_its_card_number(tmp_path: Path) -> None:
    """``<receive>`` with an ``<iso-exception>`` then ``--- data ---`` and the bytes received: the
    character column holds tags of its own and a card number cut across two lines."""
    data = f'<isomsg><field id="0" value="0200"/><field id="2" value="{TEST_PAN}"/></isomsg>x'.encode()
    dump = hexdump(data)
    assert TEST_PAN[:6] in "".join(line[56:] for line in dump) and not any(TEST_PAN in line for line in dump)
    body = "\n".join(
        [
            '<log realm="xml-server-8000/127.0.0.1:50813" at="2021-11-01T14:34:22.480212500" lifespan="40241ms">',
            "  <receive>",
            "    <iso-exception>",
            "      org.xml.sax.SAXParseException; lineNumber: 1; columnNumber: 87; The markup in the document",
            "\tat org.jpos.iso.packager.XMLPackager.unpack(XMLPackager.java:137)",
            "\tat org.jpos.iso.ISOServer$Session.<init>(ISOServer.java:344)",
            "    </iso-exception>",
            "    --- data ---",
            "    " + dump[0],
            *dump[1:],
            "",
            "  </receive>",
            "</log>",
        ]
    )
    log = Path(write(tmp_path, "q2.log", body + "\n"))
    fast, _ = both([log])
    assert_conserved(fast)
    row = fast.events.row(0, named=True)
    assert (row["kind"], row["mti"], row["ts"]) == (
        "host.error",
        None,
        datetime.fromisoformat("2021-11-01 14:34:22.480212+00:00"),
    )
    written = " ".join(str(v) for frame in (fast.events, fast.unparsed, fast.compliance) for v in frame.rows())
    digits = "".join(ch for ch in written if ch.isdigit())
    assert TEST_PAN not in digits.replace(" ", "") and TEST_PAN.encode().hex().upper() not in written.replace(" ", "")
    assert "value=" not in row["text"] and "0000  [WIPED]" in row["text"]
    assert fast.compliance.select("field", "masked").rows() == [("hexdump field 2", "476173******0010")]


def test_a_hexdump_without_card_data_keeps_its_bytes(tmp_path: Path) -> None:
    dump = hexdump(b'<isomsg><field id="0" value="0800"/></isomsg>')
    body = "\n".join(
        [
            '<log realm="server" at="2021-11-01T14:34:22.480">',
            "  <receive>",
            "    <iso-exception>",
            "      bad",
            "    </iso-exception>",
            "    --- data ---",
            *dump,
            "  </receive>",
            "</log>",
        ]
    )
    fast, _ = both([Path(write(tmp_path, "q2.log", body + "\n"))])
    text = fast.events["text"][0]
    assert "0000  3C 69 73 6F 6D 73 67 3E  3C 66 69 65 6C 64 20 69" in text and "<isomsg>" not in text
    assert fast.events["mti"][0] is None and fast.compliance.height == 0


def test_a_message_without_field_0_is_read_with_its_time(tmp_path: Path) -> None:
    text = block("Mon Nov 24 00:00:03 EST 2014.292", ("259", "1F8B0800000000000000"))
    fast, _ = both([Path(write(tmp_path, "q2.log", text))])
    assert fast.events.select("mti", "kind").row(0) == (None, "host.rx")
    assert fast.events["ts"][0] == datetime.fromisoformat("2014-11-24 05:00:03.292+00:00")
