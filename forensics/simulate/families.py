"""Scenario families: a realistic day (or days) with one incident injected, and its truth.

Each family scripts devices through terminal.py on a World and returns its findings in the
vocabulary of ../shared/spec/findings.md plus a one-paragraph story. Negatives return none.
Mechanisms as in ../shared/docs/domain.md sections 2, 3 and 7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from forensics.simulate import terminal as T
from forensics.simulate.world import Device, Txn, World


@dataclass(frozen=True)
class Family:
    """A registered scenario family."""

    name: str
    kind: str | None  # finding kind, None for a negative
    cause: str | None
    contributing: tuple[str, ...]
    summary: str
    script: Callable[[World], tuple[list[dict[str, Any]], str]]
    # Inputs besides the terminal logs that evidence the finding: alternatives, () = terminal alone.
    needs: tuple[tuple[str, ...], ...] = ((),)
    inputs: str | tuple[str, ...] = "all"  # which inputs a case gives: "all", "seeded" or fixed roles
    wide: bool = False  # wider timings, everyday oddities and lookalikes (World.wide)


FAMILIES: dict[str, Family] = {}
# A sale's host approval the terminal never saw is known from the host log or the settlement file.
HOST_APPROVAL = (("host",), ("settlement",))


def family(
    name: str,
    kind: str | None,
    cause: str | None,  # type: ignore[no-untyped-def]
    contributing: tuple[str, ...],
    summary: str,
    *,
    needs: tuple[tuple[str, ...], ...] = ((),),
    inputs: str | tuple[str, ...] = "all",
    wide: bool = False,
):
    """Register a family script."""

    def register(
        fn: Callable[[World], tuple[list[dict[str, Any]], str]],
    ) -> Callable[[World], tuple[list[dict[str, Any]], str]]:
        FAMILIES[name] = Family(name, kind, cause, contributing, summary, fn, needs, inputs, wide)
        return fn

    return register


def finding(w: World, fam: str, txns: list[Txn], amount: int | None = None) -> dict[str, Any]:
    """A truth finding for ``txns`` in the family's kind, cause and evidence needs."""
    f = FAMILIES[fam]
    money = amount if amount is not None else txns[0].amount
    return {
        "kind": f.kind,
        "cause": f.cause,
        "contributing": list(f.contributing),
        "tid": txns[0].tid,
        "devices": sorted({t.device for t in txns}),
        "amount": w.major(money),
        "currency": w.cur,
        "transactions": list(txns),
        "needs": [list(n) for n in f.needs],
        "mechanism": fam,
    }


def _open(w: World, n: int = 1, *, android: bool | None = None) -> tuple[list[Device], datetime]:
    devices = []
    for i in range(n):
        is_android = w.rng.random() < 0.6 if android is None else android
        prefix = "A920" if is_android else "V400"
        devices.append(
            w.device(f"{prefix}-{w.rng.randint(1000, 9999)}{'' if i == 0 else chr(65 + i)}", android=is_android)
        )
    t = w.start
    for dev in devices:
        T.identify(dev, T.s(t, w.rng.uniform(0, 120)))
    return devices, T.s(t, 300)


def _close(w: World, devices: list[Device], t: datetime) -> datetime:
    """End of day: settle each device (in a wide world some answered 95 first), then the clearing cut-off."""
    for dev in devices:
        if not dev.online:
            continue
        t = T.settle(dev, T.s(t, w.rng.uniform(30, 300)), upload_first=w.wide and w.rng.random() < 0.3)
    w.host.clear(T.s(t, 60))
    return t


def _trade(w: World, dev: Device, t: datetime, hours: float, **kw: Any) -> datetime:
    kw.setdefault("per_hour", w.traffic)
    _, t = T.busy_hours(dev, t, hours, **kw)
    return t


def _rerun_day(
    w: World,
    *,
    hours: float,
    fault: str | None = None,
    gap: tuple[float, float] = (20, 90),
    between: Callable[[Device, datetime], datetime] | None = None,
    src: str = "ecr",
) -> tuple[Device, Txn, Txn]:
    """One terminal's day: trade, a first charge (``fault``), ``between``, the same card charged again."""
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, hours)
    card, amount = w.card(), w.amount()
    first, t = T.transact(dev, t, "SALE", amount, card, fault=fault)
    if between is not None:
        t = between(dev, t)
    second, t = T.transact(dev, T.s(t, w.rng.uniform(*gap)), "SALE", amount, card, src=src)
    t = _trade(w, dev, t, 3, avoid={card.masked})
    _close(w, [dev], t)
    return dev, first, second


# -- negatives -------------------------------------------------------------------------


@family("clean_day", None, None, (), "an ordinary day on one terminal; nothing went wrong")
def clean_day(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, w.rng.uniform(6, 9), per_hour=w.rng.uniform(6, 14))
    _close(w, [dev], t)
    return (
        [],
        f"An ordinary trading day on {dev.serial}: sales, the odd decline and card fallback, then settlement."
        " Nothing went wrong.",
    )


@family("clean_busy_day", None, None, (), "a busy day on several terminals with voids and refunds done right")
def clean_busy_day(w: World) -> tuple[list[dict[str, Any]], str]:
    devices, t = _open(w, w.rng.randint(2, 3))
    for dev in devices:
        t1 = _trade(w, dev, t, 3, per_hour=18)
        card = w.card()
        sale, t1 = T.transact(dev, t1, "SALE", w.amount(), card)
        _, t1 = T.transact(dev, T.s(t1, 90), "VOID", sale.amount, card, orig=sale)
        _trade(w, dev, t1, 3, per_hour=18)
    _close(w, devices, T.s(t, 6.5 * 3600))
    return [], (
        f"A busy day on {len(devices)} terminals ({', '.join(d.serial for d in devices)}), each with a sale voided "
        "at the customer's request. Everything settled as it should."
    )


@family("hardware_noise", None, None, (), "paper-out, chip fallbacks and USB resets that charged nobody wrongly")
def hardware_noise(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 2)
    card = w.card()
    sale, t = T.transact(dev, t, "SALE", w.amount(), card, fault="printer_out")
    dev.write(T.s(t, 40), "UI", 'MENU item="Reprint Last" op=07')
    dev.write(T.s(t, 41), "Printer", f"PRINT receipt inv={sale.inv} copy=customer ok")
    t = T.s(t, 60)
    for _ in range(w.rng.randint(3, 6)):
        dev.write(t, "EmvProcess", "ICC_RESET_ERR(-1) retry=2", level="W")
        dev.write(T.s(t, 2), "EmvProcess", "FALLBACK to=swipe", level="W")
        _, t = T.transact(dev, T.s(t, 4), "SALE", w.amount(), w.card(), entry="fallback")
        t = T.s(t, w.rng.uniform(200, 900))
    if not dev.android:
        dev.write(t, "kernel", f"[{w.rng.uniform(3000, 9000):12.6f}] usb 1-1: USB disconnect, device number 3")
    t = _trade(w, dev, t, 2)
    _close(w, [dev], t)
    return [], (
        f"{dev.serial} ran out of paper after approving sale inv {sale.inv}; the operator reprinted the last "
        "receipt instead of re-running it. Later the chip reader failed on several cards, which fell back to "
        "swipe and were approved once each. No one was charged wrongly."
    )


