"""What a terminal does, step by step, and what it and the host log while doing it.

Each function takes the device and the true time it starts at and returns the time it ends,
so a family scripts a day as a sequence. Behaviour follows ../shared/docs/domain.md section 2:
the reversal is saved before a reversible request and sent before the next one, a timeout
leaves it pending, approvals are committed before printing, offline approvals queue for SAF.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from forensics.simulate.world import (
    ENTRY_DE22,
    GB18030_TEXT,
    MTI_PROC,
    OTHER_APPS,
    SYSLOG_OTHERS,
    Card,
    Device,
    HostItem,
    Txn,
)

REVERSIBLE = {"SALE", "REFUND", "VOID", "PREAUTH"}
MAX_REVERSAL_TRIES = 3


def s(t: datetime, seconds: float) -> datetime:
    """``t`` plus ``seconds``."""
    return t + timedelta(seconds=seconds)


def identify(dev: Device, t: datetime) -> datetime:
    """Boot-time identity and operator login."""
    w = dev.sim
    if not dev.android:
        dev.write(t, "kernel", "[    0.000000] Linux version 4.9.118 (build@vos) #1 SMP PREEMPT")
        dev.write(
            s(t, 1.2), "kernel", f"[    2.{w.rng.randint(100000, 999999)}] usb 1-1: new full-speed USB device number 2"
        )
    else:
        dev.raw(t, "--------- beginning of main")
    t = s(t, 3 + w.rng.random())
    model = f" model={dev.model}" if dev.model else ""
    dev.write(t, "TMS", f"device serial={dev.serial} tid={dev.tid} mid={dev.mid} app={dev.app}{model}")
    dev.write(s(t, 0.3), "UI", f"LOGIN op={w.rng.choice(['01', '02', '07', '11'])}")
    return s(t, 1)


def noise(dev: Device, t0: datetime, t1: datetime, per_hour: float = 20.0) -> None:
    """Lines of other apps and the system between t0 and t1."""
    w = dev.sim
    seconds = (t1 - t0).total_seconds()
    count = max(0, int(w.rng.gauss(per_hour * seconds / 3600, 2)))
    pool = OTHER_APPS if dev.android else SYSLOG_OTHERS
    for _ in range(count):
        t = s(t0, w.rng.uniform(0, seconds))
        r = w.rng.random()
        if r < 0.15:
            dev.write(
                t,
                "healthd",
                f"battery l={w.rng.randint(30, 100)} v={w.rng.randint(3700, 4200)}"
                f" t=29.{w.rng.randint(0, 9)} h=2 st=2 chg=u",
                pid=640,
                thread=655,
            )
        elif r < 0.2 and not dev.android:
            dev.write(
                t, "kernel", f"[{w.rng.uniform(100, 90000):12.6f}] mmc0: card status 0x{w.rng.randint(0, 4095):03x}"
            )
        elif r < 0.23:
            dev.write(t, "PrintSpooler", "\x01" + GB18030_TEXT.format(n=w.rng.randint(1, 99)), pid=1201, thread=1201)
        else:
            tag, text = w.rng.choice(pool)
            dev.write(
                t, tag, text.format(n=w.rng.randint(10, 9999)), level=w.rng.choice("DIIW"), pid=w.rng.randint(600, 1500)
            )


def ntp_step(dev: Device, t: datetime) -> None:
    """NTP corrects most of the device's clock error at ``t`` (time may jump backwards)."""
    current = dev.skew_s + sum(step for _, step in dev.clock_steps)
    step = -current * dev.sim.rng.uniform(0.8, 1.0)
    if dev.android:
        dev.write(t, "AlarmManager", f"Setting time of day to sec={int(t.timestamp() + current + step)}", pid=1000)
    else:
        dev.write(t, "ntpd", f"step time server 10.0.0.1 offset {step:+.6f} sec", pid=412)
    dev.clock_steps.append((s(t, 0.001), step))


def _tx_fields(dev: Device, txn: Txn, mti: str, proc: str, entry: str | None, extra: dict[str, str]) -> dict[str, str]:
    w = dev.sim
    lt = dev.local(txn.t)
    fields = {
        "3": proc,
        "4": f"{txn.amount:012d}",
        "11": txn.stan,
        "12": lt.strftime("%H%M%S"),
        "13": lt.strftime("%m%d"),
        "41": dev.tid,
        "42": dev.mid,
        "49": _numeric(w.cur),
        "62": txn.inv,
    }
    if entry:
        fields["22"] = ENTRY_DE22[entry]
    if txn.card is not None:
        fields["2"] = txn.card.masked
    if txn.atc:
        fields["55.9F36"] = txn.atc
    fields.update(extra)
    return {"0": mti, **fields}


def _numeric(cur: str) -> str:
    from forensics.money import currency

    return currency(cur).numeric  # type: ignore[union-attr]


