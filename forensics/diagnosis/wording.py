"""What finding sentences share: amounts, cards, durations and causes as an analyst writes them."""

from __future__ import annotations

from typing import Any

from forensics.money import minor_to_major


def money(amount: int | None, t: dict[str, Any]) -> str:
    """``amount`` (minor units) in ``t``'s currency, e.g. ``45.99 USD``; ``?`` when unknown."""
    if amount is None:
        return "?"
    exponent = t.get("exponent")
    return f"{minor_to_major(amount, 2 if exponent is None else exponent)} {t.get('currency') or ''}".strip()


def card(t: dict[str, Any]) -> str:
    """A transaction's card as the analyst names it to the cardholder: ``card ****2323``
    (``an unknown card`` when no input showed it)."""
    masked = t.get("card")
    return f"card ****{masked[-4:]}" if masked else "an unknown card"


def duration(seconds: float) -> str:
    """A time span in the unit a person would say: ``45 s``, ``50 min``, ``3 h 20 min``, ``2 days``."""
    s = abs(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        hours, minutes = divmod(round(s / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{s / 86400:.0f} days"


#: each cause (spec/findings.md) in plain words, for headings
CAUSES = {
    "hardware_fault": "hardware fault",
    "software_bug": "software bug",
    "operator_error": "operator error",
    "migration_sync_delay": "sync delay during a device migration",
    "network_timeout": "network timeout",
    "host_error": "acquirer host error",
    "undetermined": "cause undetermined",
}