@family("legit_repeat", None, None, (), "the same card buys twice, different amounts, far apart")
def legit_repeat(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 2)
    card = w.card()
    first, t = T.transact(dev, t, "SALE", w.amount(), card)
    t = _trade(w, dev, t, w.rng.uniform(0.5, 1.5), avoid={card.masked})
    second_amount = w.amount()
    while second_amount == first.amount:
        second_amount = w.amount()
    second, t = T.transact(dev, t, "SALE", second_amount, card)
    t = _trade(w, dev, t, 2)
    _close(w, [dev], t)
    return [], (
        f"A regular customer paid twice on {dev.serial} with the same card: {w.major(first.amount)} at "
        f"inv {first.inv} and {w.major(second.amount)} at inv {second.inv}, well apart. Two purchases, two charges: "
        "no fault."
    )


# -- duplicate charges -----------------------------------------------------------------


@family(
    "dup_paper_out_rerun",
    "duplicate_charge",
    "hardware_fault",
    ("operator_error",),
    "printer out of paper after an approval; the operator re-ran the sale",
)
def dup_paper_out_rerun(w: World) -> tuple[list[dict[str, Any]], str]:
    dev, first, second = _rerun_day(w, hours=1 + 2 * w.rng.random(), fault="printer_out")
    amount = first.amount
    story = (
        f"On {dev.serial} sale inv {first.inv} ({w.major(amount)} {w.cur}) was approved, but the printer reported "
        f"'Out of paper' right after. With no receipt the operator ran the same card again (inv {second.inv}), "
        "which was approved too. The customer was charged twice."
    )
    return [finding(w, "dup_paper_out_rerun", [first, second])], story


@family(
    "dup_timeout_other_lane",
    "duplicate_charge",
    "network_timeout",
    (),
    "response lost on one lane; the sale re-run on another lane; reversal still pending",
    needs=HOST_APPROVAL,
)
def dup_timeout_other_lane(w: World) -> tuple[list[dict[str, Any]], str]:
    (lane1, lane2), t = _open(w, 2)
    t = _trade(w, lane1, t, 1.5)
    card, amount = w.card(), w.amount()
    first, t = T.transact(lane1, t, "SALE", amount, card, fault="response_lost")
    second, t2 = T.transact(lane2, T.s(t, w.rng.uniform(30, 120)), "SALE", amount, card)
    T.noise(lane1, t, T.s(t, 7200))
    t2 = _trade(w, lane2, t2, 2, avoid={card.masked})
    t2 = T.settle(lane2, T.s(t2, 60))
    w.host.clear(T.s(t2, 60))
    story = (
        f"Lane {lane1.serial} sent sale inv {first.inv} ({w.major(amount)} {w.cur}); the host approved it, but the "
        "response never reached the terminal, which timed out and showed a communication error with its reversal "
        f"pending. The customer was sent to lane {lane2.serial} and charged again. {lane1.serial} made no further "
        "transaction that day, so the reversal never left it and both charges cleared."
    )
    return [finding(w, "dup_timeout_other_lane", [first, second])], story


@family(
    "dup_reversal_max_retries",
    "duplicate_charge",
    "software_bug",
    ("network_timeout",),
    "timeout; reversal deleted unsent after max retries; the sale re-run",
    needs=HOST_APPROVAL,
)
def dup_reversal_max_retries(w: World) -> tuple[list[dict[str, Any]], str]:
    def retries(dev: Device, t: datetime) -> datetime:
        for _ in range(T.MAX_REVERSAL_TRIES):
            t = T.send_pending_reversal(dev, T.s(t, w.rng.uniform(20, 60)), reachable=False)
        return t

    dev, first, second = _rerun_day(w, hours=1.5, fault="response_lost", between=retries, gap=(30, 120))
    amount = first.amount
    story = (
        f"Sale inv {first.inv} on {dev.serial} ({w.major(amount)} {w.cur}) timed out after the host had approved"
        " it. "
        f"The terminal tried to send the reversal {T.MAX_REVERSAL_TRIES} times while the link was down, then"
        " deleted it "
        f"unsent (max retries). The operator re-ran the card (inv {second.inv}); both charges stand."
    )
    return [finding(w, "dup_reversal_max_retries", [first, second])], story


@family(
    "dup_crash_rerun",
    "duplicate_charge",
    "software_bug",
    (),
    "app crash between send and response; recovery skipped the reversal; the sale re-run",
    needs=HOST_APPROVAL,
)
def dup_crash_rerun(w: World) -> tuple[list[dict[str, Any]], str]:
    dev, first, second = _rerun_day(w, hours=1.5, fault="crash")
    amount = first.amount
    story = (
        f"The payment app on {dev.serial} crashed right after sending sale inv {first.inv}"
        f" ({w.major(amount)} {w.cur}). "
        "The host approved it. On restart the power-fail recovery skipped the reversal (state BEGIN_SEND_ISO, "
        f"action none), so nothing undid the approval. The operator re-ran the card (inv {second.inv})."
    )
    return [finding(w, "dup_crash_rerun", [first, second])], story


@family(
    "dup_power_loss_rerun",
    "duplicate_charge",
    "hardware_fault",
    ("operator_error",),
    "battery died between send and response; the sale re-run after the reboot",
    needs=HOST_APPROVAL,
)
def dup_power_loss_rerun(w: World) -> tuple[list[dict[str, Any]], str]:
    dev, first, second = _rerun_day(w, hours=1.5, fault="power_loss")
    amount = first.amount
    story = (
        f"{dev.serial} reported a battery at 2% and lost power just after sending sale inv {first.inv} "
        f"({w.major(amount)} {w.cur}), which the host approved. The reversal lived only in memory and was lost. "
        f"After the reboot the operator re-ran the card (inv {second.inv})."
    )
    return [finding(w, "dup_power_loss_rerun", [first, second])], story


@family(
    "dup_operator_rerun",
    "duplicate_charge",
    "operator_error",
    (),
    "an approved, printed sale run again on the same card",
)
def dup_operator_rerun(w: World) -> tuple[list[dict[str, Any]], str]:
    dev, first, second = _rerun_day(w, hours=2, gap=(60, 240), src="keypad")
    amount = first.amount
    story = (
        f"Sale inv {first.inv} ({w.major(amount)} {w.cur}) on {dev.serial} was approved and its receipt printed. "
        f"Minutes later the operator keyed the same amount again and the customer presented the same card "
        f"(inv {second.inv}). Nothing failed: the sale was simply run twice."
    )
    return [finding(w, "dup_operator_rerun", [first, second])], story


