"""The Cython LALR engine (lark-cython) and pure Lark give the same records, line for line."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark import Lark

from forensics.ingest import dialect, formats, registry
from forensics.ingest.formats import RecordError, Registry
from tests.conftest import SAMPLES

pytest.importorskip("lark_cython")


def _pure_registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    monkeypatch.setattr(formats, "LALR_PLUGINS", {})
    monkeypatch.setattr(dialect, "LALR_PLUGINS", {})
    monkeypatch.setattr(dialect, "_PAYLOAD_PARSER", None)
    return Registry()


def _records(reg: Registry, path: Path) -> list[object]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    fmt = reg.detect(lines)
    out: list[object] = []
    for line in lines:
        try:
            out.append(reg.record(fmt, line))
        except RecordError as exc:
            out.append(str(exc))
    return out


@pytest.mark.slow
def test_engines_agree(monkeypatch: pytest.MonkeyPatch, shared: Path) -> None:
    fast = registry()
    assert formats.LALR_PLUGINS, "lark_cython is installed but the registry does not use it"
    files = [
        SAMPLES / "dup_crash_rerun" / p.name
        for p in (SAMPLES / "dup_crash_rerun").glob("*.log")
        if "acquirer" not in p.name
    ]
    files += [SAMPLES / "dup_paper_out_rerun" / p.name for p in (SAMPLES / "dup_paper_out_rerun").glob("[AV]*.log")]
    files += [shared / "corpus" / "loghub" / s / f"{s}_2k.log" for s in ("Linux", "Android", "OpenSSH")]
    expected = {path: _records(fast, path) for path in files}
    pure = _pure_registry(monkeypatch)
    assert isinstance(pure.formats["syslog"].parser, Lark)
    for path in files:
        assert _records(pure, path) == expected[path], path
