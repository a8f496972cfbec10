"""Payload styles and tag shapes as data (issue 16 item 5): logfmt with or without a leading
keyword, keyword shapes, JSON by path, text; tags in the message in three shapes and by pattern.
Each read the same on the fast path and the Lark path, hostile lines included."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import forensics
from forensics.errors import DialectError
from forensics.ingest import fastpath
from forensics.ingest.dialect import Dialects, installed_sources
from forensics.ingest.formats import Registry

VENDOR = r"""
name = "vendory"
title = "Vendor Y"
tags = ["PAYMENT", "NET", "DEV", "PAY"]
keyword_key = "evt"
tag_shapes = ["bracket", "dash", "colon"]
tag_patterns = { PAYMENT = 'PaySvc\d*', NET = 'Net(?:Link|Mgr)' }

[[rule]]
tag = "PAYMENT"
keyword = "txn_result"
kind = "txn.result"
fields = { outcome = "status", trace = "stan", amt = "amount:minor", ccy = "currency", shift = "attrs.shift_no" }
[[rule.sample]]
message = "[PaySvc2] evt=txn_result outcome=APPROVED trace=000412 amt=4599 ccy=EUR"
expect = { kind = "txn.result", status = "APPROVED", stan = "000412", amount = 4599, currency = "EUR" }

[[rule]]
tag = "PAYMENT"
keyword = "TXN_START"
keyword_shapes = ["colon", "bracket", "dotted"]
kind = "txn.start"
args = ["txn_type"]
fields = { amt = "amount", ccy = "currency", inv = "inv" }
[[rule.sample]]
line = "TXN_START: SALE amt=45.99 ccy=USD inv=000045"
expect = { kind = "txn.start", txn_type = "SALE", amount = 4599, inv = "000045" }
[[rule.sample]]
message = "PAYMENT - [TXN_START] REFUND amt=1.00 ccy=USD"
expect = { kind = "txn.start", txn_type = "REFUND", amount = 100 }

[[rule]]
tag = "PAYMENT"
keyword = "txn.cancel"
keyword_shapes = ["dotted"]
kind = "txn.cancel"
fields = { inv = "inv" }
[[rule.sample]]
line = "txn.cancel inv=000048"
expect = { kind = "txn.cancel", inv = "000048" }

[[rule]]
tag = "NET"
payload = "json"
keyword_key = "event.name"
keyword = "connect"
kind = "comm.connect"
fields = { "result.status" = "status", "result.reason" = "reason", stan = "stan", "amt" = "amount:minor" }
[[rule.sample]]
line = '{"event": {"name": "connect"}, "result": {"status": "fail", "tries": [1, 2]}, "ok": false, "x": null}'
expect = { kind = "comm.connect", status = "fail", attrs = '{"ok":"false","result.tries.0":"1","result.tries.1":"2"}' }

[[rule]]
tag = "NET"
payload = "text"
match = 'link (?P<status>up|down)'
kind = "comm.connect"
[[rule.sample]]
line = "NetLink link down after 3 s"
expect = { kind = "comm.connect", status = "down" }

[[rule]]
tag = "DEV"
keyword_shapes = ["word", "none"]
kind = "power.battery"
fields = { level = "value" }
[[rule.sample]]
line = "level=42 charging=yes"
expect = { kind = "power.battery", value = 42.0, attrs = '{"charging":"yes"}' }
[[rule.sample]]
line = "battery level=42"
expect = { kind = "power.battery", value = 42.0 }

[[rule]]
tag = "PAY"
keyword = "OK"
kind = "txn.result"
fields = { trace = "stan" }
"""


def _dialects(*sources: tuple[str, str]) -> Dialects:
    """The installed dialects and these (file name, text)."""
    return Dialects(installed_sources() + list(sources))


@pytest.fixture(scope="module")
def vendor() -> Dialects:
    return _dialects(("vendory.toml", VENDOR))


def _read(dialects: Dialects, tag: str | None, message: str) -> dict[str, object] | None:
    """The slow path's reading of one record: dialect tag, payload, kind and columns."""
    dtag, payload, program = dialects.split_tag(tag, message)
    if dtag is None:
        return None
    applied = dialects.apply(dtag, payload)
    out: dict[str, object] = {"tag": dtag, "payload": payload, "program": program}
    if applied is not None:
        out |= {"kind": applied.kind, "keyword": applied.keyword, **applied.columns}
    return out


