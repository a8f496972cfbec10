"""What a card number is, by its digits: the Luhn check (ISO/IEC 7812-1 Annex B) and the shape
every card data rule of ``cards`` and ``wire`` asks for."""

from __future__ import annotations


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_pan(digits: str) -> bool:
    """True when ``digits`` (digits only) may be a card number: 13-19 digits, Luhn-valid, not
    starting with 0."""
    return 13 <= len(digits) <= 19 and digits[0] != "0" and luhn_ok(digits)
