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
