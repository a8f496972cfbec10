"""Property tests: arbitrary bytes never crash ingest, and every line is accounted for."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import forensics
from tests.test_ingest import assert_conserved

_PIECES = st.sampled_from([
    b"03-14 10:02:11.204  2311  2398 I TransProcess: START type=SALE inv=000045 amount=45.99 cur=USD",
    b"Mar 14 10:02:11 term payapp[1]: Comm: TX 0200 DE2=4761739001010010 DE4=000000004599",
    b'<log realm="c" at="2026-03-14T10:02:11.204"><receive>', b"</receive></log>", b"\t at x", b"",
    b"\r", b"\x00", b"\xff\xfe", "打印机".encode("gb18030"), b"settle_date,tid", b"<field id=\"2\" value=\"",
])


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
