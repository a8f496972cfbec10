"""A format is a folder: nothing outside ``grammars/<name>/`` names a format, and adding a
folder adds a format that every stage reads by its role."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

from forensics.formats import ROLES, declared

from tests.conftest import ROOT

#: Format names the simulator's CLI option --terminal offers: it says which log the simulator
#: writes (forensics/simulate/ writes the formats, so it is not scanned at all).
_ALLOWED = {("forensics/cli.py", "logcat"), ("forensics/cli.py", "syslog")}


def _words(identifier: str) -> set[str]:
    """The lower-case words of an identifier (snake_case and CamelCase)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", identifier)
    return {w.lower() for w in re.split(r"[_.]+", spaced) if w}


def format_mentions(source: str, names: set[str]) -> list[str]:
    """Where ``source`` names one of the formats ``names``: a string literal equal to a name, an
    identifier or imported module with a name as one of its words (a name that is also a role,
    such as settlement, counts as a literal only where the ``format`` column is compared), and
    any comparison on the ``format`` column (stages select on ``role``)."""
    found = []
    plain = names - set(ROLES)
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in plain:
            found.append(f"line {line}: {node.value!r}")
        elif isinstance(node, ast.Name | ast.Attribute | ast.FunctionDef | ast.ClassDef | ast.alias | ast.ImportFrom):
            ident = {
                ast.Name: lambda n: n.id,
                ast.Attribute: lambda n: n.attr,
                ast.FunctionDef: lambda n: n.name,
                ast.ClassDef: lambda n: n.name,
                ast.alias: lambda n: n.name,
                ast.ImportFrom: lambda n: n.module or "",
            }[type(node)](node)
            if _words(ident) & plain:
                found.append(f"line {line}: {ident}")
        if isinstance(node, ast.Compare | ast.Call):
            text = ast.unparse(node)
            if isinstance(node, ast.Call) and not text.split("(")[0].endswith(".is_in"):
                continue
            if re.search(r"col\('format'\)|\['format'\]", text):
                found.append(f"line {line}: {text}")
    return found


def test_the_scanner_finds_each_way_of_naming_a_format() -> None:
    names = {"jpos", "logcat", "settlement"}
    source = (
        "x = 'jpos'\n"
        "class JposBlocks: pass\n"
        "from forensics.formats.logcat import TWINS\n"
        "a = pl.col('format') == 'settlement'\n"
        "b = events['format'].is_in(['x'])\n"
        "c = tl.settlement\n"
        "d = pl.col('role') == 'host'\n"
    )
    assert sorted({int(m.split(":")[0].split()[1]) for m in format_mentions(source, names)}) == [1, 2, 3, 4, 5]