def _comm_line(direction: str, fields: dict[str, str]) -> str:
    order = sorted((k for k in fields if k != "0"), key=lambda k: (int(k.split(".")[0]), k))
    return f"{direction} {fields['0']} " + " ".join(f"DE{k}={fields[k]}" for k in order)


def _host_fields(fields: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in fields.items() if "." not in k}
    if "55.9F36" in fields:
        out["55"] = "9F3602" + fields["55.9F36"]
    if "41" in out:
        out["41"] = out["41"].ljust(8)
    if "2" in out:
        out["2"] = out["2"].replace("*", "_")
    return out


def send_pending_reversal(
    dev: Device,
    t: datetime,
    *,
    reachable: bool = True,
    max_tries: int = MAX_REVERSAL_TRIES,
    refuse: bool = False,
    fallback: bool = False,
) -> datetime:
    """Send the reversal file (before the next request, at settlement or when idle).

    When the host cannot be reached the attempt counts; at ``max_tries`` (0 = never) the app
    deletes the file without sending it and the charge stands (domain.md 2.1 step 6). ``refuse``:
    the host answers 25 (no original found) although it approved the sale; ``fallback``: the
    primary host does not answer and the secondary host, which never saw the sale (and whose log
    is not part of the case), answers 25. Either way the app deletes the file as acknowledged.
    """
    rev = dev.pending_reversal
    if rev is None:
        return t
    w = dev.sim
    dev.reversal_tries += 1
    dev.write(t, "Reversal", f"SEND stan={rev.stan} try={dev.reversal_tries}")
    if not reachable:
        t = s(t, w.rng.uniform(5, 8))
        dev.write(t, "Comm", "CONNECT host=acq1 fail reason=timeout", level="W")
        if max_tries and dev.reversal_tries >= max_tries:
            dev.write(s(t, 0.01), "Reversal", f"DELETED stan={rev.stan} reason=max_retries", level="W")
            dev.pending_reversal, dev.reversal_tries = None, 0
        return s(t, 0.5)
    if fallback:
        t = s(t, w.rng.uniform(3, 10))
        dev.write(t, "Comm", "CONNECT host=acq1 fail reason=timeout", level="W")
        dev.write(s(t, 0.01), "Comm", f"CONNECT host=acq2 ok ms={w.rng.randint(300, 2500)}")
        w.host.muted = True
    fields = {
        "0": "0400",
        "3": MTI_PROC[rev.type][1],
        "4": f"{rev.amount:012d}",
        "11": rev.stan,
        "41": dev.tid,
        "42": dev.mid,
        "49": _numeric(w.cur),
        "62": rev.inv,
    }
    dev.write(s(t, 0.01), "Comm", _comm_line("TX", fields))
    th = s(t, w.rng.uniform(0.2, 0.6))
    w.host.block(th, "receive", _host_fields(fields), w.rng.randint(1, 5), "incoming")
    original = None if fallback else w.host.find(dev.tid, rev.stan)
    rc = "00" if original is not None and original.state == "approved" and not refuse else "25"
    if original is not None and rc == "00":
        original.state = "reversed"
    back = {"0": "0410", "11": rev.stan, "39": rc, "41": dev.tid}
    w.host.block(s(th, 0.1), "send", _host_fields(back), w.rng.randint(80, 300), "outgoing")
    w.host.muted = False
    t = s(th, w.rng.uniform(0.2, 0.6))
    dev.write(t, "Comm", _comm_line("RX", back))
    dev.write(s(t, 0.01), "Reversal", f"DELETED stan={rev.stan} reason=acked")
    dev.pending_reversal, dev.reversal_tries = None, 0
    dev.stan = dev.stan % 999999 + 1
    return s(t, 0.3)


def clear_reversal(dev: Device, t: datetime, op: str = "07") -> datetime:
    """The operator's Menu -> Clear Reversal: the pending reversal is deleted unsent."""
    dev.write(t, "UI", f'MENU item="Clear Reversal" op={op}')
    if dev.pending_reversal is not None:
        dev.write(s(t, 0.2), "Reversal", f"DELETED stan={dev.pending_reversal.stan} reason=operator_clear", level="W")
        dev.pending_reversal, dev.reversal_tries = None, 0
    return s(t, 3)


