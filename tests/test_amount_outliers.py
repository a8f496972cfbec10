"""A keyed amount as an outlier of its terminal's sales (``amount_mismatch``, rule amount-keyed-outlier).

A terminal's honest sales here are log-normal around 24.50 (sigma 0.4), placed at their quantiles so the
frames are the same on every run; the keyed sale is the one under test.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from forensics.diagnosis.candidates import Params
from forensics.diagnosis.kinds.amount_mismatch import amount_mismatches
from tests.txn_frames import txns

SIGMA = 0.4


def _terminal(sales: int, keyed: int) -> list[dict[str, object]]:
    """``sales`` honest sales and one sale of ``keyed`` minor units keyed by hand."""
    spread = NormalDist(0, SIGMA)
    rows: list[dict[str, object]] = [
        {"txn": f"s{i}", "amount_entered": round(2450 * math.exp(spread.inv_cdf((i + 0.5) / sales)))}
        for i in range(sales)
    ]
    rows.append({"txn": "keyed", "amount_entered": keyed, "source": "keypad", "amount_keyed": keyed})
    return [{**r, "ts_start": "2026-01-01T10:00:00"} for r in rows]


def _flagged(sales: int, keyed: int) -> bool:
    return "keyed" in amount_mismatches(txns(_terminal(sales, keyed)), Params())["txn__txn"].to_list()


def _at_z(z: float) -> int:
    """A keyed amount ending in 0, ``z`` robust deviations above the median (about: amounts are whole cents)."""
    return round(2450 * math.exp(z * SIGMA) / 10) * 10


def test_a_slip_with_an_extra_zero_is_flagged() -> None:
    assert _flagged(200, 24500)  # 24.50 keyed as 245.00: 10x the median


def test_a_large_sale_that_does_not_end_in_zero_is_not_a_slip() -> None:
    assert not _flagged(200, 24501)


@pytest.mark.parametrize("z", [4.2, 4.4])
def test_a_busy_terminal_needs_a_further_outlier(z: float) -> None:
    # 4.2 and 4.4 robust deviations out: a slip among 200 sales, what 5,000 honest sales reach by chance
    assert _flagged(200, _at_z(z))
    assert not _flagged(5000, _at_z(z))


def test_the_needed_deviation_grows_with_the_sales() -> None:
    from forensics.diagnosis.kinds.amount_mismatch import z_needed

    frame = txns(_terminal(5000, 24500)).head(1)
    needed = frame.select(z_needed(frame, Params())).item()
    assert needed == pytest.approx(NormalDist().inv_cdf(1 - 0.01 / 5001), abs=1e-9)
    assert needed > Params().outlier_z
    assert _flagged(5000, _at_z(4.8))