def test_no_module_outside_the_format_folders_names_a_format() -> None:
    names = set(declared())
    assert {"jpos", "logcat", "syslog", "settlement"} <= names
    bad = []
    for path in sorted((ROOT / "forensics").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("forensics/simulate/"):
            continue
        for mention in format_mentions(path.read_text(encoding="utf-8"), names):
            if (rel, mention.split("'")[1] if "'" in mention else "") not in _ALLOWED:
                bad.append(f"{rel}: {mention}")
    assert bad == []


def test_every_format_folder_is_complete() -> None:
    folders = ROOT / "grammars"
    for name, spec in declared().items():
        assert (folders / name / f"{name}.lark").is_file(), name
        assert (folders / name / "__init__.py").is_file(), name
        assert spec["role"] in ROLES, name
        assert spec.get("sample"), f"{name}: no sample lines"


NEW_FORMAT = {
    "kvlog.lark": """\
// A terminal log of the test's own:  YYYY/MM/DD HH:MM:SS HOST TAG: MSG
start: STAMP _SP HOST _SP TAG _SEP [MSG]
STAMP: /\\d{4}\\/\\d\\d\\/\\d\\d \\d\\d:\\d\\d:\\d\\d/
HOST: /\\S+/
TAG: /[^\\s:]+(?=: )/
_SEP: /: ?/
%import common (_SP, MSG)
""",
    "format.toml": """\
title = "A test's terminal log"
role = "terminal"
priority = 35
device_from_host = true
time = ['^(?P<year>\\d{4})/(?P<mon>\\d\\d)/(?P<day>\\d\\d) (?P<H>\\d\\d):(?P<M>\\d\\d):(?P<S>\\d\\d)$']
[[sample]]
line = "2026/03/14 10:02:11 term-7 TransProcess: RESULT status=APPROVED inv=000045"
expect = { host = "term-7", tag = "TransProcess", kind = "txn.result" }
""",
    "__init__.py": """\
from forensics.ingest.envelopes import Envelope, message, text


class KvLog(Envelope):
    def start(self, c):
        stamp, host, tag, msg = c
        return {"ts_raw": text(stamp), "host": text(host), "tag": text(tag), "message": message(msg)}


def _start(c, levels):
    stamp, host, tag, msg = c
    return {"ts_raw": stamp, "host": host, "tag": tag, "message": msg.str.strip_chars()}


TRANSFORMER = KvLog
TWINS = {"start": _start}
""",
}

RUN_WITH_FOLDERS = """\
import importlib.util, sys
spec = importlib.util.spec_from_file_location(
    "forensics.formats", sys.argv[1] + "/__init__.py", submodule_search_locations=[sys.argv[1]]
)
module = importlib.util.module_from_spec(spec)
sys.modules["forensics.formats"] = module
spec.loader.exec_module(module)
import forensics
from forensics.timeline import build
log = sys.argv[2]
fast = forensics.load(log, card_key="k")
slow = forensics.load(log, card_key="k", fast=False)
assert fast.events.equals(slow.events), "fast path and Lark differ"
ev = fast.events
print(sorted(set(zip(ev["format"], ev["role"], ev["device"]))), ev["kind"].to_list())
print(build(fast).transactions.height)
"""


def test_a_new_terminal_format_is_one_folder(tmp_path: Path) -> None:
    """A copy of grammars/ with one more folder: its lines parse (fast path and Lark alike), carry
    the folder's role, and the timeline builds transactions from them, with no other file touched."""
    folders = tmp_path / "grammars"
    shutil.copytree(ROOT / "grammars", folders, ignore=shutil.ignore_patterns("__pycache__"))
    (folders / "kvlog").mkdir()
    for name, body in NEW_FORMAT.items():
        (folders / "kvlog" / name).write_text(body, encoding="utf-8")
    log = tmp_path / "till.log"
    log.write_text(
        "2026/03/14 10:02:10 term-7 TransProcess: START type=SALE inv=000045 amount=12.50 cur=USD\n"
        "2026/03/14 10:02:11 term-7 TransProcess: RESULT status=APPROVED inv=000045\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, "-c", RUN_WITH_FOLDERS, str(folders), str(log)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.splitlines()
    assert first == "[('kvlog', 'terminal', 'term-7')] ['txn.start', 'txn.result']"
    assert int(second) == 1


def test_a_format_toml_with_an_unknown_role_or_no_block_terminals_fails_at_load() -> None:
    import pytest

    from forensics.errors import FormatError
    from forensics.ingest.formats import _load_format

    with pytest.raises(FormatError, match="logcat/format.toml: field 'role' is 'till'"):
        _load_format("logcat", {**declared()["logcat"], "role": "till"})
    with pytest.raises(FormatError, match="jpos/format.toml: framing 'block'"):
        _load_format("jpos", {k: v for k, v in declared()["jpos"].items() if k != "block"})
    with pytest.raises(FormatError, match="are not both terminals of jpos.lark"):
        _load_format("jpos", {**declared()["jpos"], "block": {"open": "LOG_OPEN", "close": "NO_SUCH"}})
