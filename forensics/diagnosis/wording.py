"""What finding summaries share: a transaction's amount as an analyst writes it."""

from __future__ import annotations

from typing import Any

from forensics.money import minor_to_major


def money(amount: int | None, t: dict[str, Any]) -> str:
    """``amount`` (minor units) in ``t``'s currency, e.g. ``45.99 USD``; ``?`` when unknown."""
    if amount is None:
        return "?"
    exponent = t.get("exponent")
    return f"{minor_to_major(amount, 2 if exponent is None else exponent)} {t.get('currency') or ''}".strip()