def transact(
    dev: Device,
    t: datetime,
    kind: str,
    amount: int,
    card: Card | None,
    *,
    entry: str = "chip",
    src: str = "ecr",
    op: str = "07",
    orig: Txn | None = None,
    tip: int | None = None,
    sent_amount: int | None = None,
    host_rc: str = "00",
    fault: str | None = None,
    reversal: dict[str, bool] | None = None,
    pin_tries: int = 0,
    via_fallback: bool = False,
) -> tuple[Txn, datetime]:
    """One online transaction attempt.

    ``fault`` is response_lost, printer_out, crash, power_loss or connect_fail (nothing sent);
    ``reversal`` passes ``refuse``/``fallback`` to the pending reversal sent first; ``pin_tries``
    logs that many PIN entries; ``via_fallback``: the request goes to the secondary host (booked
    in the acquirer's ledger, absent from the host log of the case).
    """
    w = dev.sim
    rng = w.rng
    inv = dev.next_inv()
    start = f"START type={kind} inv={inv} amount={w.major(amount)} cur={w.cur} op={op} src={src}"
    if orig is not None:
        start += f" orig_inv={orig.inv}" + (f" orig_rrn={orig.rrn}" if orig.rrn else "")
    if tip is not None:
        start += f" tip={w.major(tip)}"
    if src == "keypad" and kind not in ("VOID", "TIP_ADJUST"):
        dev.write(s(t, -4), "UI", f"KEY amount={w.major(amount)} op={op}")
    dev.write(t, "TransProcess", start)
    t = s(t, rng.uniform(2, 6))
    atc = None
    if card is not None and kind not in ("VOID", "TIP_ADJUST", "PREAUTH_COMPLETE"):
        if entry in ("chip", "contactless", "fallback"):
            atc = card.next_atc() if entry != "fallback" else None
        dev.write(t, "TransProcess", f"CARD entry={entry} pan={card.masked}" + (f" atc={atc}" if atc else ""))
    elif kind in ("VOID", "TIP_ADJUST", "PREAUTH_COMPLETE") and orig is not None:
        card = orig.card
    for _ in range(pin_tries):
        t = s(t, rng.uniform(2, 8))
        dev.write(t, "PinPad", "PIN entered len=4 blocks=1", level="D")
    t = s(t, rng.uniform(0.1, 0.4))
    if fault == "connect_fail":
        t = s(t, rng.uniform(3, 10))
        dev.write(t, "Comm", "CONNECT host=acq1 fail reason=timeout", level="W")
        txn = Txn(
            dev.serial,
            dev.tid,
            dev.mid,
            kind,
            inv,
            dev.next_stan(),
            amount,
            w.cur,
            card,
            atc,
            t,
            status="COMM_ERROR",
            orig_inv=orig.inv if orig is not None else None,
        )
        dev.write(s(t, 0.01), "TransProcess", f"RESULT status=COMM_ERROR inv={inv} stan={txn.stan}", level="E")
        return txn, s(t, rng.uniform(2, 6))
    dev.write(t, "Comm", f"CONNECT host=acq1 ok ms={rng.randint(120, 900)}")
    t = send_pending_reversal(dev, s(t, 0.05), **(reversal or {}))
    t = upload_saf(dev, t)  # queued offline advices go out with the next online transaction
    stan = dev.next_stan()
    txn = Txn(
        dev.serial,
        dev.tid,
        dev.mid,
        kind,
        inv,
        stan,
        amount,
        w.cur,
        card,
        atc,
        t,
        orig_inv=orig.inv if orig is not None else None,
    )
    mti, proc = MTI_PROC[kind]
    extra: dict[str, str] = {}
    if orig is not None and kind in ("VOID", "TIP_ADJUST", "PREAUTH_COMPLETE", "REFUND"):
        if orig.rrn:
            extra["37"] = orig.rrn
        if kind in ("VOID", "TIP_ADJUST") and orig.auth:
            extra["38"] = orig.auth
        if kind in ("TIP_ADJUST", "PREAUTH_COMPLETE"):
            extra["60"] = f"{orig.amount:012d}"
    if tip is not None:
        extra["54"] = f"{tip:012d}"
    fields = _tx_fields(dev, txn, mti, proc, entry if kind not in ("VOID", "TIP_ADJUST") else None, extra)
    if sent_amount is not None:
        fields["4"] = f"{sent_amount:012d}"
    elif dev.de4_factor != 1 and kind == "SALE":
        fields["4"] = f"{amount * dev.de4_factor:012d}"
    if kind in REVERSIBLE:
        if dev.log_saved:
            dev.write(s(t, -0.006), "Reversal", f"SAVED stan={stan}")
        dev.pending_reversal = txn
    dev.write(t, "Comm", _comm_line("TX", fields))
    txn.sent = int(fields["4"])
    # -- host side
    w.host.muted = via_fallback
    th = s(t, rng.uniform(0.2, 0.6))
    w.host.block(th, "receive", _host_fields(fields), rng.randint(1, 5), "incoming")
    txn.host_rc = host_rc
    host_amount = int(fields["4"])
    response = {"0": mti[:2] + str(int(mti[2]) + 1) + mti[3], "11": stan, "39": host_rc, "41": dev.tid}
    if host_rc == "00":
        rrn = w.host.rrn(th) if kind != "TIP_ADJUST" or orig is None or orig.rrn is None else orig.rrn
        auth = w.host.auth() if kind not in ("VOID", "TIP_ADJUST") or orig is None else (orig.auth or w.host.auth())
        response.update({"37": rrn, "38": auth})
        txn.rrn, txn.auth = rrn, auth
        _host_book(dev, txn, kind, proc, host_amount, orig, tip, fields, th)
    tr = s(th, rng.uniform(0.3, 1.4))
    w.host.block(tr, "send", _host_fields(response), int((tr - th).total_seconds() * 1000), "outgoing")
    w.host.muted = False
    # -- terminal side
    if fault in ("crash", "power_loss"):
        txn.status = "CRASHED" if fault == "crash" else "POWER_LOST"
        return txn, _lose_power_or_crash(dev, s(t, rng.uniform(0.2, 0.9)), txn, fault)
    if fault == "response_lost":
        t = s(t, dev.timeout_s)
        dev.write(
            t, "TransProcess", f"TIMEOUT stan={stan} waited_ms={int(dev.timeout_s * 1000)} reversal=pending", level="E"
        )
        dev.write(s(t, 0.005), "TransProcess", f"RESULT status=COMM_ERROR inv={inv} stan={stan}", level="E")
        txn.status = "COMM_ERROR"
        return txn, s(t, rng.uniform(1, 3))
    t = s(tr, rng.uniform(0.2, 0.6))
    dev.write(t, "Comm", _comm_line("RX", response))
    if kind in REVERSIBLE:
        dev.pending_reversal = None
        dev.write(s(t, 0.005), "Reversal", f"DELETED stan={stan} reason=approved")
    if host_rc != "00":
        dev.write(s(t, 0.01), "TransProcess", f"RESULT status=DECLINED inv={inv} stan={stan} rc={host_rc}", level="W")
        txn.status = "DECLINED"
        return txn, s(t, rng.uniform(2, 5))
    dev.write(
        s(t, 0.01), "TransProcess", f"RESULT status=APPROVED inv={inv} stan={stan} rc=00 auth={txn.auth} rrn={txn.rrn}"
    )
    if kind == "TIP_ADJUST" and orig is not None:
        orig.adjusted = host_amount
    elif kind not in ("BALANCE", "PREAUTH_VOID"):
        dev.open_batch.append(txn)
    t = s(t, rng.uniform(0.8, 1.6))
    if fault == "printer_out":
        dev.write(t, "Printer", 'STATUS code=2 text="Out of paper"', level="W")
    else:
        dev.write(t, "Printer", f"PRINT receipt inv={inv} copy=customer ok")
    return txn, s(t, rng.uniform(3, 10))


