"""How the year of a year-less log steps from stamp to stamp (``clock.Months.step``), batch by batch alike."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest.clock import Months, month_steps, year_steps


def _steps(months: list[int | None]) -> list[int]:
    return year_steps(pl.Series(months, dtype=pl.Int32))[0].to_list()


@pytest.mark.parametrize(
    ("months", "expected"),
    [
        ([11, 12, 1, 2], [0, 0, 1, 0]),  # a year passing
        ([12, 1], [0, 1]),  # a log that begins in December
        ([10, 12, 1], [0, 0, 1]),  # November unlogged
        ([9, 12, 1], [0, 0, 1]),
        ([8, 12, 1], [0, 0, 0]),  # a jump into December from August: a reset
        ([3, 12, 1, 3], [0, 0, 0, 0]),  # RTC reset to 31 Dec (local), then 1 Jan, then set right
        ([3, 1, 3], [0, 0, 0]),  # RTC reset to 1 Jan
        ([10, 1], [0, 0]),  # October to January: a reset
        ([12, None, 1], [0, 0, 1]),  # a line without a stamp between
        ([11, 12, 1, 3, 12, 1], [0, 0, 1, 0, 0, 0]),  # a new year, then a reset from March
        ([12, 1, 12, 12], [0, 1, -1, 0]),  # a reset in December to 1 Jan, set right
        ([12, 1, 1, 11], [0, 1, 0, -1]),  # a reset in December, set right to November
        ([12, 1, 2, 3, 12], [0, 1, 0, 0, 0]),  # a new year, then March: a later jump is no set-right
        ([8, 1, 8], [0, 0, 0]),  # a reset at boot in August: nothing to set right
        ([12, 1, 1, 2, 9], [0, 1, 0, 0, -1]),  # still in January and February when set right
    ],
)
def test_year_steps(months: list[int | None], expected: list[int]) -> None:
    assert _steps(months) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(1, 12)), max_size=40), st.data())
def test_batches_step_the_years_of_the_whole(months: list[int | None], data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(months)), max_size=4)))
    at, total = Months(), 0
    for start, end in zip([0, *cuts], [*cuts, len(months)], strict=True):
        steps, at = month_steps(pl.Series(months[start:end], dtype=pl.Int32), at)
        total += steps
    assert total == sum(_steps(months))
    whole = Months()
    for m in months:
        if m is not None:
            whole = whole.step(m)[1]
    assert at == whole


_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STAMPS = st.one_of(
    st.none(),  # a row without a stamp
    st.builds(lambda m, d: f"{_MONTH_NAMES[m - 1]} {d:2d} 10:0{d % 10}:00", st.integers(1, 12), st.integers(1, 28)),
    st.builds(
        lambda y, m, z: f"{y}-{m:02d}-11T08:30:00{z}",
        st.integers(2020, 2027),
        st.integers(1, 12),
        st.sampled_from(["", "Z", "+08:00"]),
    ),
    st.just("2024-13-45T99:00:00"),  # read by the pattern, no time
    st.builds(  # jPOS's: a zone name of one offset, of several (CST) or unknown
        lambda m, z: f"Wed {_MONTH_NAMES[m - 1]} 14 10:02:03 {z} 2024",
        st.integers(1, 12),
        st.sampled_from(["UTC", "PDT", "CST", "XYZ"]),
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(_STAMPS, max_size=12), min_size=1, max_size=5),
    st.sampled_from([None, "UTC", "Asia/Shanghai", "+05:30"]),
    st.lists(st.sampled_from([2019, 2024, 2026]), max_size=2),
)
def test_several_inputs_at_once_resolve_as_each_alone(
    inputs: list[list[str | None]], tz: str | None, years: list[int]
) -> None:
    """``resolve_inputs`` over several inputs' rows (with ``input_years`` and each one's ``Years.base``) gives each
    row the time, and each input the counts, that ``resolve`` of that input alone gives."""
    from datetime import UTC, datetime

    from forensics.ingest.clock import Years, input_years, resolve, resolve_inputs, stamp_parts
    from forensics.ingest.formats import registry

    patterns = registry().formats["syslog"].time + registry().formats["jpos"].time
    anchors = [datetime(y, 6, 1, tzinfo=UTC) for y in years]
    schema = {"ts_raw": pl.String, "ts": pl.Datetime("us", "UTC")}  # as in the events: ts null until resolved
    frames = [pl.DataFrame({"ts_raw": stamps, "ts": [None] * len(stamps)}, schema=schema) for stamps in inputs]
    together = pl.concat([f.with_columns(_n=pl.lit(k, pl.Int32)) for k, f in enumerate(frames)])
    parts = stamp_parts(together, patterns).with_columns(_n=together["_n"])
    every = input_years(parts, len(frames))
    bases = [y.base(anchors, None, 0.0) if y.first is not None else None for y in every]
    out, stamped = resolve_inputs(together, parts, tz, bases)
    for k, frame in enumerate(frames):
        alone = Years()
        if frame.height:
            alone.add(stamp_parts(frame, patterns))
        assert every[k] == alone
        mine, info = resolve(frame, patterns, tz=tz, anchors=anchors, year=None, mtime=0.0)
        assert out.filter(pl.col("_n") == k)["ts"].to_list() == mine["ts"].to_list()
        if frame.height:
            assert (stamped[k].unreadable, stamped[k].refused) == (info.unreadable, info.refused)
            assert (stamped[k].tz_assumed, stamped[k].zone_names) == (info.tz_assumed, info.zone_names)
            assert (bases[k] or (None, None))[1] == info.year_source