def test_keyword_from_a_key_in_any_place(vendor: Dialects) -> None:
    got = _read(vendor, "PAYMENT", "outcome=approved trace=7 evt=txn_result")
    assert got is not None
    assert (got["kind"], got["keyword"], got["status"], got["stan"]) == ("txn.result", "txn_result", "approved", "7")
    assert "attrs" not in got  # the keyword's key is the keyword, not an attribute


@pytest.mark.parametrize(
    "payload", ["TXN_START: SALE amt=1.00", "[TXN_START] SALE amt=1.00", "TXN_START: SALE  amt=1.00 "]
)
def test_keyword_shapes_give_the_bare_word(vendor: Dialects, payload: str) -> None:
    got = _read(vendor, "PAYMENT", payload)
    assert got is not None
    assert (got["kind"], got["keyword"], got["txn_type"], got["amount"]) == ("txn.start", "TXN_START", "SALE", 100)


@pytest.mark.parametrize("payload", ["TXN_START:SALE", "TXN_START SALE", "[TXN_START]SALE", "txn.cancel: inv=1"])
def test_a_keyword_in_an_undeclared_shape_is_no_keyword(vendor: Dialects, payload: str) -> None:
    got = _read(vendor, "PAYMENT", payload)
    assert got is not None and "kind" not in got  # an event of kind "log": the tag's lines, no rule's fields


def test_logfmt_with_or_without_a_leading_keyword(vendor: Dialects) -> None:
    assert _read(vendor, "DEV", "level=42")["value"] == 42.0  # type: ignore[index]
    assert _read(vendor, "DEV", "battery level=42")["keyword"] == "battery"  # type: ignore[index]


def test_json_by_path_in_any_key_order(vendor: Dialects) -> None:
    a = _read(vendor, "NET", '{"result": {"reason": "timeout", "status": "fail"}, "event": {"name": "connect"}}')
    b = _read(vendor, "NET", '{"event":{"name":"connect"},"result":{"status":"fail","reason":"timeout"}}')
    assert a is not None and b is not None
    assert (
        (a["kind"], a["status"], a["reason"])
        == (b["kind"], b["status"], b["reason"])
        == ("comm.connect", "fail", "timeout")
    )


def test_json_values_as_logged(vendor: Dialects) -> None:
    line = '{"event": {"name": "connect"}, "amt": 4599, "n": 45.990, "e": 1e3, "t": true, "u": "caf\\u00e9", "z": null}'
    got = _read(vendor, "NET", line)
    assert got is not None
    assert got["amount"] == 4599
    assert json.loads(str(got["attrs"])) == {"n": "45.990", "e": "1e3", "t": "true", "u": "café"}  # null: no value


def test_json_repeated_key_last_wins(vendor: Dialects) -> None:
    got = _read(vendor, "NET", '{"event": {"name": "connect"}, "stan": "1", "stan": "2"}')
    assert got is not None and got["stan"] == "2"


@pytest.mark.parametrize(
    "payload",
    [
        '{"event": {"name": "connect"}, "result": {"status": "fail"',  # truncated
        '{"event": {"name": "connect"}} trailing',
        '["event", "connect"]',
        '"connect"',
        "{" * 100_000 + "}" * 100_000,  # past Python's nesting limit
        "",
    ],
)
def test_malformed_json_is_an_event_without_dialect_fields(vendor: Dialects, payload: str) -> None:
    got = _read(vendor, "NetMgr", payload)
    assert got == {"tag": "NET", "payload": payload, "program": "NetMgr"}  # kind "log", as a line no rule matches


def test_text_payload_only_match_reads_it(vendor: Dialects) -> None:
    got = _read(vendor, "NET", "link up key=value")
    assert got is not None and (got["kind"], got["status"], got.get("attrs"), got["keyword"]) == (
        "comm.connect",
        "up",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("tag", "message", "found"),
    [
        ("PAYMENT", "[NET] x", ("PAYMENT", "[NET] x", None)),  # the logged tag first
        ("PaySvc12", "NET - x", ("PAYMENT", "NET - x", "PaySvc12")),  # a logged tag matching a pattern next
        ("app", "[PAYMENT] x", ("PAYMENT", "x", "app")),
        ("app", "PAYMENT - x", ("PAYMENT", "x", "app")),
        ("app", "PAYMENT: x", ("PAYMENT", "x", "app")),
        ("app", "[PaySvc] x", ("PAYMENT", "x", "app")),  # a word a pattern matches, in a declared shape
        ("app", "NetLink - x", ("NET", "x", "app")),
        ("app", "PAYMENTS: x", (None, "PAYMENTS: x", None)),  # a tag is whole: not a prefix of a longer word
        ("app", "PAY: x", ("PAY", "x", "app")),  # PAY is a prefix of PAYMENT: still its own tag
        ("app", "PaySvcX: x", (None, "PaySvcX: x", None)),  # the pattern matches the whole word or nothing
        ("app", "[Pay Svc] x", (None, "[Pay Svc] x", None)),
        ("app", "TransProcess: START", ("TransProcess", "START", "app")),  # reference tags keep their colon
        ("app", "[TransProcess] START", (None, "[TransProcess] START", None)),  # and only it
        (None, "NetMgr: x", ("NET", "x", None)),
    ],
)
def test_tag_precedence(vendor: Dialects, tag: str | None, message: str, found: tuple[object, ...]) -> None:
    assert vendor.split_tag(tag, message) == found