def host_applies_again(dev: Device, txn: Txn, after_s: float) -> Txn:
    """The host receives ``txn``'s request again ``after_s`` seconds after the first (a retransmission it does
    not recognise as one) and approves it again under a new RRN and approval code; returns that second item as
    a transaction (the same device, STAN and card: the terminal sent one message)."""
    host = dev.sim.host
    original = txn.host_item
    assert original is not None and txn.rrn is not None, "only an approved request can be applied twice"
    request = next(
        (tt, block)
        for tt, _, block in reversed(host.lines)
        if "<receive>" in block and f'id="11" value="{txn.stan}"' in block and f'id="41" value="{txn.tid}"' in block
    )
    answer = next(
        (tt, block)
        for tt, _, block in reversed(host.lines)
        if "<send>" in block and f'id="37" value="{txn.rrn}"' in block
    )
    th = s(request[0], after_s)
    rrn, auth = host.rrn(th), host.auth()
    host.again(th, request[1])
    tr = s(th, answer[0].timestamp() - request[0].timestamp())
    reply = answer[1].replace(f'value="{txn.rrn}"', f'value="{rrn}"').replace(f'value="{txn.auth}"', f'value="{auth}"')
    host.again(tr, reply)
    item = replace(original, rrn=rrn, auth=auth, t=th, capture=th)
    host.items.append(item)
    return replace(txn, rrn=rrn, auth=auth, host_item=item, t=th)


def _host_book(
    dev: Device,
    txn: Txn,
    kind: str,
    proc: str,
    amount: int,
    orig: Txn | None,
    tip: int | None,
    fields: dict[str, str],
    received: datetime,
) -> None:
    """The host books an online approval: its capture time is the host's own (``received``, the request's
    arrival), which the clearing file carries as ``capture_ts`` (spec/terminal-logs.md section 4)."""
    host = dev.sim.host
    if kind == "VOID" and orig is not None and orig.host_item is not None:
        orig.host_item.state = "voided"
        return
    if kind == "TIP_ADJUST" and orig is not None and orig.host_item is not None:
        orig.host_item.amount = amount
        txn.host_item = orig.host_item
        return
    item = HostItem(
        dev.tid,
        dev.mid,
        txn.stan,
        txn.rrn or "",
        txn.auth or "",
        proc,
        amount,
        dev.sim.cur,
        txn.card.masked if txn.card else "",
        txn.atc,
        txn.inv,
        f"{dev.batch:06d}",
        received,
        dev.tz,
        txn.t,
    )
    host.items.append(item)
    txn.host_item = item