@family(
    "dup_clear_reversal",
    "duplicate_charge",
    "operator_error",
    ("network_timeout",),
    "timeout; the operator cleared the pending reversal, then re-ran the sale",
    needs=HOST_APPROVAL,
)
def dup_clear_reversal(w: World) -> tuple[list[dict[str, Any]], str]:
    dev, first, second = _rerun_day(
        w,
        hours=2,
        fault="response_lost",
        gap=(10, 60),
        between=lambda dev, t: T.clear_reversal(dev, T.s(t, w.rng.uniform(10, 40))),
    )
    amount = first.amount
    story = (
        f"Sale inv {first.inv} ({w.major(amount)} {w.cur}) on {dev.serial} timed out although the host approved it. "
        "The operator opened the menu and used 'Clear Reversal', deleting the pending reversal, then re-ran the "
        f"card (inv {second.inv}). Both charges stand."
    )
    return [finding(w, "dup_clear_reversal", [first, second])], story


def _swap(w: World, old: Device, t: datetime, *, mid: str | None = None) -> tuple[Device, datetime]:
    """Replace ``old`` by a new device under the same TID, counters re-initialised."""
    old.write(t, "TMS", f"RELEASE serial={old.serial} tid={old.tid}")
    android = w.rng.random() < 0.5
    new = w.device(
        f"{'A920' if android else 'V400'}-{w.rng.randint(1000, 9999)}N",
        android=android,
        tid=old.tid,
        mid=mid or old.mid,
        stan=1,
        inv=1,
        batch=1,
    )
    t = T.s(t, w.rng.uniform(600, 3600))
    T.identify(new, t)
    new.write(T.s(t, 6), "TMS", f"INIT serial={new.serial} tid={new.tid} stan=000001 inv=000001 batch=000001")
    new.write(T.s(t, 8), "TMS", f"PARAM download ok tid={new.tid} mid={new.mid}")
    return new, T.s(t, 20)


@family(
    "dup_migration_rerun",
    "duplicate_charge",
    "migration_sync_delay",
    ("operator_error",),
    "old terminal timed out with a reversal pending and was swapped; sale re-run on the new one",
    needs=HOST_APPROVAL,
)
def dup_migration_rerun(w: World) -> tuple[list[dict[str, Any]], str]:
    (old,), t = _open(w, 1)
    t = _trade(w, old, t, 1.5)
    card, amount = w.card(), w.amount()
    first, t = T.transact(old, t, "SALE", amount, card, fault="response_lost")
    new, t = _swap(w, old, T.s(t, w.rng.uniform(60, 300)))
    second, t = T.transact(new, T.s(t, w.rng.uniform(30, 120)), "SALE", amount, card)
    t = _trade(w, new, t, 3, avoid={card.masked})
    _close(w, [new], t)
    story = (
        f"During the terminal swap at this shop, the old terminal {old.serial} timed out on sale inv {first.inv} "
        f"({w.major(amount)} {w.cur}); the host had approved it and the reversal stayed pending on the old device, "
        f"which was then released. The new terminal {new.serial} came up under the same TID {old.tid} with its "
        f"counters reset, and the operator charged the customer again there (inv {second.inv}). The old device's "
        "reversal never left it."
    )
    return [finding(w, "dup_migration_rerun", [first, second])], story


@family(
    "dup_migration_saf_late",
    "duplicate_charge",
    "migration_sync_delay",
    ("operator_error",),
    "offline approval queued on the old terminal, uploaded days after the swap",
)
def dup_migration_saf_late(w: World) -> tuple[list[dict[str, Any]], str]:
    (old,), t = _open(w, 1)
    t = _trade(w, old, t, 1.5)
    card, amount = w.card(), w.amount()
    first, t = T.offline_sale(old, t, amount, card)
    new, t = _swap(w, old, T.s(t, w.rng.uniform(900, 3600)))
    second, t = T.transact(new, T.s(t, w.rng.uniform(600, 1800)), "SALE", amount, card, src="keypad")
    t = _trade(w, new, t, 3, avoid={card.masked})
    _close(w, [new], t)
    later = T.s(t, w.rng.uniform(2, 3) * 86400)
    old.write(later, "TMS", f"device serial={old.serial} tid={old.tid} mid={old.mid} app={old.app}")
    T.upload_saf(old, T.s(later, 30))
    w.host.clear(T.s(later, 3600))
    story = (
        f"The old terminal {old.serial} approved sale inv {first.inv} ({w.major(amount)} {w.cur}) offline and "
        "queued it for upload, then was swapped out before it uploaded. The new terminal's batch did not show the "
        f"sale, so the operator charged the customer again on {new.serial} (inv {second.inv}). Days later the old "
        "device was powered on and uploaded its queue: the first charge landed too."
    )
    return [finding(w, "dup_migration_saf_late", [first, second])], story


@family(
    "dup_settlement_duplicated",
    "duplicate_charge",
    "host_error",
    (),
    "the acquirer's settlement file cleared one approval twice",
    needs=(("settlement",),),
)
def dup_settlement_duplicated(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 3)
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card)
    t = _trade(w, dev, t, 3, avoid={card.masked})
    _close(w, [dev], t)
    date = next(d for d, item in w.host.cleared if item is sale.host_item)
    w.host.cleared.append((date, sale.host_item))  # type: ignore[arg-type]
    story = (
        f"Sale inv {sale.inv} ({w.major(amount)} {w.cur}) on {dev.serial} was approved once: the terminal and the "
        "host logs are clean. The acquirer's settlement file nevertheless lists it twice, with the same approval "
        "code, RRN and ATC."
    )
    return [finding(w, "dup_settlement_duplicated", [sale, sale])], story


@family(
    "dup_host_applied_twice",
    "duplicate_charge",
    "host_error",
    (),
    "the host received one request twice (a link-level retransmission) and approved both",
    needs=(("host",),),
)
def dup_host_applied_twice(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 3)
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card)
    ghost = T.host_applies_again(dev, sale, w.rng.uniform(0.5, 2.5))
    t = _trade(w, dev, t, 3, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"Sale inv {sale.inv} ({w.major(amount)} {w.cur}) on {dev.serial} was sent once and approved once on the "
        f"terminal. The host log shows the same request (STAN {sale.stan}) arriving a second time a moment later, "
        f"a retransmission the host did not recognise, and approved again under RRN {ghost.rrn}: both items cleared."
    )
    return [finding(w, "dup_host_applied_twice", [sale, ghost])], story


# -- amounts ---------------------------------------------------------------------------