OTHER = """
name = "vendorz"
tags = ["DEVICE", "PAYMENT"]
tag_patterns = { DEVICE = 'Pay.*' }
[[rule]]
tag = "DEVICE"
kind = "power.battery"
[[rule]]
tag = "PAYMENT"
keyword = "txn_result"
kind = "txn.cancel"
"""


def test_two_dialects_in_load_order() -> None:
    """A logged tag two files' patterns match is the first file's; a tag both own tries the first
    file's rules first; a pattern applies in a message only in its own file's tag shapes."""
    first = _dialects(("y.toml", VENDOR), ("z.toml", OTHER))
    second = _dialects(("z.toml", OTHER), ("y.toml", VENDOR))
    assert first.split_tag("PaySvc1", "x")[0] == "PAYMENT"
    assert second.split_tag("PaySvc1", "x")[0] == "DEVICE"
    assert second.split_tag("app", "[PaySvc1] x")[0] == "PAYMENT"  # vendorz's tags are found as "Tag: " only
    assert second.split_tag("app", "PaySvc1: x")[0] == "DEVICE"
    assert first.apply("PAYMENT", "evt=txn_result").kind == "txn.result"  # type: ignore[union-attr]
    assert second.apply("PAYMENT", "txn_result").kind == "txn.cancel"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('keyword_key = "evt"', 'payload = "yaml"'),
            "vendory.toml: field 'payload': must be one of logfmt, json, text",
        ),
        (('keyword_key = "evt"', 'keyword_key = "evt"\nkeyword_shapes = ["word"]'), "vendory.toml: give 'keyword_key'"),
        (('keyword_shapes = ["dotted"]', 'keyword_shapes = ["dots"]'), "field 'keyword_shapes': must be a non-empty"),
        (
            ('keyword_key = "evt"', 'keyword_key = "a b"'),
            "vendory.toml: field 'keyword_key': 'a b' is not a logfmt key",
        ),
        (('tag_shapes = ["bracket", "dash", "colon"]', 'tag_shapes = ["paren"]'), "field 'tag_shapes'"),
        (
            ("PAYMENT = 'PaySvc", "PAYMEN = 'PaySvc"),
            "field 'tag_patterns.PAYMEN': 'PAYMEN' is not in the dialect's tags",
        ),
        (("Net(?:Link|Mgr)", "Net(?:Link|Mgr"), "field 'tag_patterns.NET': bad regular expression"),
        (('payload = "text"', 'payload = "text"\nkeyword = "link"'), "field 'keyword': a text payload is read by"),
        (('keyword_key = "event.name"', 'keyword_shapes = ["word"]'), "field 'keyword_shapes': a JSON payload has no"),
        (('tag = "DEV"', 'tag = "DEV"\ntag_shapes = ["dash"]'), "field 'tag_shapes': is file level"),
        (('keyword = "connect"', 'keyword = "connect"\nargs = ["mti"]'), "field 'args': a JSON payload has no"),
        (('line = "txn.cancel inv=000048"', 'message = "[TXN] txn.cancel inv=000048"'), "the message's tag is None"),
    ],
)
def test_bad_settings_fail_at_load(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(DialectError) as err:
        _dialects(("vendory.toml", VENDOR.replace(*edit, 1)))
    assert message in str(err.value)


def test_a_key_the_file_gives_for_json_is_checked_for_a_logfmt_rule() -> None:
    text = 'name = "w"\ntags = ["T"]\npayload = "json"\nkeyword_key = "e v"\n'
    Dialects([("w.toml", text)])
    with pytest.raises(DialectError, match=r"w.toml: rule 1 \(T \): field 'keyword_key': 'e v' is not a logfmt key"):
        Dialects([("w.toml", text + '[[rule]]\ntag = "T"\npayload = "logfmt"\nkind = "log"\n')])


# --- the fast path against the Lark path ---------------------------------------------------------

HOSTILE = [
    "I PaySvc2 : evt=txn_result outcome=APPROVED trace=000412 amt=4599 ccy=EUR shift=3 extra=1",
    "I app     : [PaySvc] evt=txn_result outcome=DECLINED trace=000413",
    "I app     : PAYMENT - TXN_START: SALE amt=45.99 ccy=USD inv=000045 w2",
    "I PAYMENT : [TXN_START] SALE amt=45.99 ccy=USD inv=000045",
    "I PAYMENT : txn.cancel inv=000048 evt=x",
    'I NetLink : {"event": {"name": "connect"}, "result": {"status": "fail"}}',
    "I NetLink : NetLink link down after 3 s",
    'I NetMgr  : {"event": {"name": "connect"',
    "I DEV     : level=42 charging=yes",
    "I DEV     : battery level=42 evt=1",
    "I app     : [TransProcess] START amount=1",
    "I app     : TransProcess: START amount=1",
    "I PaySvc9 : evt=txn_result evt=other outcome=APPROVED",
    "I PaySvc9 : evt=other evt=txn_result outcome=APPROVED",
    "I PaySvc9 : outcome=APPROVED evt=txn_result words=1 w",
    "I PaySvc9 : program=x evt=txn_result",
    "I PaySvc9 : evt= outcome=x",
    "I PaySvc9 : evt=txn_result outcome=x outcome=y",
    'I PaySvc9 : evt=txn_result outcome="quoted \\" value" trace=1',
    "I PaySvc9 : evt=txn_result outcome=café",
    "I app     : NetMgr - link up",
    "I app     : [NetMgr] link up",
    "I app     : [Net Mgr] link up",
    "I app     : NetLink: link up",
    "I app     : [PAYMENT]evt=txn_result",
    "I app     : PAYMENT -evt=txn_result",
    "I app     : PAY: OK trace=1",
    "I app     : PAYMENT: PAY: OK trace=1",
    "I PAYMENT : TXN_START:",
    "I PAYMENT : [TXN_START]",
    "I PAYMENT : [TXN_START] ",
    "I PAYMENT : txn.cancel.x inv=1",
    'I NET     : {"event": {"name": "connect"}, "amt": "' + "9" * 100_000 + '"}',
    "I PaySvc9 : evt=txn_result outcome=" + "A" * 100_000,
    'I NET     : {"event": {"name": "connect"}, "stan": "1", "stan": "2", "k\\u00e9y": "\\ud83d\\ude00"}',
]


def _log(tmp_path: Path, lines: list[str], syslog: bool = False) -> Path:
    """A logcat file of ``lines`` ("I TAG : message"), or a syslog file (TAG the program)."""
    path = tmp_path / ("vendor-syslog.log" if syslog else "vendor.log")
    if syslog:
        records = [line[2:].split(": ", 1) for line in lines]
        text = "".join(f"Nov 21 08:15:02 term-1 {tag.strip()}[12]: {message}\n" for tag, message in records)
    else:
        text = "".join("03-14 10:02:11.204  2311  2398 " + line + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


def _both(path: Path, dialects: Dialects) -> forensics.Loaded:
    fast = forensics.load(path, dialects=dialects, card_key="k", year=2026)
    slow = forensics.load(path, dialects=dialects, card_key="k", year=2026, fast=False)
    for name in ("events", "unparsed", "compliance", "inputs"):
        assert_frame_equal(getattr(fast, name), getattr(slow, name), check_exact=True)
    return fast


def _fast_lines(path: Path, dialects: Dialects) -> set[int]:
    """1-based lines the fast path settles."""
    reg = Registry(dialects)
    lines = path.read_text(encoding="utf-8").splitlines()
    _, rest = fastpath.parse(pl.Series(lines), reg.fast_format(reg.detect(lines)), reg.fast_dialects, reg.card_screen)
    return set(range(1, len(lines) + 1)) - {i + 1 for i in rest.to_list()}


def test_hostile_lines_identical(tmp_path: Path, vendor: Dialects) -> None:
    path = _log(tmp_path, HOSTILE)
    events = _both(path, vendor)
    assert events.events.height == len(HOSTILE)
    fast = _fast_lines(path, vendor)
    # each new shape is really settled on the fast path (else this test compares Lark with itself)
    for line in (1, 2, 3, 4, 5, 7, 9, 10, 13, 14, 21, 22, 24):
        assert line in fast, HOSTILE[line - 1]
    assert 6 in fast  # a plain JSON object of a tag with JSON rules (fastpath/jsonpaths.py)
    assert 8 not in fast  # malformed JSON: Lark


def test_hostile_lines_identical_in_syslog(tmp_path: Path, vendor: Dialects) -> None:
    path = _log(tmp_path, HOSTILE, syslog=True)
    assert _both(path, vendor).events["dialect"].to_list()[:3] == ["vendory"] * 3
    assert {1, 2, 3, 4, 5, 7} <= _fast_lines(path, vendor)


def test_a_tag_pattern_polars_cannot_run_sends_its_rows_to_lark(tmp_path: Path) -> None:
    dialects = _dialects(("vendory.toml", VENDOR.replace("'PaySvc\\d*'", "'PaySvc(?!X)\\d*'")))
    path = _log(tmp_path, HOSTILE[:5])
    _both(path, dialects)
    assert _fast_lines(path, dialects) == {4, 5}  # the tag as logged is a dialect tag: no pattern needed


_KEYS = ["evt", "outcome", "trace", "amt", "ccy", "inv", "level", "words", "program", "shift", "x.y"]
_VALUES = ["txn_result", "TXN_START", "APPROVED", "4599", "45.99", "", "EUR", '"q v"', '"a\\"b"', "é", "=x", "1e3"]
_KEYWORDS = ["TXN_START", "TXN_START:", "[TXN_START]", "txn.cancel", "txn.cancel:", "[txn.cancel]", "battery", "OK"]
_OPENINGS = ["{}", "[PaySvc{}] ", "PaySvc{} - ", "NetMgr{}: ", "[PAYMENT{}] ", "PAYMENT{} - ", "DEV{}: ", "PAY{}: "]


@st.composite
def _json_payload(draw: st.DrawFn) -> str:
    leaf = st.one_of(st.sampled_from(_VALUES), st.integers(-5, 10**20), st.booleans(), st.none(), st.text(max_size=4))
    tree = st.recursive(
        leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), c, max_size=3)
    )
    obj = draw(st.dictionaries(st.sampled_from(_KEYS + ["event", "result", "stan"]), tree, max_size=4))
    if draw(st.booleans()):
        obj["event"] = {"name": draw(st.sampled_from(["connect", "other"]))}
    text = json.dumps(
        obj, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    )
    if draw(st.booleans()) and len(text) > 2:  # a key twice, or the object cut short
        text = text[:-1] + ', "stan": "9"}' if draw(st.booleans()) else text[: draw(st.integers(1, len(text) - 1))]
    return draw(st.sampled_from(["", " "])) + text