def _lose_power_or_crash(dev: Device, t: datetime, txn: Txn, fault: str) -> datetime:
    """Crash or power loss between TX and RX: the in-memory reversal is lost."""
    w = dev.sim
    dev.pending_reversal = None
    if fault == "crash":
        t = crash(dev, t)
        dev.write(t, "PowerFail", "RECOVER state=BEGIN_SEND_ISO action=none", level="W")
        return s(t, w.rng.uniform(5, 20))
    dev.write(s(t, -w.rng.uniform(20, 60)), "healthd", "battery l=2 v=3400 t=31.0 h=2 st=3 chg=", pid=640, thread=655)
    t = s(t, w.rng.uniform(60, 240))
    dev.pid = w.rng.randint(1500, 9000)
    identify(dev, t)
    return s(t, 10)


def crash(dev: Device, t: datetime) -> datetime:
    """The payment app dies with a Java stack trace and restarts under a new pid; returns the restart time."""
    w = dev.sim
    pid = dev.pid
    lines = [
        "FATAL EXCEPTION: main",
        f"Process: com.example.pay, PID: {pid}",
        "java.lang.NullPointerException: Attempt to invoke virtual method on a null object reference",
        "\tat com.example.pay.trans.TransProcess.onResponse(TransProcess.java:212)",
        "\tat com.example.pay.comm.IsoClient$1.run(IsoClient.java:88)",
    ]
    if dev.android:
        for line in lines:
            dev.write(t, "AndroidRuntime", line, level="E", thread=pid)
    else:
        dev.write(t, "AndroidRuntime", lines[0], level="E")
        for line in lines[1:]:
            dev.raw(t, line if line.startswith("\t") else "\t" + line)
    dev.pid = w.rng.randint(1500, 9000)
    return s(t, w.rng.uniform(2, 5))


def resend_completion(dev: Device, t: datetime, done: Txn, pre: Txn) -> tuple[Txn, datetime]:
    """After a crash during the batch update, recovery queues the approved completion ``done``
    again as a new advice (new STAN, same inv) and sends it: the host books a second capture."""
    w = dev.sim
    dev.write(t, "PowerFail", "RECOVER state=BEGIN_BATCH_UPDATE action=reprint", level="W")
    t = s(t, w.rng.uniform(0.5, 2))
    dev.write(t, "Printer", f"PRINT receipt inv={done.inv} copy=customer ok")
    t = s(t, w.rng.uniform(20, 90))
    stan = dev.next_stan()
    again = Txn(
        dev.serial,
        dev.tid,
        dev.mid,
        "PREAUTH_COMPLETE",
        done.inv,
        stan,
        done.amount,
        w.cur,
        done.card,
        None,
        t,
        orig_inv=done.orig_inv,
    )
    dev.write(t, "SAF", f"QUEUED mti=0220 stan={stan} inv={done.inv} amount={w.major(done.amount)} depth=1")
    t = s(t, w.rng.uniform(3, 15))
    extra = {"37": pre.rrn or "", "38": done.auth or "", "60": f"{pre.amount:012d}"}
    fields = _tx_fields(dev, again, "0220", "000000", "chip", extra)
    dev.write(t, "Comm", _comm_line("TX", fields))
    th = s(t, w.rng.uniform(0.2, 0.6))
    w.host.block(th, "receive", _host_fields(fields), w.rng.randint(1, 5), "incoming")
    again.rrn, again.auth, again.host_rc = w.host.rrn(th), w.host.auth(), "00"
    item = HostItem(
        dev.tid,
        dev.mid,
        stan,
        again.rrn,
        again.auth,
        "000000",
        done.amount,
        w.cur,
        done.card.masked if done.card else "",
        None,
        done.inv,
        f"{dev.batch:06d}",
        t + timedelta(seconds=dev.skew_s),
        dev.tz,
        th,
    )
    w.host.items.append(item)
    again.host_item = item
    back = {"0": "0230", "11": stan, "37": again.rrn, "38": again.auth, "39": "00", "41": dev.tid}
    w.host.block(s(th, 0.2), "send", _host_fields(back), w.rng.randint(80, 300), "outgoing")
    t = s(th, w.rng.uniform(0.3, 0.9))
    dev.write(t, "Comm", _comm_line("RX", back))
    dev.write(s(t, 0.05), "SAF", f"UPLOAD stan={stan} rc=00 depth=0")
    dev.open_batch.append(again)
    return again, s(t, 2)