@family("amount_keyed_x10", "amount_mismatch", "operator_error", (), "amount keyed with an extra digit")
def amount_keyed_x10(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 2)
    card = w.card()
    amount = int(w.median * w.rng.uniform(0.8, 1.6))  # a typical purchase...
    wrong = amount * 10  # ...keyed with one digit too many
    sale, t = T.transact(dev, t, "SALE", wrong, card, src="keypad")
    t = _trade(w, dev, t, 3, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"The operator on {dev.serial} keyed {w.major(wrong)} {w.cur} for a {w.major(amount)} purchase (one digit "
        f"too many). Sale inv {sale.inv} was approved for ten times the price and cleared."
    )
    return [finding(w, "amount_keyed_x10", [sale], wrong)], story


@family("amount_exponent_bug", "amount_mismatch", "software_bug", (), "app sends DE4 with the wrong exponent")
def amount_exponent_bug(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    dev.app = "1.02.03B"
    t = _trade(w, dev, t, 2)
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card, sent_amount=amount * 10)
    t = _trade(w, dev, t, 3, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"On {dev.serial} (app {dev.app}) sale inv {sale.inv} was entered as {w.major(amount)} {w.cur}, but the app "
        f"put {amount * 10:012d} in DE4: the host approved and cleared {w.major(amount * 10)}."
    )
    return [finding(w, "amount_exponent_bug", [sale], amount * 10)], story


@family("amount_tip_twice", "amount_mismatch", "software_bug", (), "tip adjust adds the tip twice")
def amount_tip_twice(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 2)
    card, amount = w.card(), w.amount()
    tip = max(1, amount // 10)
    sale, t = T.transact(dev, t, "SALE", amount, card)
    adjust, t = T.transact(
        dev,
        T.s(t, w.rng.uniform(300, 1800)),
        "TIP_ADJUST",
        amount + tip,
        None,
        orig=sale,
        tip=tip,
        sent_amount=amount + 2 * tip,
    )
    t = _trade(w, dev, t, 3, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"Sale inv {sale.inv} ({w.major(amount)} {w.cur}) on {dev.serial} got a tip of {w.major(tip)}. The adjust "
        f"(inv {adjust.inv}) showed a total of {w.major(amount + tip)} but the app sent {w.major(amount + 2 * tip)}: "
        "the tip was added twice."
    )
    return [finding(w, "amount_tip_twice", [sale, adjust], amount + 2 * tip)], story


# -- refunds ---------------------------------------------------------------------------


@family("refund_wrong_amount", "refund_error", "operator_error", (), "refund keyed at ten times the original")
def refund_wrong_amount(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 2)
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card)
    t = _trade(w, dev, t, 1, avoid={card.masked})
    refund, t = T.transact(dev, t, "REFUND", amount * 10, card, orig=sale, src="keypad")
    t = _trade(w, dev, t, 2, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"A customer returned the goods of sale inv {sale.inv} ({w.major(amount)} {w.cur}) on {dev.serial}. The "
        f"operator keyed the refund (inv {refund.inv}) as {w.major(amount * 10)}: ten times the original."
    )
    return [finding(w, "refund_wrong_amount", [sale, refund], amount * 10)], story


@family("refund_wrong_card", "refund_error", "operator_error", (), "refund to a card never charged here")
def refund_wrong_card(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 2)
    card, other, amount = w.card(), w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card)
    t = _trade(w, dev, t, 1, avoid={card.masked, other.masked})
    refund, t = T.transact(dev, t, "REFUND", amount, other, orig=sale, src="keypad")
    t = _trade(w, dev, t, 2, avoid={card.masked, other.masked})
    _close(w, [dev], t)
    story = (
        f"Sale inv {sale.inv} ({w.major(amount)} {w.cur}) was paid with card {card.masked}. Its refund "
        f"(inv {refund.inv}, citing the sale's RRN) was made to card {other.masked}, which was never charged here."
    )
    return [finding(w, "refund_wrong_card", [sale, refund])], story


@family(
    "refund_wrong_invoice_after_reset",
    "refund_error",
    "migration_sync_delay",
    ("operator_error",),
    "void of the wrong invoice after the new terminal reset the invoice counter",
)
def refund_wrong_invoice_after_reset(w: World) -> tuple[list[dict[str, Any]], str]:
    (old,), t = _open(w, 1)
    t = _trade(w, old, t, 1)
    old.inv = w.rng.randint(3, 9)
    card, amount = w.card(), w.amount()
    target, t = T.transact(old, t, "SALE", amount, card)
    new, t = _swap(w, old, T.s(t, 600))
    new_sales: list[Txn] = []
    while new.inv <= int(target.inv):
        sale, t = T.transact(new, T.s(t, w.rng.uniform(120, 600)), "SALE", w.amount(), w.card())
        new_sales.append(sale)
    wrong = next(s for s in new_sales if s.inv == target.inv)
    t = _trade(w, new, t, w.rng.uniform(0.4, 1.2), avoid={card.masked})
    void, t = T.transact(new, T.s(t, 60), "VOID", wrong.amount, None, orig=wrong)
    t = _trade(w, new, t, 2, avoid={card.masked})
    _close(w, [new], t)
    story = (
        f"A customer came back to cancel sale inv {target.inv} ({w.major(amount)} {w.cur}) made on the old terminal "
        f"{old.serial}. The replacement {new.serial} had restarted its invoice numbers under the same TID, so "
        f"'void invoice {target.inv}' on it voided a different customer's sale ({w.major(wrong.amount)}). The "
        "customer who asked stays charged."
    )
    return [finding(w, "refund_wrong_invoice_after_reset", [target, wrong, void], wrong.amount)], story


# -- deposits (pre-authorisation) -------------------------------------------------------


@family("deposit_completion_amount", "deposit_error", "operator_error", (), "completion keyed for the wrong amount")
def deposit_completion_amount(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 1)
    card = w.card()
    hold = w.amount() * 8
    pre, t = T.transact(dev, t, "PREAUTH", hold, card, src="keypad")
    t = _trade(w, dev, t, 3, avoid={card.masked})
    agreed = hold - hold // 4
    wrong = agreed * 10
    done, t = T.transact(dev, t, "PREAUTH_COMPLETE", wrong, card, orig=pre, src="keypad")
    t = _trade(w, dev, t, 2, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"A hotel deposit of {w.major(hold)} {w.cur} was authorised on {dev.serial} (inv {pre.inv}). At check-out "
        f"the bill was {w.major(agreed)}, but the completion (inv {done.inv}) was keyed as {w.major(wrong)} and "
        "cleared."
    )
    return [finding(w, "deposit_completion_amount", [pre, done], wrong)], story


