"""Currencies (ISO 4217) and amounts as integer minor units; never floats."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib.resources import files


@dataclass(frozen=True)
class Currency:
    """One ISO 4217 currency."""

    code: str
    numeric: str
    exponent: int


def _load() -> tuple[dict[str, Currency], dict[str, Currency]]:
    text = files("forensics").joinpath("data/iso4217.csv").read_text(encoding="utf-8")
    by_code: dict[str, Currency] = {}
    by_numeric: dict[str, Currency] = {}
    for row in csv.DictReader(text.splitlines()):
        cur = Currency(row["code"], row["numeric"], int(row["exponent"]))
        by_code[cur.code] = cur
        by_numeric[cur.numeric] = cur
    return by_code, by_numeric


_BY_CODE, _BY_NUMERIC = _load()


def currency(value: str | None) -> Currency | None:
    """Look up a currency by alphabetic (``USD``) or numeric (``840``) code."""
    if not value:
        return None
    value = value.strip().upper()
    if value.isdigit():
        return _BY_NUMERIC.get(value.zfill(3))
    return _BY_CODE.get(value)


def major_to_minor(text: str, exponent: int | None) -> tuple[int, int] | None:
    """``"45.99"`` -> ``(4599, 2)``. With no exponent known, the decimals written decide.

    Returns None when ``text`` is not a decimal number. Extra decimals beyond the exponent
    are kept by raising the exponent, so no digit is lost.
    """
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    if not value.is_finite():
        return None
    written = max(0, -value.as_tuple().exponent)  # type: ignore[operator]
    exp = written if exponent is None else max(exponent, written)
    return int(value.scaleb(exp)), exp


def minor_to_major(amount: int, exponent: int) -> str:
    """``(4599, 2)`` -> ``"45.99"``: the decimal string of a minor-unit amount."""
    if exponent <= 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    digits = str(abs(amount)).rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"