@st.composite
def _logfmt_payload(draw: st.DrawFn) -> str:
    items = [draw(st.sampled_from(_KEYWORDS))] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 3)):
            items.append(draw(st.sampled_from(_KEYS)) + "=" + draw(st.sampled_from(_VALUES)))
        else:
            items.append(draw(st.sampled_from(["SALE", "w", "txn_result"])))
    return draw(st.sampled_from([" ", "  "])).join(items) + draw(st.sampled_from(["", " "]))


@st.composite
def _vendor_line(draw: st.DrawFn) -> str:
    payload = draw(st.one_of(_logfmt_payload(), _json_payload(), st.sampled_from(["link up", "link sideways"])))
    suffix = draw(st.sampled_from(["", "", "2", "X", ":"]))
    tag = draw(st.sampled_from(["app", "PaySvc3", "NetLink", "PAYMENT", "NET", "DEV", "PAY", "TransProcess"]))
    return f"I {tag:<8}: " + draw(st.sampled_from(_OPENINGS)).format(suffix) + payload


@pytest.mark.slow
@given(st.lists(_vendor_line(), min_size=1, max_size=8), st.booleans())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_generated_vendor_lines_identical(tmp_path: Path, vendor: Dialects, lines: list[str], syslog: bool) -> None:
    """Random payloads in every style and tags in every shape, logcat or syslog, on both paths."""
    _both(_log(tmp_path, lines, syslog), vendor)


def test_formats_lists_a_message_sample_as_written(monkeypatch: pytest.MonkeyPatch, vendor: Dialects) -> None:
    from click.testing import CliRunner

    from forensics import cli

    monkeypatch.setattr(cli, "registry_for", lambda sources: Registry(vendor))
    out = CliRunner().invoke(cli.cli, ["formats"]).output
    assert "    [PaySvc2] evt=txn_result outcome=APPROVED" in out
    assert "    PAYMENT: TXN_START: SALE amt=45.99" in out