@family("deposit_completed_twice", "deposit_error", "operator_error", (), "one pre-authorisation completed twice")
def deposit_completed_twice(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 1)
    card = w.card()
    hold = w.amount() * 6
    pre, t = T.transact(dev, t, "PREAUTH", hold, card, src="keypad")
    t = _trade(w, dev, t, 2, avoid={card.masked})
    first, t = T.transact(dev, t, "PREAUTH_COMPLETE", hold, card, orig=pre)
    second, t = T.transact(dev, T.s(t, w.rng.uniform(120, 900)), "PREAUTH_COMPLETE", hold, card, orig=pre)
    t = _trade(w, dev, t, 2, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"Deposit inv {pre.inv} ({w.major(hold)} {w.cur}) on {dev.serial} was completed at check-out "
        f"(inv {first.inv}) and completed again a few minutes later (inv {second.inv}): the guest paid twice."
    )
    return [finding(w, "deposit_completed_twice", [first, second])], story


# -- charged but declined --------------------------------------------------------------


@family(
    "cbd_power_loss",
    "charged_but_declined",
    "hardware_fault",
    (),
    "power lost between send and response; no re-run",
    needs=HOST_APPROVAL,
)
def cbd_power_loss(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 2)
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card, fault="power_loss")
    t = _trade(w, dev, T.s(t, 600), 3, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"{dev.serial} lost power on a flat battery just after sending sale inv {sale.inv} ({w.major(amount)} "
        f"{w.cur}). The host approved it, the terminal never knew, and the customer paid another way. The "
        "charge cleared."
    )
    return [finding(w, "cbd_power_loss", [sale])], story


@family(
    "cbd_crash",
    "charged_but_declined",
    "software_bug",
    (),
    "crash between send and response; recovery skipped the reversal",
    needs=HOST_APPROVAL,
)
def cbd_crash(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 2)
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card, fault="crash")
    t = _trade(w, dev, T.s(t, 600), 3, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"The app on {dev.serial} crashed right after sending sale inv {sale.inv} ({w.major(amount)} {w.cur}); "
        "the recovery at restart skipped the reversal. The host had approved; the customer left without a receipt "
        "and was charged."
    )
    return [finding(w, "cbd_crash", [sale])], story


@family(
    "cbd_reversal_dropped",
    "charged_but_declined",
    "software_bug",
    ("network_timeout",),
    "response lost; reversal deleted unsent after max retries; no re-run",
    needs=HOST_APPROVAL,
)
def cbd_reversal_dropped(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 2)
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card, fault="response_lost")
    for _ in range(T.MAX_REVERSAL_TRIES):
        t = T.send_pending_reversal(dev, T.s(t, w.rng.uniform(20, 60)), reachable=False)
    t = _trade(w, dev, T.s(t, 600), 3, avoid={card.masked})
    _close(w, [dev], t)
    story = (
        f"Sale inv {sale.inv} ({w.major(amount)} {w.cur}) on {dev.serial} timed out after the host approved it; "
        "the customer paid another way. The link stayed down, and after "
        f"{T.MAX_REVERSAL_TRIES} failed attempts the terminal deleted the reversal unsent, so the charge cleared."
    )
    return [finding(w, "cbd_reversal_dropped", [sale])], story


@family(
    "cbd_timeout_late_reversal",
    "charged_but_declined",
    "network_timeout",
    (),
    "response lost; reversal pending past the clearing cut-off",
    needs=HOST_APPROVAL,
)
def cbd_timeout_late_reversal(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t = _trade(w, dev, t, 4)
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card, fault="response_lost")
    T.noise(dev, t, T.s(t, 3 * 3600))
    w.host.clear(T.s(t, 4 * 3600))
    story = (
        f"Sale inv {sale.inv} ({w.major(amount)} {w.cur}) on {dev.serial} timed out: the host approved it but the "
        "response was lost, and the terminal showed a communication error. The customer paid cash. The terminal "
        "made no further transaction before the clearing cut-off, so its pending reversal never went out and the "
        "charge cleared."
    )
    return [finding(w, "cbd_timeout_late_reversal", [sale])], story


# -- misrouted funds, ledger ------------------------------------------------------------


@family(
    "misrouted_wrong_mid",
    "misrouted_funds",
    "migration_sync_delay",
    (),
    "replacement terminal initialised with another merchant's MID",
)
def misrouted_wrong_mid(w: World) -> tuple[list[dict[str, Any]], str]:
    (old,), t = _open(w, 1)
    t = _trade(w, old, t, 2)
    t = T.settle(old, t)
    wrong_mid = f"{w.rng.randint(10**8, 10**9 - 1):015d}"
    new, t = _swap(w, old, T.s(t, 600), mid=wrong_mid)
    sales, t = T.busy_hours(new, t, 3, per_hour=10)
    _close(w, [new], t)
    approved = [x for x in sales if x.status == "APPROVED"][:5] or sales[:1]
    story = (
        f"{old.serial} was replaced by {new.serial} under TID {old.tid}, but the new device was initialised with "
        f"MID {wrong_mid} instead of {old.mid}. Its sales cleared to another merchant."
    )
    return [finding(w, "misrouted_wrong_mid", approved, sum(x.amount for x in approved))], story


@family(
    "ledger_open_batch_retired",
    "ledger_mismatch",
    "migration_sync_delay",
    (),
    "old terminal retired with offline items never uploaded",
    needs=HOST_APPROVAL,
)
def ledger_open_batch_retired(w: World) -> tuple[list[dict[str, Any]], str]:
    (old,), t = _open(w, 1)
    t = _trade(w, old, t, 2)
    offline: list[Txn] = []
    for _ in range(w.rng.randint(2, 4)):
        txn, t = T.offline_sale(old, T.s(t, w.rng.uniform(120, 600)), w.amount(), w.card())
        offline.append(txn)
    new, t = _swap(w, old, T.s(t, 900))
    t = _trade(w, new, t, 3)
    _close(w, [new], t)
    story = (
        f"{old.serial} approved {len(offline)} sales offline while its link was down, then was retired and "
        f"replaced by {new.serial} before uploading them or settling its batch. Those sales never reached the "
        "acquirer: the device's batch and the settlement disagree, and the merchant was never paid for them."
    )
    return [finding(w, "ledger_open_batch_retired", offline, sum(x.amount for x in offline))], story


# -- a wider world: lookalikes, several incidents, the mechanisms real cases showed -------------
# These families run in World(wide=True) (wider timings, everyday oddities, settlement answered 95,
# reboots and RTC resets, CRLF, many duplicated lines), give a seeded choice of inputs, place
# lookalikes around the incident and sometimes a second, unrelated incident.


def _gap(w: World) -> float:
    """Seconds between a failed or doubtful charge and the next attempt: seconds to most of an hour."""
    return w.rng.choice([w.rng.uniform(5, 60), w.rng.uniform(60, 600), w.rng.uniform(600, 2700)])


