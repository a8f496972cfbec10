"""Shared fixtures. Tests that need ../shared fail (not skip) when it is missing in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLES = ROOT / "sample_logs"

#: A small vendor dialect file (one rule, one sample) for the dialect loading and file tests.
VENDORX = """
name = "vendorx"
title = "Vendor X"
tags = ["Pay"]
[[rule]]
tag = "Pay"
keyword = "OK"
kind = "txn.result"
set = { status = "APPROVED" }
fields = { trace = "stan", amt = "amount", ccy = "currency" }
[[rule.sample]]
line = "OK trace=000412 amt=45.99 ccy=EUR"
expect = { kind = "txn.result", status = "APPROVED", stan = "000412", amount = 4599, currency = "EUR" }
"""


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder (spec, docs, Loghub corpus)."""
    if not (SHARED / "corpus" / "loghub").is_dir():
        message = f"../shared is missing (looked in {SHARED}); the Loghub tests need it"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED


def sample_log_files() -> list[Path]:
    """Every log file shipped in sample_logs/ (READMEs and truth files excluded)."""
    return sorted(
        p
        for p in SAMPLES.rglob("*")
        if p.is_file() and p.suffix not in (".md", ".json", ".toml") and not p.name.startswith(".")
    )


def malformed_lines(log: Path) -> set[int]:
    """Lines of ``log`` that its case's truth.json lists as malformed (empty without truth)."""
    truth = log.parent / "truth.json"
    if not truth.exists():
        return set()
    import json

    return {m["line"] for m in json.loads(truth.read_text())["malformed"] if m["file"] == log.name}
