"""Golden tests per envelope format and per dialect keyword."""

from __future__ import annotations

import json

import pytest

from forensics.ingest import registry
from forensics.ingest.formats import RecordError

REG = registry()


def _record(fmt: str, line: str) -> dict:
    return REG.record(REG.formats[fmt], line)


def _samples() -> list[tuple[str, str, dict]]:
    return [(f.name, s["line"], s.get("expect", {})) for f in REG.formats.values() for s in f.samples]


@pytest.mark.parametrize(
    ("fmt", "line", "expect"), _samples(), ids=lambda v: v if isinstance(v, str) and len(v) < 12 else None
)
def test_registry_sample(fmt: str, line: str, expect: dict) -> None:
    got = _record(fmt, line)
    assert {k: got.get(k) for k in expect} == expect


def _dialect_samples() -> list[tuple[str, str, str, dict]]:
    """(dialect, tag, payload as logged after the tag, expect); a sample given as a whole message (its tag
    in a tag shape) as the message of an app that logs under its own program name."""
    d = REG.dialects
    return [
        (name, s["tag"], s["line"] if "line" in s else s["message"], s.get("expect", {}), "message" in s)
        for name in d.names
        for s in d.samples[name]
    ]


@pytest.mark.parametrize(
    ("dialect", "tag", "payload", "expect", "whole"),
    _dialect_samples(),
    ids=lambda v: v.split(" ")[0] if isinstance(v, str) else None,
)
def test_dialect_keyword(dialect: str, tag: str, payload: str, expect: dict, whole: bool) -> None:
    """Each dialect keyword, as a logcat line and as a syslog line with the tag in the message."""
    # the tag opening the message in the first shape its dialect declares (colon "Tag: ", bracket "[Tag] ", ...)
    openings = [f"{tag}: ", f"[{tag}] ", f"{tag} - "]
    opening = "" if whole else next(o for o in openings if REG.dialects.split_tag(None, o + payload)[0] == tag)
    for fmt, line in (
        ("logcat", f"03-14 10:02:11.204  2311  2398 I {'payapp' if whole else tag:<8}: {payload}"),
        ("syslog", f"Mar 14 10:02:11 term-0042 payapp[2311]: {opening}{payload}"),
    ):
        got = _record(fmt, line)
        assert got["tag"] == tag
        assert got["dialect"] == dialect
        for key, want in expect.items():
            if key == "attrs" and (fmt == "syslog" or whole):
                want = json.dumps({**json.loads(want), "program": "payapp"}, sort_keys=True, separators=(",", ":"))
            assert got.get(key) == want, (fmt, key)


@pytest.mark.parametrize(
    ("fmt", "line", "expect"),
    [
        (
            "logcat",
            "2026-03-14 10:02:11.204  2311  2398 I TransProcess: CANCEL inv=000048 op=07",
            {"ts_raw": "2026-03-14 10:02:11.204", "kind": "txn.cancel"},
        ),
        (
            "logcat",
            "03-14 10:02:11.204  2311  2398 I ActivityManager: Start proc 4321:com.x/u0a1 for service",
            {"kind": "log", "tag": "ActivityManager", "dialect": None},
        ),
        (
            "logcat",
            "03-14 10:02:11.204  2311  2398 D Net/Wifi.State-1: up",
            {"tag": "Net/Wifi.State-1", "message": "up"},
        ),
        ("logcat", "03-14 10:02:11.204  2311  2398 E Foo: ", {"tag": "Foo", "message": None}),
        ("logcat", "--------- beginning of crash", {"kind": "log.divider", "message": "beginning of crash"}),
        (
            "syslog",
            "Nov 09 09:56:57 kali kernel: [ 2556.806751] usb-storage 2-1:1.0: USB Mass Storage device detected",
            {"ts_raw": "Nov 09 09:56:57", "kind": "kernel.log", "uptime": 2556.806751},
        ),
        (
            "syslog",
            "Jun 15 04:06:20 combo logrotate: ALERT exited abnormally with [1]",
            {"tag": "logrotate", "pid": None},
        ),
        (
            "syslog",
            "Mar 14 10:02:11 term-1 TransProcess[77]: RESULT status=DECLINED inv=000046 stan=000413 rc=05",
            {"tag": "TransProcess", "kind": "txn.result", "rc": "05", "status": "DECLINED"},
        ),
        (
            "syslog",
            "Mar 14 10:02:11 term-1 no colon in this message",
            {"tag": None, "message": "no colon in this message"},
        ),
        ("syslog", "2020-03-06T10:45:59+00:00 host prog[12]: hi", {"ts_raw": "2020-03-06T10:45:59+00:00", "pid": 12}),
        (
            "syslog",
            "<165>1 2026-03-14T10:02:11.204+01:00 term-1 payapp 881 - - TransProcess: CANCEL inv=000048 op=07",
            {"tag": "TransProcess", "kind": "txn.cancel", "level": "I", "pid": 881},
        ),
        (
            "syslog",
            '<165>1 2026-03-14T10:02:11Z term-1 app - ID1 [a@1 k="v\\"x"][b@2 n="1"] msg',
            {"attrs": '{"msgid":"ID1","sd":{"a@1":{"k":"v\\"x"},"b@2":{"n":"1"}}}'},
        ),
        (
            "jpos",
            '<log realm="c" at="2026-03-14T10:02:11.2"><receive><io-timeout/></receive></log>',
            {"kind": "host.timeout"},
        ),
        (
            "jpos",
            '<log realm="c" at="Sat Jan 04 18:48:47 CST 2014.437">\n<info>\nstarted\n</info>',
            {"kind": "host.log", "message": "started", "attrs": '{"truncated":"true"}'},
        ),
    ],
)
def test_golden_lines(fmt: str, line: str, expect: dict) -> None:
    got = _record(fmt, line)
    assert {k: got.get(k) for k in expect} == expect


@pytest.mark.parametrize(
    ("fmt", "line", "reason"),
    [
        ("logcat", "03-14 10:02:1", "not logcat"),
        ("syslog", "Nov 21 08:1", "not syslog"),
        ("settlement", "a,b", "2 fields, header has 13"),
    ],
)
def test_bad_records_give_reasons(fmt: str, line: str, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        _record(fmt, line)


def test_jpos_nested_fields_and_emv_tlv() -> None:
    block = "\n".join(
        [
            '<log realm="server-channel/10.0.0.1:9000" at="2026-03-14T10:02:09.680" lifespan="2ms">',
            "  <receive>",
            '    <isomsg direction="incoming">',
            '      <field id="0" value="0200"/>',
            '      <field id="41" value="T0001234  "/>',
            '      <field id="42" value="000000001234567 "/>',
            '      <isomsg id="48">',
            '        <field id="1" value="x"/>',
            "      </isomsg>",
            '      <field id="55" value="9F3602001A9F2701800000" type="binary"/>',
            "    </isomsg>",
            "  </receive>",
            "</log>",
        ]
    )
    got = _record("jpos", block)
    assert (got["tid"], got["mid"], got["atc"], got["kind"]) == ("T0001234", "000000001234567", "001A", "host.rx")
    assert json.loads(got["attrs"])["DE48.1"] == "x"
