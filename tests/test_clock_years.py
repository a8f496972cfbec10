"""Which steps back of a year-less log's months are a new year (``clock.new_years``), batch by batch alike."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest.clock import Months, month_steps, new_years


def _years(months: list[int | None]) -> list[bool]:
    return pl.select(new_years(pl.lit(pl.Series(months, dtype=pl.Int32)))).to_series().to_list()


@pytest.mark.parametrize(
    ("months", "expected"),
    [
        ([11, 12, 1, 2], [False, False, True, False]),  # a year passing
        ([12, 1], [False, True]),  # a log that begins in December
        ([10, 12, 1], [False, False, True]),  # November unlogged
        ([9, 12, 1], [False, False, True]),
        ([8, 12, 1], [False, False, False]),  # a jump into December from August: a reset
        ([3, 12, 1, 3], [False, False, False, False]),  # RTC reset to 31 Dec (local), then 1 Jan, then set
        ([3, 1, 3], [False, False, False]),  # RTC reset to 1 Jan
        ([10, 1], [False, False]),  # October to January: a reset
        ([12, None, 1], [False, False, True]),  # a line without a stamp between
        ([11, 12, 1, 3, 12, 1], [False, False, True, False, False, False]),  # a new year, then a reset
    ],
)
def test_new_years(months: list[int | None], expected: list[bool]) -> None:
    assert _years(months) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(1, 12)), max_size=40), st.data())
def test_batches_count_the_new_years_of_the_whole(months: list[int | None], data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(months)), max_size=4)))
    at, total = Months(), 0
    for start, end in zip([0, *cuts], [*cuts, len(months)], strict=True):
        steps, at = month_steps(pl.Series(months[start:end], dtype=pl.Int32), at)
        total += steps
    assert total == sum(_years(months))
    known = [m for m in months if m is not None]
    assert at == Months(known[-1] if known else None, next((m for m in reversed(known) if m < 11), None))
