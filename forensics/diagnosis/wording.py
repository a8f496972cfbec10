"""What finding sentences share: amounts, cards, durations and causes as an analyst writes them."""

from __future__ import annotations

from typing import Any

from forensics.money import amount_text


def money(amount: int | None, t: dict[str, Any]) -> str:
    """``amount`` (minor units) in ``t``'s currency, e.g. ``45.99 USD``; ``?`` when unknown."""
    return amount_text(amount, t.get("exponent"), t.get("currency"))


def card(t: dict[str, Any]) -> str:
    """A transaction's card as the analyst names it to the cardholder: ``card ****2323``
    (``an unknown card`` when no input showed it)."""
    masked = t.get("card")
    return f"card ****{masked[-4:]}" if masked else "an unknown card"


def duration(seconds: float) -> str:
    """A span in the unit a person reads: ``850 ms``, ``41 s``, ``50 min``, ``2 h 5 min``, ``3 days``."""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days = round(seconds / 86400)
    return f"{days} day{'' if days == 1 else 's'}"


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