def offline_sale(dev: Device, t: datetime, amount: int, card: Card) -> tuple[Txn, datetime]:
    """Chip offline approval (Y1) queued for store-and-forward."""
    w = dev.sim
    inv = dev.next_inv()
    dev.write(t, "TransProcess", f"START type=SALE inv={inv} amount={w.major(amount)} cur={w.cur} op=07 src=ecr")
    t = s(t, w.rng.uniform(2, 5))
    atc = card.next_atc()
    dev.write(t, "TransProcess", f"CARD entry=chip pan={card.masked} atc={atc}")
    t = s(t, 0.2)
    dev.write(t, "Comm", "CONNECT host=acq1 fail reason=timeout", level="W")
    t = s(t, 5)
    stan = dev.next_stan()
    txn = Txn(dev.serial, dev.tid, dev.mid, "SALE", inv, stan, amount, w.cur, card, atc, t, auth="Y1")
    dev.write(t, "TransProcess", f"RESULT status=APPROVED inv={inv} stan={stan} rc=Y1 auth=Y1")
    dev.saf.append(txn)
    dev.write(s(t, 0.01), "SAF", f"QUEUED mti=0220 stan={stan} inv={inv} amount={w.major(amount)} depth={len(dev.saf)}")
    dev.open_batch.append(txn)
    dev.write(s(t, 1.2), "Printer", f"PRINT receipt inv={inv} copy=customer ok")
    return txn, s(t, 6)


def upload_saf(dev: Device, t: datetime) -> datetime:
    """Send queued offline advices (0220); the host books them at upload time."""
    w = dev.sim
    while dev.saf:
        txn = dev.saf.pop(0)
        fields = _tx_fields(dev, txn, "0220", "000000", "chip", {"38": "Y1"})
        dev.write(t, "Comm", _comm_line("TX", fields))
        th = s(t, w.rng.uniform(0.2, 0.6))
        w.host.block(th, "receive", _host_fields(fields), w.rng.randint(1, 5), "incoming")
        txn.rrn = w.host.rrn(th)
        txn.host_rc = "00"
        item = HostItem(
            dev.tid,
            dev.mid,
            txn.stan,
            txn.rrn,
            "Y1",
            "000000",
            txn.amount,
            w.cur,
            txn.card.masked if txn.card else "",
            txn.atc,
            txn.inv,
            f"{dev.batch:06d}",
            txn.t + timedelta(seconds=dev.skew_s),
            dev.tz,
            th,
        )
        w.host.items.append(item)
        txn.host_item = item
        back = {"0": "0230", "11": txn.stan, "37": txn.rrn, "39": "00", "41": dev.tid}
        w.host.block(s(th, 0.2), "send", _host_fields(back), w.rng.randint(80, 300), "outgoing")
        t = s(th, 0.5)
        dev.write(t, "Comm", _comm_line("RX", back))
        dev.write(s(t, 0.01), "SAF", f"UPLOAD stan={txn.stan} rc=00 rrn={txn.rrn} depth={len(dev.saf)}")
        t = s(t, 1)
    return t


def settle(dev: Device, t: datetime, *, upload_first: bool = False) -> datetime:
    """Batch close: pending reversal and SAF first, then 0500 with net totals.

    ``upload_first``: the host answers the 0500 with 95 (totals do not reconcile); the terminal
    uploads every batch item (0320, ``Batch: UPLOAD``) and closes again, answered 00.
    """
    w = dev.sim
    t = send_pending_reversal(dev, t)
    t = upload_saf(dev, t)
    voided = {x.orig_inv for x in dev.open_batch if x.type == "VOID"}
    items = [
        x
        for x in dev.open_batch
        if x.status == "APPROVED" and x.type in ("SALE", "REFUND", "PREAUTH_COMPLETE") and x.inv not in voided
    ]
    total = sum(-x.amount if x.type == "REFUND" else (x.adjusted or x.amount) for x in items)
    count = len(items)
    batch = f"{dev.batch:06d}"
    for answer in ["95", "00"] if upload_first else ["00"]:
        dev.write(t, "Batch", f"SETTLE batch={batch} count={count} total={w.major(total)}")
        stan = dev.next_stan()
        fields = {"0": "0500", "3": "920000", "11": stan, "41": dev.tid, "42": dev.mid, "60": batch}
        dev.write(s(t, 0.05), "Comm", _comm_line("TX", fields))
        th = s(t, w.rng.uniform(0.2, 0.6))
        w.host.block(th, "receive", _host_fields(fields), w.rng.randint(1, 5), "incoming")
        back = {"0": "0510", "11": stan, "39": answer, "41": dev.tid}
        w.host.block(s(th, 0.3), "send", _host_fields(back), w.rng.randint(80, 300), "outgoing")
        t = s(th, 0.6)
        dev.write(t, "Comm", _comm_line("RX", back))
        dev.write(s(t, 0.01), "Batch", f"RESULT batch={batch} rc={answer}")
        t = s(t, 2)
        if answer == "95":
            t = _batch_upload(dev, t, items)
    dev.batch += 1
    dev.open_batch = []
    return t


