"""The timeline as an analyst reads it in a terminal: devices, flagged transactions, the rest.

Flagged transactions are shown in full with their evidence lines (path:line); the others are
tallied on one line unless every transaction is asked for. Colour marks outcomes; click drops
it when the output is not a terminal.
"""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from forensics.money import minor_to_major
from forensics.timeline import Timeline

_GOOD = {"APPROVED"}
_EVENT_KINDS = (
    "txn.start",
    "txn.card",
    "iso.tx",
    "iso.rx",
    "txn.result",
    "txn.timeout",
    "printer.status",
    "printer.print",
    "app.crash",
    "power.recover",
    "power.boot",
    "log.divider",
    "power.battery",
    "reversal.saved",
    "reversal.send",
    "reversal.deleted",
    "saf.queued",
    "saf.upload",
    "ui.key",
    "ui.menu",
    "comm.connect",
    "tms.release",
    "tms.init",
)


def money(amount: int | None, exponent: int | None, cur: str | None) -> str:
    """``4599, 2, USD`` -> ``45.99 USD``."""
    if amount is None:
        return "-"
    return f"{minor_to_major(amount, exponent if exponent is not None else 2)} {cur or ''}".strip()


def _outcome(word: str | None) -> str:
    if word is None:
        return "-"
    return click.style(word, fg="green" if word in _GOOD else "red", bold=word not in _GOOD)


def _ts(value: object) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:23] if hasattr(value, "strftime") else str(value)


def transaction_events(tl: Timeline, row: dict[str, object]) -> pl.DataFrame:
    """The events that tell one transaction: its window, its reversal, its host and settlement lines."""
    ev = tl.events
    own = ev.filter(
        pl.col("txn") == row["txn"],
        pl.col("kind").is_in(_EVENT_KINDS),
        (pl.col("kind") != "power.battery") | (pl.col("code") <= 15),
    )
    by_stan = ev.filter(
        pl.col("path") == row["path"],
        pl.col("stan") == row["stan"],
        pl.col("kind").is_in(["reversal.send", "reversal.deleted", "saf.upload"]),
        pl.col("txn") != row["txn"],
    )
    host = ev.filter(
        pl.col("role") == "host",
        pl.col("tid") == row["tid"],
        pl.col("stan") == row["stan"],
        (pl.col("ts_utc") - pl.lit(row["ts_start"])).dt.total_seconds().abs() < 3 * 86400,
    )
    settle = ev.filter(pl.col("kind") == "settle.item", pl.col("rrn") == row["rrn"]) if row.get("rrn") else ev.clear()
    return pl.concat([own, by_stan, host, settle]).unique(["path", "line"]).sort("ts_utc", "path", "line")


def _describe(e: dict[str, object]) -> str:
    if e["role"] == "host":
        return f"host {e['kind'].split('.')[1]} {e['mti'] or ''} rc={e['rc'] or '-'} {e['message'] or ''}".strip()
    if e["kind"] == "settle.item":
        return f"settlement: cleared {e['rrn']} {money(e['amount'], e['exponent'], e['currency'])}"
    message = (e["message"] or "").split("\n")[0]
    return f"{e['tag']}: {message}"


def render(tl: Timeline, *, show_all: bool = False, max_flagged: int = 12) -> str:
    """The text view (see the module docstring)."""
    out: list[str] = []
    inputs = tl.loaded.inputs
    has_host = bool((inputs["role"] == "host").any())
    has_settle = bool((inputs["role"] == "settlement").any())
    out.append(
        f"{tl.transactions.height} transactions on {tl.devices.height} device(s); host log: "
        f"{'yes' if has_host else 'no'}; settlement: {'yes' if has_settle else 'no'}"
    )
    for note in inputs.filter(pl.col("notes").is_not_null()).iter_rows(named=True):
        out.append(click.style(f"  note: {Path(note['path']).name}: {note['notes']}", fg="yellow"))
    out.append("")
    for d in tl.devices.iter_rows(named=True):
        clock = (
            f"clock {d['skew_s']:+.1f} s vs host ({d['clock_matches']} pairs)"
            if d.get("clock_matches")
            else "clock: no host pairs"
        )
        extra = f", released {_ts(d['released_at'])}" if d.get("released_at") else ""
        out.append(
            f"{click.style(str(d['device']), bold=True)}  TID {d['tid']}  MID {d['mid']}  app {d['app_version']}  "
            f"{clock}  {d['role']}{extra}"
        )
        out.append(
            f"    seen {_ts(d['first_seen'])} .. {_ts(d['last_seen'])} UTC, {d['transactions']} transactions, "
            f"{d['boots']} boots, {d['counter_resets']} counter resets"
        )
        if d.get("zone_hint"):
            out.append(click.style(f"    note: {d['zone_hint']}", fg="yellow"))
    txns = tl.transactions
    flagged = txns.filter(pl.col("flags").list.len() > 0)
    out.append("")
    out.append(click.style(f"Flagged transactions ({flagged.height} of {txns.height})", bold=True))
    for row in flagged.head(max_flagged).iter_rows(named=True):
        out += _block(tl, row)
    if flagged.height > max_flagged:
        out.append(f"  ... {flagged.height - max_flagged} more flagged (filter with --tid/--inv/--card/--since)")
    rest = txns.filter(pl.col("flags").list.len() == 0)
    if show_all:
        out.append("")
        out.append(click.style("Other transactions", bold=True))
        for row in rest.iter_rows(named=True):
            out.append(
                f"  {_ts(row['ts_start'])}  {row['device']}  {row['txn_type'] or '-':<16} "
                f"inv {row['inv']} stan {row['stan']}  "
                f"{money(row['amount_entered'], row['exponent'], row['currency']):>14}  "
                f"{_outcome(row['merchant_outcome'])}  host {row['host_outcome'] or '-'}"
            )
    elif rest.height:
        tally = rest.group_by("merchant_outcome").len().sort("len", descending=True)
        words = ", ".join(f"{n} {(w or 'unknown').lower()}" for w, n in tally.iter_rows())
        out.append(f"\n{rest.height} other transactions ({words}); --all lists them")
    return "\n".join(out)


def _block(tl: Timeline, row: dict[str, object]) -> list[str]:
    head = (
        f"{click.style('!', fg='yellow', bold=True)} {row['txn_type']} inv {row['inv']} stan {row['stan']}  "
        f"{money(row['amount_entered'], row['exponent'], row['currency'])}  {row['device']} TID {row['tid']}  "
        f"{_ts(row['ts_start'])} UTC"
    )
    lines = [head]
    lines.append(
        f"    card {row['card'] or '-'} {row['entry'] or ''} atc {row['atc'] or '-'}   rrn {row['rrn'] or '-'} "
        f"auth {row['auth'] or '-'}"
    )
    cleared = "-" if row["cleared_count"] is None else f"{row['cleared_count']}x"
    lines.append(
        f"    merchant {_outcome(row['merchant_outcome'])} | host {_outcome(row['host_outcome'])} | cleared {cleared}"
    )
    for e in transaction_events(tl, row).iter_rows(named=True):
        where = f"{Path(e['path']).name}:{e['line']}"
        lines.append(f"    {_ts(e['ts_utc'])[11:]}  {_describe(e)[:90]:<90}  {click.style(where, dim=True)}")
    lines.append("    " + click.style("flags: " + ", ".join(row["flags"]), fg="yellow"))
    return lines