def _lookalike(w: World, dev: Device, t: datetime) -> tuple[datetime, str]:
    """A situation that looks like a fault and is not; returns the time after it and one sentence."""
    what = w.rng.choice(["reprint", "timeout_acked", "same_card_later", "connect_fail", "offline_uploaded"])
    card, amount = w.card(), w.amount()
    if what == "reprint":
        sale, t = T.transact(dev, t, "SALE", amount, card, fault="printer_out")
        t = T.s(t, w.rng.uniform(20, 180))
        dev.write(t, "UI", f'MENU item="Reprint Last" op={w.rng.choice(["01", "07"])}')
        dev.write(T.s(t, 1), "Printer", f"PRINT receipt inv={sale.inv} copy=customer ok")
        return T.s(t, 10), f"paper ran out after sale inv {sale.inv} and the last receipt was reprinted (no re-run)"
    if what == "timeout_acked":
        first, t = T.transact(dev, t, "SALE", amount, card, fault="response_lost")
        second, t = T.transact(dev, T.s(t, _gap(w)), "SALE", amount, card)
        return t, (
            f"sale inv {first.inv} timed out and its re-run (inv {second.inv}) sent the reversal first, "
            "acknowledged: one charge"
        )
    if what == "same_card_later":
        first, t = T.transact(dev, t, "SALE", amount, card)
        t = _trade(w, dev, t, w.rng.uniform(2, 4), avoid={card.masked})
        second, t = T.transact(dev, t, "SALE", amount, card)
        return t, (
            f"the same card bought the same amount twice hours apart (inv {first.inv}, {second.inv}): two purchases"
        )
    if what == "connect_fail":
        first, t = T.transact(dev, t, "SALE", amount, card, fault="connect_fail")
        second, t = T.transact(dev, T.s(t, w.rng.uniform(5, 120)), "SALE", amount, card)
        return t, f"inv {first.inv} could not connect (nothing sent) and was re-run once (inv {second.inv})"
    offline, t = T.offline_sale(dev, t, amount, card)
    t = T.s(t, w.rng.uniform(600, 2400))
    nxt, t = T.transact(dev, t, "SALE", w.amount(), w.card())
    return t, f"offline approval inv {offline.inv} was uploaded with the next sale (inv {nxt.inv}); no re-run"


def _second_incident(w: World, dev: Device, t: datetime) -> tuple[dict[str, Any], datetime, str]:
    """An unrelated incident on the same day, in the vocabulary of an existing family."""
    what = w.rng.choice(["dup_paper_out_rerun", "dup_operator_rerun", "refund_wrong_amount", "dup_clear_reversal"])
    card, amount = w.card(), w.amount()
    if what == "refund_wrong_amount":
        sale, t = T.transact(dev, t, "SALE", amount, card)
        t = _trade(w, dev, t, w.rng.uniform(0.3, 1), avoid={card.masked})
        refund, t = T.transact(dev, t, "REFUND", amount * 10, card, orig=sale, src="keypad")
        return (
            finding(w, what, [sale, refund], amount * 10),
            t,
            f"Separately, the refund inv {refund.inv} of sale inv {sale.inv} was keyed at ten times its amount.",
        )
    fault = {"dup_paper_out_rerun": "printer_out", "dup_clear_reversal": "response_lost"}.get(what)
    first, t = T.transact(dev, t, "SALE", amount, card, fault=fault)
    if what == "dup_clear_reversal":
        t = T.clear_reversal(dev, T.s(t, w.rng.uniform(10, 60)))
    second, t = T.transact(
        dev,
        T.s(t, w.rng.uniform(20, 240)),
        "SALE",
        amount,
        card,
        src="keypad" if what == "dup_operator_rerun" else "ecr",
    )
    how = {
        "dup_paper_out_rerun": "after paper ran out",
        "dup_operator_rerun": "although its receipt printed",
        "dup_clear_reversal": "after a timeout and 'Clear Reversal'",
    }[what]
    return (
        finding(w, what, [first, second]),
        t,
        f"Separately, sale inv {first.inv} was re-run {how} (inv {second.inv}): a second double charge.",
    )


def _day(
    w: World, dev: Device, t: datetime, hours: float, avoid: set[str] | None = None, second: bool = True
) -> tuple[datetime, list[dict[str, Any]], list[str]]:
    """``hours`` of trade with lookalikes between, and maybe (``second``) one unrelated incident."""
    extra: list[dict[str, Any]] = []
    notes: list[str] = []
    parts = w.rng.randint(1, 3)
    for _ in range(parts):
        t = _trade(w, dev, t, hours / parts, avoid=avoid)
        t, note = _lookalike(w, dev, T.s(t, w.rng.uniform(30, 300)))
        notes.append(note)
    if second and w.rng.random() < 0.3:
        f, t, note = _second_incident(w, dev, T.s(t, w.rng.uniform(60, 600)))
        extra.append(f)
        notes.append(note)
    return t, extra, notes


def _told(notes: list[str]) -> str:
    looks = [n for n in notes if not n.startswith("Separately")]
    told = " ".join(n for n in notes if n.startswith("Separately"))
    said = f" Around it, lookalikes that are no fault: {'; '.join(looks)}." if looks else ""
    return said + (f" {told}" if told else "")


def _wide(
    name: str,
    kind: str | None,
    cause: str | None,  # type: ignore[no-untyped-def]
    contributing: tuple[str, ...],
    summary: str,
    *,
    needs: tuple[tuple[str, ...], ...] = ((),),
    inputs: str | tuple[str, ...] = "seeded",
):
    """Register a family that runs in a wide world and gives a seeded choice of inputs."""
    return family(name, kind, cause, contributing, summary, needs=needs, inputs=inputs, wide=True)


