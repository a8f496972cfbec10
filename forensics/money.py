"""Currencies (ISO 4217) and amounts as integer minor units; never floats."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib.resources import files

import polars as pl


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


_MAX_DIGITS = 18  # every integer of 18 digits fits 64 bits


def major_to_minor(text: str, exponent: int | None) -> tuple[int, int] | None:
    """``"45.99"`` -> ``(4599, 2)``. With no exponent known, the decimals written decide.

    Returns None when ``text`` is not a decimal number, or when the amount would need more
    than 18 digits in minor units or more than 18 decimals (no 64-bit amount holds it).
    Extra decimals beyond the exponent are kept by raising the exponent, so no digit is lost.
    """
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    if not value.is_finite():
        return None
    written = max(0, -value.as_tuple().exponent)  # type: ignore[operator]
    exp = written if exponent is None else max(exponent, written)
    if exp > _MAX_DIGITS or (value and value.adjusted() + exp >= _MAX_DIGITS):
        return None
    return int(value.scaleb(exp)), exp


def minor_to_major(amount: int, exponent: int) -> str:
    """``(4599, 2)`` -> ``"45.99"``: the decimal string of a minor-unit amount."""
    if exponent <= 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    digits = str(abs(amount)).rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def amount_text(amount: int | None, exponent: int | None, currency: str | None, unknown: str = "?") -> str:
    """``(4599, 2, "USD")`` -> ``"45.99 USD"``, as people read an amount (exponent unknown: 2);
    ``unknown`` when the amount is."""
    if amount is None:
        return unknown
    return f"{minor_to_major(amount, 2 if exponent is None else exponent)} {currency or ''}".strip()


def currency_columns(value: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Column twin of ``currency``: (alphabetic code, exponent), null where unknown."""
    text = value.str.strip_chars().str.to_uppercase()
    numeric = text.str.contains(r"^\d+$")
    by_code = {c.code: c.code for c in _BY_CODE.values()}
    code = (
        pl.when(numeric)
        .then(
            text.str.pad_start(3, "0").replace_strict(
                {n: c.code for n, c in _BY_NUMERIC.items()}, default=None, return_dtype=pl.String
            )
        )
        .otherwise(text.replace_strict(by_code, default=None, return_dtype=pl.String))
    )
    exponent = code.replace_strict({c.code: c.exponent for c in _BY_CODE.values()}, default=None, return_dtype=pl.Int64)
    return code, exponent


def major_columns(value: pl.Expr, exponent: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Column twin of ``major_to_minor`` for plain decimals (``-?digits[.digits]``): (minor, exponent)."""
    negative = value.str.starts_with("-")
    digits = value.str.strip_prefix("-")
    whole = digits.str.split_exact(".", 1).struct.field("field_0")
    frac = digits.str.split_exact(".", 1).struct.field("field_1").fill_null("")
    written = frac.str.len_chars().cast(pl.Int64)
    exp = pl.when(exponent.is_null()).then(written).otherwise(pl.max_horizontal(exponent, written))
    padded = pl.concat_str(whole, frac, pl.lit("0" * 18).str.slice(0, exp - written))
    minor = padded.cast(pl.Int64, strict=False)
    return pl.when(negative).then(-minor).otherwise(minor), exp