def _batch_upload(dev: Device, t: datetime, items: list[Txn]) -> datetime:
    """Batch upload after a 95: one 0320 per item, answered 0330 (the host books nothing new)."""
    w = dev.sim
    for txn in items:
        stan = dev.next_stan()
        dev.write(t, "Batch", f"UPLOAD stan={txn.stan} inv={txn.inv}")
        proc = MTI_PROC[txn.type][1]
        fields = {
            "0": "0320",
            "3": proc,
            "4": f"{txn.adjusted or txn.amount:012d}",
            "11": stan,
            "41": dev.tid,
            "42": dev.mid,
            "49": _numeric(w.cur),
            "62": txn.inv,
        }
        if txn.rrn:
            fields["37"] = txn.rrn
        dev.write(s(t, 0.02), "Comm", _comm_line("TX", fields))
        th = s(t, w.rng.uniform(0.1, 0.4))
        w.host.block(th, "receive", _host_fields(fields), w.rng.randint(1, 5), "incoming")
        back = {"0": "0330", "11": stan, "39": "00", "41": dev.tid}
        w.host.block(s(th, 0.1), "send", _host_fields(back), w.rng.randint(20, 90), "outgoing")
        t = s(th, 0.3)
        dev.write(t, "Comm", _comm_line("RX", back))
        t = s(t, 0.2)
    return t


def cancel(dev: Device, t: datetime, amount: int) -> datetime:
    """The customer walks away before presenting a card: the app cancels, nothing is sent."""
    w = dev.sim
    inv = dev.next_inv()
    dev.write(t, "TransProcess", f"START type=SALE inv={inv} amount={w.major(amount)} cur={w.cur} op=07 src=ecr")
    t = s(t, w.rng.uniform(5, 40))
    dev.write(t, "TransProcess", f"CANCEL inv={inv} op=07")
    return s(t, 2)


def reboot(dev: Device, t: datetime, *, rtc_reset: bool = False) -> datetime:
    """A reboot; with ``rtc_reset`` the clock comes up at 2000-01-01 until NTP sets it minutes later."""
    w = dev.sim
    if rtc_reset:
        current = dev.skew_s + sum(step for _, step in dev.clock_steps)
        epoch = datetime(2000, 1, 1, tzinfo=t.tzinfo)
        dev.clock_steps.append((t, (epoch - t).total_seconds() - current + w.rng.uniform(5, 30)))
    dev.pid = w.rng.randint(1500, 9000)
    t = identify(dev, t)
    if rtc_reset:
        t = s(t, w.rng.uniform(20, 240))
        current = dev.skew_s + sum(step for _, step in dev.clock_steps)
        residual = w.rng.uniform(-3, 3)
        if dev.android:
            dev.write(t, "AlarmManager", f"Setting time of day to sec={int(t.timestamp() + residual)}", pid=1000)
        else:
            dev.write(t, "ntpd", f"step time server 10.0.0.1 offset {-current + residual:+.6f} sec", pid=412)
        dev.clock_steps.append((s(t, 0.001), -current + residual))
    return s(t, 5)


def power_off(dev: Device, t: datetime) -> datetime:
    """The battery dies: the device is silent from ``t``; a pending reversal never leaves it that day."""
    dev.write(t, "healthd", "battery l=1 v=3380 t=31.0 h=2 st=3 chg=", pid=640, thread=655)
    if not dev.android:
        uptime = dev.sim.rng.uniform(3000, 60000)
        dev.write(s(t, 0.5), "kernel", f"[{uptime:12.6f}] power: battery critical, powering off")
    dev.online = False
    return s(t, 1)