@_wide(
    "lookalike_day",
    None,
    None,
    (),
    "reprints, acknowledged timeouts, repeat customers, connect failures, offline uploads",
)
def lookalike_day(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t, _, notes = _day(w, dev, t, w.rng.uniform(4, 8), second=False)
    t, note = _lookalike(w, dev, T.s(t, 120))
    _close(w, [dev], _trade(w, dev, t, 1))
    return [], f"A day on {dev.serial} full of things that look like faults and are not.{_told(notes + [note])}"


@_wide(
    "dup_timeout_reversal_refused",
    "duplicate_charge",
    "network_timeout",
    (),
    "timeout; the re-run sends the reversal first, refused 25 by the host or a fallback host; both charges stand",
    needs=HOST_APPROVAL,
)
def dup_timeout_reversal_refused(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t, extra, notes = _day(w, dev, t, w.rng.uniform(1, 4))
    card, amount = w.card(), w.amount()
    first, t = T.transact(dev, t, "SALE", amount, card, fault="response_lost")
    fallback = w.rng.random() < 0.5
    via = fallback and w.rng.random() < 0.5
    second, t = T.transact(
        dev,
        T.s(t, _gap(w)),
        "SALE",
        amount,
        card,
        reversal={"fallback": True} if fallback else {"refuse": True},
        via_fallback=via,
    )
    t, more, after = _day(w, dev, t, w.rng.uniform(1, 3), avoid={card.masked}, second=False)
    _close(w, [dev], t)
    who = "the host refused it (25: original not found)"
    if fallback:
        who = "the primary host did not answer and the fallback host, which never saw the sale, refused it (25)" + (
            " and approved the re-run" if via else ""
        )
    story = (
        f"Sale inv {first.inv} ({w.major(amount)} {w.cur}) on {dev.serial} timed out after {dev.timeout_s:.0f} s "
        f"although the host had approved it. The re-run (inv {second.inv}) sent the pending reversal first, but "
        f"{who}; the terminal deleted the reversal as acknowledged and the re-run was approved. Both charges "
        f"stand.{_told(notes + after)}"
    )
    return [finding(w, "dup_timeout_reversal_refused", [first, second]), *extra], story


@_wide(
    "cbd_timeout_reversal_refused",
    "charged_but_declined",
    "network_timeout",
    (),
    "timeout, the customer leaves; the next sale sends the reversal first and a host refuses it (25);"
    " the charge stands",
    needs=HOST_APPROVAL,
)
def cbd_timeout_reversal_refused(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t, extra, notes = _day(w, dev, t, w.rng.uniform(1, 4))
    card, amount = w.card(), w.amount()
    first, t = T.transact(dev, t, "SALE", amount, card, fault="response_lost")
    fallback = w.rng.random() < 0.5
    nxt, t = T.transact(
        dev,
        T.s(t, _gap(w)),
        "SALE",
        w.amount(),
        w.card(),
        reversal={"fallback": True} if fallback else {"refuse": True},
    )
    t, more, after = _day(w, dev, t, w.rng.uniform(1, 3), avoid={card.masked}, second=False)
    _close(w, [dev], t)
    who = "the fallback host, which never saw the sale, refused it (25)" if fallback else "the host refused it (25)"
    story = (
        f"Sale inv {first.inv} ({w.major(amount)} {w.cur}) on {dev.serial} timed out although the host had "
        f"approved it; the customer left. The next sale (inv {nxt.inv}) sent the pending reversal first, but "
        f"{who}; the terminal deleted it as acknowledged. The customer stays charged.{_told(notes + after)}"
    )
    return [finding(w, "cbd_timeout_reversal_refused", [first]), *extra], story


@_wide(
    "amount_keyed_x10_corrected",
    "amount_mismatch",
    "operator_error",
    (),
    "amount keyed x10, corrected by a refund of the difference next day or a void and correct re-run",
)
def amount_keyed_x10_corrected(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t, extra, notes = _day(w, dev, t, w.rng.uniform(1, 4))
    card = w.card()
    amount = int(w.median * w.rng.uniform(0.8, 1.6))
    amount -= amount % (10 if w.exponent == 0 else 1)
    wrong = amount * 10
    sale, t = T.transact(dev, t, "SALE", wrong, card, src="keypad")
    if w.rng.random() < 0.5:
        void, t = T.transact(dev, T.s(t, w.rng.uniform(60, 900)), "VOID", wrong, None, orig=sale)
        right, t = T.transact(dev, T.s(t, w.rng.uniform(20, 120)), "SALE", amount, card, src="keypad")
        txns = [sale, void, right]
        how = f"voided it (inv {void.inv}) and re-ran {w.major(amount)} (inv {right.inv})"
        t, more, after = _day(w, dev, t, w.rng.uniform(1, 3), avoid={card.masked}, second=False)
        _close(w, [dev], t)
    else:
        t, more, after = _day(w, dev, t, w.rng.uniform(1, 3), avoid={card.masked}, second=False)
        t = _close(w, [dev], t)
        t = T.identify(dev, max(T.s(t, 9 * 3600), T.s(w.start, 86400 + w.rng.uniform(0, 3600))))
        t = _trade(w, dev, t, w.rng.uniform(0.5, 2), avoid={card.masked})
        refund, t = T.transact(dev, t, "REFUND", wrong - amount, card, orig=sale, src="keypad")
        txns = [sale, refund]
        how = f"refunded the difference, {w.major(wrong - amount)}, the next day (inv {refund.inv})"
        t = _trade(w, dev, t, w.rng.uniform(1, 3), avoid={card.masked})
        _close(w, [dev], t)
    story = (
        f"The operator on {dev.serial} keyed {w.major(wrong)} {w.cur} for a {w.major(amount)} purchase; sale "
        f"inv {sale.inv} was approved for ten times the price. The shop noticed and {how}. The amount was still "
        f"wrong when charged.{_told(notes + after)}"
    )
    return [finding(w, "amount_keyed_x10_corrected", txns, wrong), *extra], story


@_wide(
    "deposit_completion_resent_after_crash",
    "deposit_error",
    "software_bug",
    (),
    "completion approved; the app crashed in the batch update and recovery sent it again",
)
def deposit_completion_resent_after_crash(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t, extra, notes = _day(w, dev, t, w.rng.uniform(0.5, 2))
    card = w.card()
    hold = w.amount() * w.rng.randint(4, 10)
    pre, t = T.transact(dev, t, "PREAUTH", hold, card, src="keypad")
    t = _trade(w, dev, t, w.rng.uniform(1, 5), avoid={card.masked})
    bill = hold - w.rng.randint(0, hold // 3)
    done, t = T.transact(dev, t, "PREAUTH_COMPLETE", bill, card, orig=pre, src="keypad")
    t = T.crash(dev, T.s(t, w.rng.uniform(-3, -0.5)))
    again, t = T.resend_completion(dev, t, done, pre)
    t, more, after = _day(w, dev, t, w.rng.uniform(1, 3), avoid={card.masked}, second=False)
    _close(w, [dev], t)
    story = (
        f"Deposit inv {pre.inv} ({w.major(hold)} {w.cur}) on {dev.serial} was completed for {w.major(bill)} "
        f"(stan {done.stan}, approved). The app crashed while updating its batch; the power-fail recovery at "
        f"BEGIN_BATCH_UPDATE queued the completion again as a new advice (stan {again.stan}), which the host "
        f"approved too: the guest was captured twice.{_told(notes + after)}"
    )
    return [finding(w, "deposit_completion_resent_after_crash", [pre, done, again], bill), *extra], story


@_wide("refund_twice_two_operators", "refund_error", "operator_error", (), "the same sale refunded by two operators")
def refund_twice_two_operators(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t, extra, notes = _day(w, dev, t, w.rng.uniform(1, 3))
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card)
    t = _trade(w, dev, t, w.rng.uniform(0.5, 3), avoid={card.masked})
    ops = w.rng.sample(["01", "02", "07", "11"], 2)
    first, t = T.transact(dev, t, "REFUND", amount, card, orig=sale, src="keypad", op=ops[0])
    t = _trade(w, dev, t, w.rng.uniform(0.2, 4), avoid={card.masked})
    second, t = T.transact(dev, t, "REFUND", amount, card, orig=sale, src="keypad", op=ops[1])
    t, more, after = _day(w, dev, t, w.rng.uniform(1, 2), avoid={card.masked}, second=False)
    _close(w, [dev], t)
    story = (
        f"Sale inv {sale.inv} ({w.major(amount)} {w.cur}) on {dev.serial} was returned. "
        f"Operator {ops[0]} refunded it (inv {first.inv}); later operator {ops[1]}, not knowing, refunded it "
        f"again (inv {second.inv}). The "
        f"customer was credited twice.{_told(notes + after)}"
    )
    return [finding(w, "refund_twice_two_operators", [sale, first, second]), *extra], story


@_wide(
    "misrouted_wrong_mid_all",
    "misrouted_funds",
    "migration_sync_delay",
    (),
    "replacement terminal with another merchant's MID; one finding listing every transaction it cleared",
)
def misrouted_wrong_mid_all(w: World) -> tuple[list[dict[str, Any]], str]:
    (old,), t = _open(w, 1)
    t, extra, notes = _day(w, old, t, w.rng.uniform(1, 3))
    t = T.settle(old, t)
    wrong_mid = f"{w.rng.randint(10**8, 10**9 - 1):015d}"
    new, t = _swap(w, old, T.s(t, w.rng.uniform(300, 5400)), mid=wrong_mid)
    sales, t = T.busy_hours(new, t, w.rng.uniform(2, 6), per_hour=w.traffic)
    _close(w, [new], t)
    moved = [
        x
        for x in sales
        if x.status == "APPROVED"
        and x.type in ("SALE", "REFUND", "PREAUTH_COMPLETE")
        and x.host_item is not None
        and x.host_item.state == "approved"
        and x.host_item.mid == wrong_mid
    ]
    total = sum(
        -x.host_item.amount if x.type == "REFUND" else x.host_item.amount  # type: ignore[union-attr]
        for x in moved
    )
    story = (
        f"{old.serial} was replaced by {new.serial} under TID {old.tid}, but the new device was initialised with "
        f"MID {wrong_mid} instead of {old.mid}. All {len(moved)} items it cleared went to another merchant "
        f"(net {w.major(total)} {w.cur}).{_told(notes)}"
    )
    if not moved:
        return extra, story + " It cleared nothing, so no money moved."
    return [finding(w, "misrouted_wrong_mid_all", moved, total), *extra], story


@_wide(
    "cbd_power_loss_no_host",
    "charged_but_declined",
    "hardware_fault",
    (),
    "power lost between request and response; only terminal logs and the clearing file are given",
    needs=HOST_APPROVAL,
    inputs=("settlement",),
)
def cbd_power_loss_no_host(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t, extra, notes = _day(w, dev, t, w.rng.uniform(1, 4))
    card, amount = w.card(), w.amount()
    sale, t = T.transact(dev, t, "SALE", amount, card, fault="power_loss")
    t, more, after = _day(w, dev, T.s(t, _gap(w)), w.rng.uniform(1, 3), avoid={card.masked}, second=False)
    _close(w, [dev], t)
    story = (
        f"{dev.serial} lost power on a flat battery just after sending sale inv {sale.inv} ({w.major(amount)} "
        f"{w.cur}). The host approved it, the terminal never knew and the customer paid another way. The case has "
        f"the terminal log and the clearing file, not the host log.{_told(notes + after)}"
    )
    return [finding(w, "cbd_power_loss_no_host", [sale]), *extra], story


@_wide(
    "amount_app_version_bug",
    "amount_mismatch",
    "software_bug",
    (),
    "an app version sends DE4 scaled on every sale until it is rolled back; one finding listing them all",
)
def amount_app_version_bug(w: World) -> tuple[list[dict[str, Any]], str]:
    (dev,), t = _open(w, 1)
    t, extra, notes = _day(w, dev, t, w.rng.uniform(0.5, 2))
    good, bad = dev.app, dev.app + "B"
    factor = 100 if w.exponent == 0 else 10
    dev.app = bad
    t = T.reboot(dev, T.s(t, w.rng.uniform(60, 600)))
    dev.de4_factor = factor
    sales, t = T.busy_hours(dev, t, w.rng.uniform(2, 6), per_hour=w.traffic)
    dev.app, dev.de4_factor = good, 1
    t = T.reboot(dev, T.s(t, w.rng.uniform(60, 600)))
    t, more, after = _day(w, dev, t, w.rng.uniform(1, 2), second=False)
    _close(w, [dev], t)
    # every sale charged with the scaled DE4, even if a tip adjust or a void later changed it (findings.md)
    hit = [x for x in sales if x.type == "SALE" and x.status == "APPROVED" and x.sent == x.amount * factor]
    story = (
        f"{dev.serial} was upgraded to app {bad}, which put every sale's amount in DE4 {factor} times too large; "
        f"{len(hit)} approved sales were charged so before the version was rolled back to {good}."
        f"{_told(notes + after)}"
    )
    if not hit:
        return extra, story + " No sale was approved in that window."
    return [finding(w, "amount_app_version_bug", hit, sum(x.amount * factor for x in hit)), *extra], story


@_wide(
    "dup_battery_reversal_pending_other_lane",
    "duplicate_charge",
    "hardware_fault",
    ("network_timeout",),
    "timeout with the reversal pending; the battery dies before it goes out; the sale re-run on another lane",
    needs=HOST_APPROVAL,
)
def dup_battery_reversal_pending_other_lane(w: World) -> tuple[list[dict[str, Any]], str]:
    (lane1, lane2), t = _open(w, 2)
    t1, extra, notes = _day(w, lane1, t, w.rng.uniform(1, 3))
    card, amount = w.card(), w.amount()
    first, t1 = T.transact(lane1, t1, "SALE", amount, card, fault="response_lost")
    T.power_off(lane1, T.s(t1, w.rng.uniform(3, 120)))
    t2 = _trade(w, lane2, t, max(0.1, (t1 - t).total_seconds() / 3600), avoid={card.masked})
    second, t2 = T.transact(lane2, T.s(max(t1, t2), w.rng.uniform(40, 600)), "SALE", amount, card)
    t2, more, after = _day(w, lane2, t2, w.rng.uniform(1, 3), avoid={card.masked}, second=False)
    _close(w, [lane1, lane2], t2)
    story = (
        f"Sale inv {first.inv} ({w.major(amount)} {w.cur}) on lane {lane1.serial} timed out although the host "
        "approved it; before the pending reversal could go out, the lane's battery died. The customer was "
        f"charged again on lane {lane2.serial} (inv {second.inv}); the reversal never reached the host."
        f"{_told(notes + after)}"
    )
    return [finding(w, "dup_battery_reversal_pending_other_lane", [first, second]), *extra], story
