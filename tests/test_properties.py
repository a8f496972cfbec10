"""Property tests: arbitrary bytes and damaged sample lines never crash ingest or the pipeline,
every line is accounted for, and both parse paths agree on damaged lines."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import forensics
from tests.conftest import SAMPLES
from tests.test_fastpath import both
from tests.test_ingest import assert_conserved

_PIECES = st.sampled_from(
    [
        b"03-14 10:02:11.204  2311  2398 I TransProcess: START type=SALE inv=000045 amount=45.99 cur=USD",
        b"Mar 14 10:02:11 term payapp[1]: Comm: TX 0200 DE2=4761739001010010 DE4=000000004599",
        b'<log realm="c" at="2026-03-14T10:02:11.204"><receive>',
        b"</receive></log>",
        b"\t at x",
        b"",
        b"\r",
        b"\x00",
        b"\xff\xfe",
        "打印机".encode("gb18030"),
        b"settle_date,tid",
        b'<field id="2" value="',
    ]
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=80), _PIECES), max_size=25), st.sampled_from([b"\n", b"\r\n"]))
def test_arbitrary_bytes_never_crash_and_lines_are_conserved(chunks: list[bytes], newline: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.log"
        path.write_bytes(newline.join(chunks))
        loaded = forensics.load(str(path), card_key="k")
        assert_conserved(loaded)
        for frame in loaded:
            assert "4761739001010010" not in frame.write_csv()


# Mutations of real sample lines: the kinds of damage that found bugs (numbers too long for a
# column, tabs in names, mangled keys and values, cut or doubled lines).
_MUTATIONS = [
    "9" * 25,
    "9" * 5000,
    "=",
    '"',
    "\\",
    "\t",
    "é",
    "中",
    "[",
    "]",
    ":",
    " ",
    "  ",
    "</log>",
    "<log ",
    "DE4=",
    "amount=",
    "cur=",
    "99999999999999999999.999",
    "1e3094300",
    "--5",
    "-0",
    "nan",
    "+5",
    "4111111111111111",
    "depth=",
    "type=",
    "stan=000001",
    "0400",
    "Dec 31 23:59:59",
    "²",
]
_SOURCES = [
    "tour/V400-0017.log",
    "tour/A920-7741.log",
    "tour/acquirer-host.log",
    "tour/settlement-2026-03-14.csv",
    "cbd_timeout_late_reversal/V400-6751.log",
]


def _mutated(lines: list[str], rng: random.Random, rate: float) -> list[str]:
    out = []
    for line in lines:
        roll = rng.random()
        if roll < rate:
            at = rng.randint(0, len(line))
            line = line[:at] + rng.choice(_MUTATIONS) + line[at:]
        elif roll < rate * 1.3:
            continue
        elif roll < rate * 1.6:
            out.append(line)
        out.append(line)
    return out


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SOURCES), st.integers(0, 10**6), st.integers(0, 2**32))
def test_mutated_sample_lines_parse_the_same_on_both_paths(source: str, start: int, seed: int) -> None:
    text = (SAMPLES / source).read_bytes().decode("utf-8", errors="surrogateescape").splitlines()
    start %= max(1, len(text) - 40)
    lines = _mutated(text[start : start + 40] if not source.endswith(".csv") else text[:40], random.Random(seed), 0.3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(source).name
        path.write_bytes("\n".join(lines).encode("utf-8", errors="surrogateescape") + b"\n")
        fast, _ = both([path])
        assert_conserved(fast)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_mutated_cases_keep_the_pipeline_going(seed: int, tmp_path: Path) -> None:
    """A damaged case still gives findings, a device view, every chart that applies and a Timesketch file."""
    from forensics.analysis import diagnose
    from forensics.report import charts, text, timesketch

    rng = random.Random(seed)
    cases = sorted(p.parent for p in SAMPLES.glob("*/truth.json"))
    case = cases[rng.randrange(len(cases))]
    paths = []
    for source in sorted(case.iterdir()):
        if source.suffix in (".log", ".csv"):
            lines = source.read_bytes().decode("utf-8", errors="surrogateescape").splitlines()
            target = tmp_path / source.name
            target.write_bytes("\n".join(_mutated(lines, rng, 0.05)).encode("utf-8", errors="surrogateescape") + b"\n")
            paths.append(str(target))
    result = diagnose(paths, card_key="k")
    assert_conserved(forensics.load(paths, card_key="k"))
    text.render(result.timeline, show_all=True)
    timesketch.write(result.timeline)
    for kind in charts.KINDS:
        if charts.why_not(kind, result.timeline, result.findings) is None:
            charts.figure(kind, result.timeline, result.findings)