def busy_hours(
    dev: Device,
    t: datetime,
    hours: float,
    *,
    per_hour: float = 12.0,
    cards: list[Card] | None = None,
    avoid: set[str] | None = None,
) -> tuple[list[Txn], datetime]:
    """Ordinary trade: sales (most), some declines, the odd refund or fallback, with noise."""
    w = dev.sim
    end = s(t, hours * 3600)
    done: list[Txn] = []
    finished = t
    noise(dev, t, end)
    if w.rng.random() < 0.15:
        ntp_step(dev, s(t, w.rng.uniform(0, hours * 3600)))
    if w.rng.random() < 0.1:
        identify(dev, s(t, w.rng.uniform(0, hours * 3600)))
    if w.wide and w.rng.random() < 0.3:
        ntp_step(dev, s(t, w.rng.uniform(0, hours * 3600)))
    while True:
        idle = max(t, finished)
        t = s(idle, w.rng.expovariate(per_hour / 3600))
        if t >= end:
            break
        if w.wide and w.rng.random() < 0.02:
            # a reboot while idle (some with the RTC back at 2000-01-01 until NTP sets it)
            at = s(idle, w.rng.uniform(1, max(2.0, (t - idle).total_seconds())))
            if dev.android:
                dev.raw(at, "--------- beginning of main")
            t = max(t, s(reboot(dev, s(at, 0.5), rtc_reset=w.rng.random() < 0.4), w.rng.uniform(5, 60)))
        card = w.rng.choice(cards) if cards and w.rng.random() < 0.3 else w.card()
        if avoid and card.masked in avoid:
            card = w.card()
        r = w.rng.random()
        # a sale a void or a refund already undid is not undone again (that would be a fault of its own)
        undone = {x.orig_inv for x in done if x.type in ("VOID", "REFUND") and x.orig_inv}
        approved = [
            x
            for x in done
            if x.status == "APPROVED" and x.type == "SALE" and x.card is not None and x.inv not in undone
        ]
        if w.wide and w.rng.random() < 0.18:
            extra, t = _everyday(dev, t, approved)
            done += extra
            finished = t
            continue
        if r < 0.02 and approved:
            # the customer changed their mind: void of the last sale, same batch
            last = approved[-1]
            txn, t = transact(dev, t, "VOID", last.amount, None, orig=last)
        elif r < 0.035 and approved:
            # goods returned: refund of an earlier sale to the same card, same amount
            earlier = w.rng.choice(approved)
            txn, t = transact(dev, t, "REFUND", earlier.amount, earlier.card, orig=earlier, src="keypad")
        elif r < 0.045 and dev.sim.exponent != 0:
            txn, t = offline_sale(dev, t, w.amount(), card)
        else:
            entry = "contactless" if r < 0.5 else "chip" if r < 0.94 else "swipe"
            if w.rng.random() < 0.03:
                dev.write(s(t, 1), "EmvProcess", "ICC_RESET_ERR(-1) retry=1", level="W")
                dev.write(s(t, 3), "EmvProcess", "FALLBACK to=swipe", level="W")
                entry = "fallback"
                t = s(t, 4)
            rc = "00" if w.rng.random() > 0.05 else w.rng.choice(["05", "51", "55"])
            txn, t = transact(
                dev, t, "SALE", w.amount(), card, entry=entry, host_rc=rc, src=w.rng.choice(["ecr", "keypad"])
            )
        done.append(txn)
        finished = t
    return done, max(end, finished)


def _everyday(dev: Device, t: datetime, approved: list[Txn]) -> tuple[list[Txn], datetime]:
    """Normal trade that looks odd: retried declines, PIN retries, cancels, benign timeouts whose
    reversal is acknowledged before the re-run, connect failures then a re-run, tip adjusts,
    deposits completed for less than authorised."""
    w = dev.sim
    what = w.rng.choice(
        ["decline_other_card", "pin_retry", "cancel", "benign_timeout", "connect_fail", "tip_adjust", "deposit"]
    )
    card, amount = w.card(), w.amount()
    out: list[Txn] = []
    if what == "decline_other_card":
        first, t = transact(dev, t, "SALE", amount, card, host_rc=w.rng.choice(["05", "51", "61"]))
        second, t = transact(dev, s(t, w.rng.uniform(10, 90)), "SALE", amount, w.card())
        out += [first, second]
    elif what == "pin_retry":
        first, t = transact(dev, t, "SALE", amount, card, host_rc="55", pin_tries=1)
        second, t = transact(dev, s(t, w.rng.uniform(5, 40)), "SALE", amount, card, pin_tries=1)
        out += [first, second]
    elif what == "cancel":
        t = cancel(dev, t, amount)
    elif what == "benign_timeout":
        first, t = transact(dev, t, "SALE", amount, card, fault="response_lost")
        second, t = transact(dev, s(t, w.rng.uniform(5, 900)), "SALE", amount, card)
        out += [first, second]
    elif what == "connect_fail":
        first, t = transact(dev, t, "SALE", amount, card, fault="connect_fail")
        second, t = transact(dev, s(t, w.rng.uniform(5, 120)), "SALE", amount, card)
        out += [first, second]
    elif what == "tip_adjust" and approved:
        sale = approved[-1]
        tip = max(1, sale.amount // w.rng.choice([5, 8, 10]))
        adjust, t = transact(
            dev, s(t, w.rng.uniform(30, 900)), "TIP_ADJUST", sale.amount + tip, None, orig=sale, tip=tip
        )
        out.append(adjust)
    else:
        hold = w.amount() * w.rng.randint(3, 8)
        pre, t = transact(dev, t, "PREAUTH", hold, card, src="keypad")
        bill = hold - w.rng.randint(0, hold // 3)
        done, t = transact(dev, s(t, w.rng.uniform(300, 3600)), "PREAUTH_COMPLETE", bill, card, orig=pre, src="keypad")
        out += [pre, done]
    return out, t
