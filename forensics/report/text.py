"""The timeline as an analyst reads it in a terminal: what was read, devices, the story, the rest.

The same story diagnosis tells: every transaction of a finding is marked with the finding's id
(``F1``) and shown in full with its lines (path:line), terminal, host and settlement interleaved
in time order; transactions the timeline flags but no finding holds follow, marked ``!``; the
others are tallied on one line unless every transaction is asked for. Times are UTC after
clock correction, said once at the top; a charge's own time (its heading, as in the report) is when
its request was sent, else when it started. Every line fits ``WIDTH`` columns: text that does not
fit ends in ``…``. Colour marks outcomes; click drops it when the output is not a terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import polars as pl

from forensics.coverage import coverage, plural
from forensics.diagnosis.render import LOW_CONFIDENCE
from forensics.diagnosis.wording import duration
from forensics.money import amount_text
from forensics.timeline import Timeline

_GOOD = {"APPROVED"}
WIDTH = 120
_UI = ("ui.key", "ui.menu")
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
    """``4599, 2, USD`` -> ``45.99 USD``; ``-`` when unknown."""
    return amount_text(amount, exponent, cur, unknown="-")


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
    # a STAN or TID not known (null) matches no line: the comparison is null, and the filter drops it
    stan, tid = pl.lit(row["stan"], pl.String), pl.lit(row["tid"], pl.String)
    by_stan = ev.filter(
        pl.col("path") == row["path"],
        pl.col("stan") == stan,
        pl.col("kind").is_in(["reversal.send", "reversal.deleted", "saf.upload"]),
        pl.col("txn") != row["txn"],
    )
    host = ev.filter(
        pl.col("role") == "host",
        pl.col("tid") == tid,
        pl.col("stan") == stan,
        (pl.col("ts_utc") - pl.lit(row["ts_start"])).dt.total_seconds().abs() < 3 * 86400,
    )
    settle = ev.filter(pl.col("kind") == "settle.item", pl.col("rrn") == row["rrn"]) if row.get("rrn") else ev.clear()
    result_at = own.filter(pl.col("kind") == "txn.result")["ts_utc"].min()
    if result_at is not None:  # keys pressed after the result open the next sale, not this one
        own = own.filter(~(pl.col("kind").is_in(_UI) & (pl.col("ts_utc") > result_at)).fill_null(False))
    return pl.concat([own, by_stan, host, settle]).unique(["path", "line"]).sort("ts_utc", "path", "line")


def fit(text: str, width: int = WIDTH) -> str:
    """``text`` in at most ``width`` columns: cut at a space where one is near, ending in ``…``."""
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if space > width * 2 // 3:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _wrap(text: str, indent: str = "", width: int = WIDTH) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False)


def _skew(seconds: float) -> str:
    exact = f"{abs(seconds):.1f} s"
    return exact if abs(seconds) < 120 else f"{duration(seconds)} ({exact})"


def _v(value: object) -> str:
    """A value as shown: ``-`` for unknown (never "None")."""
    return "-" if value is None or value == "" else str(value)


def _at(row: dict[str, Any]) -> datetime | None:
    return row["ts_tx"] or row["ts_start"]


def cause_words(f: Any) -> str:
    """``hardware_fault (0.75)``; a tie as ``migration_sync_delay or network_timeout (tied, 0.43)``; a low
    confidence as ``operator_error (0.35, low: a lead to check)`` (``render.confidence_note`` says why)."""
    conf = round(f["confidence"], 2)
    ties = [a["cause"] for a in f["alternatives"] or [] if round(a["confidence"], 2) >= conf]
    if ties:
        return f"{' or '.join([f['cause'], *ties])} (tied, {conf:.2f})"
    low = ", low: a lead to check" if conf < LOW_CONFIDENCE else ""
    return f"{f['cause']} ({conf:.2f}{low})"


def finding_marks(tl: Timeline, findings: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Transaction ``txn`` -> ids of the findings listing it (findings as in spec/findings.md).

    A finding's transaction is matched by device, TID, STAN, invoice and RRN (null equals null)
    and, where several rows share those, by its time (request time, else start).
    """
    keys = ("device", "tid", "stan", "inv", "rrn")
    by_key: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    for row in tl.transactions.select("txn", *keys, "ts_tx", "ts_start").iter_rows(named=True):
        by_key.setdefault(tuple(row[k] for k in keys), []).append(row)
    marks: dict[str, list[str]] = {}
    for f in findings:
        for t in f["transactions"]:
            rows = by_key.get(tuple(t.get(k) for k in keys), [])
            if len(rows) > 1 and t.get("ts"):
                at = datetime.fromisoformat(t["ts"])
                timed = [r for r in rows if _at(r) is not None and abs((_at(r) - at).total_seconds()) < 0.001]
                rows = timed or rows
            for r in rows:
                ids = marks.setdefault(r["txn"], [])
                if f["id"] not in ids:
                    ids.append(f["id"])
    return marks


def _describe(e: dict[str, object]) -> str:
    if e["role"] == "host":
        said = " ".join(f"{k}={e[k]}" for k in ("rc", "auth", "rrn", "stan") if e[k])
        amount = money(e["amount"], e["exponent"], e["currency"]) if e["amount"] is not None else ""
        verb = "received" if e["kind"].endswith(".rx") else "answered"
        return " ".join(p for p in (f"host {verb} {_v(e['mti'])}", said, amount, e["message"] or "") if p)
    if e["kind"] == "settle.item":
        return f"settlement: cleared rrn {_v(e['rrn'])} {money(e['amount'], e['exponent'], e['currency'])}"
    message = (e["message"] or "").split("\n")[0]
    return f"{e['tag']}: {message}" if e["tag"] else message


def _header(tl: Timeline) -> list[str]:
    cov = coverage(tl)
    out = [f"{plural(tl.transactions.height, 'transaction')} on {plural(tl.devices.height, 'device')}"]
    out.append("Inputs:")
    for line, parsed in zip(cov.input_lines(), cov.inputs["parsed"], strict=True):
        out += [click.style(part, fg="yellow") if parsed == 0 else part for part in _wrap(line, "  ")]
    out += _wrap(cov.sentence())
    skews = [
        f"{d['device']} log time {'−' if d['skew_s'] > 0 else '+'} {_skew(d['skew_s'])}"
        + (f" ({plural(d['clock_segments'], 'clock segment')}, each its own)" if (d["clock_segments"] or 0) > 1 else "")
        for d in tl.devices.iter_rows(named=True)
        if d.get("clock_matches")
    ]
    unset = [d["device"] for d in tl.devices.iter_rows(named=True) if not d.get("clock_matches")]
    local = "".join(f" {Path(p).name}: local time in {zone}." for p, zone in cov.zones)
    times = f"Times are UTC.{local} Terminal clocks corrected against the host: " + ("; ".join(skews) or "none") + "."
    if unset:
        times += f" Not corrected (no host pairs): {', '.join(unset)}."
    out += _wrap(times)
    if cov.zone_note():
        out += _wrap(f"note: {cov.zone_note()}.")
    return out


def render(
    tl: Timeline,
    *,
    findings: Sequence[dict[str, Any]] = (),
    transactions: pl.DataFrame | None = None,
    show_all: bool = False,
    max_flagged: int = 12,
) -> str:
    """The text view (see the module docstring).

    ``findings``: diagnosis findings of ``tl`` (spec/findings.md shape), whose transactions are
    marked and shown; ``transactions``: the rows to show (a filter of ``tl.transactions``;
    default all), while their host and settlement lines are looked up in the whole ``tl``.
    """
    out = _header(tl)
    out.append("")
    for d in tl.devices.iter_rows(named=True):
        role = d["role"] + (f", released {_ts(d['released_at'])} UTC" if d.get("released_at") else "")
        out.append(fit(f"{d['device']}  TID {_v(d['tid'])}  MID {_v(d['mid'])}  app {_v(d['app_version'])}"))
        clock = (
            f"clock {'+' if d['skew_s'] >= 0 else '-'}{_skew(d['skew_s'])} vs host "
            f"({plural(d['clock_matches'], 'pair')})"
            if d.get("clock_matches")
            else "clock: no host pairs"
        )
        out.append(fit(f"    {role}; {clock}"))
        out.append(
            fit(
                f"    seen {_ts(d['first_seen'])} .. {_ts(d['last_seen'])} UTC, "
                f"{plural(d['transactions'], 'transaction')}, {plural(d['boots'], 'boot')}, "
                f"{plural(d['counter_resets'], 'counter reset')}"
            )
        )
        if d.get("zone_hint"):
            out += [click.style(line, fg="yellow") for line in _wrap(f"note: {d['zone_hint']}", "    ")]
    txns = tl.transactions if transactions is None else transactions
    marks = finding_marks(tl, findings)
    in_finding = txns.filter(pl.col("txn").is_in(list(marks)))
    shown_ids = {i for txn in in_finding["txn"] for i in marks[txn]}
    listed = [f for f in findings if f["id"] in shown_ids]  # a filter shows the findings it keeps
    if listed:
        out.append("")
        out.append(click.style(f"Findings ({len(listed)}; forensics diagnose tells them in full)", bold=True))
        for f in listed:
            out += _wrap(f"{f['id']} {f['kind']}, {cause_words(f)}: {f['summary']}", "  ")
    flagged = txns.filter(pl.col("flags").list.len() > 0, ~pl.col("txn").is_in(list(marks)))
    out.append("")
    out.append(
        click.style(
            f"Transactions in findings ({in_finding.height}) and flagged ({flagged.height}), of {txns.height}",
            bold=True,
        )
    )
    shown = pl.concat([in_finding, flagged.head(max_flagged)]).sort("ts_start", "txn", nulls_last=True)
    last_of: dict[str, datetime] = {}
    for row in shown.iter_rows(named=True):
        ids = marks.get(row["txn"], [])
        since = [last_of[i] for i in ids if i in last_of and row["ts_start"] is not None]
        out += _block(tl, row, ids, row["ts_start"] - max(since) if since else None)
        for i in ids:
            last_of[i] = row["ts_start"]
    if flagged.height > max_flagged:
        out.append(f"  ... {flagged.height - max_flagged} more flagged (filter with --tid/--inv/--card/--since)")
    rest = txns.filter(pl.col("flags").list.len() == 0, ~pl.col("txn").is_in(list(marks)))
    if show_all:
        out.append("")
        out.append(click.style("Other transactions", bold=True))
        for row in rest.iter_rows(named=True):
            out.append(
                f"  {_ts(row['ts_start'])}  {_v(row['device'])}  {_v(row['txn_type']):<16} "
                f"inv {_v(row['inv'])} stan {_v(row['stan'])}  "
                f"{money(row['amount_entered'], row['exponent'], row['currency']):>14}  "
                f"{_outcome(row['merchant_outcome'])}  host {_v(row['host_outcome'])}"
            )
    elif rest.height:
        tally = (
            rest.group_by("merchant_outcome")
            .len()
            .sort(["len", "merchant_outcome"], descending=[True, False], nulls_last=True)
        )
        words = ", ".join(f"{n} {(w or 'unknown').lower()}" for w, n in tally.iter_rows())
        out.append(f"\n{plural(rest.height, 'other transaction')} ({words}); --all lists them")
    return "\n".join(out)


def _collapse(events: pl.DataFrame) -> list[tuple[dict[str, Any], int]]:
    """Events with exact repeats of the line before (same file, same text) folded into a count."""
    folded: list[tuple[dict[str, Any], int]] = []
    for e in events.iter_rows(named=True):
        if folded and folded[-1][0]["path"] == e["path"] and folded[-1][0]["text"] == e["text"]:
            folded[-1] = (folded[-1][0], folded[-1][1] + 1)
        else:
            folded.append((e, 1))
    return folded


def _block(tl: Timeline, row: dict[str, Any], ids: list[str], after: Any) -> list[str]:
    mark = ",".join(ids) if ids else "!"
    later = f" | {duration(after.total_seconds())} after the previous {mark}" if after is not None else ""
    head = fit(
        f"{mark} {_v(row['txn_type'])} inv {_v(row['inv'])} stan {_v(row['stan'])}  "
        f"{money(row['amount_entered'], row['exponent'], row['currency'])}  {_v(row['device'])} TID {_v(row['tid'])}  "
        f"{'sent' if row['ts_tx'] else 'started'} {_ts(_at(row))} UTC"
    )
    lines = [click.style(head, fg="yellow" if not ids else None, bold=True)]
    lines.append(
        fit(
            f"    card {' '.join(p for p in (_v(row['card']), row['entry']) if p)} atc {_v(row['atc'])}   "
            f"rrn {_v(row['rrn'])} auth {_v(row['auth'])}"
        )
    )
    cleared = "-" if row["cleared_count"] is None else f"{row['cleared_count']}x"
    lines.append(
        f"    merchant {_outcome(row['merchant_outcome'])} | host {_outcome(row['host_outcome'])} | cleared {cleared}"
        + later
    )
    previous = None
    events = _collapse(transaction_events(tl, row))
    wheres = [f"{Path(e['path']).name}:{e['line']}" + (f" ×{count}" if count > 1 else "") for e, count in events]
    room = WIDTH - 4 - 12 - 2 - 2 - max((len(w) for w in wheres), default=0)
    for (e, _), where in zip(events, wheres, strict=True):
        at = e["ts_utc"]
        if previous is not None and at is not None and (at - previous).total_seconds() >= 60:
            lines.append(click.style(f"    … {duration((at - previous).total_seconds())} later", dim=True))
        previous = at if at is not None else previous
        stamp = _ts(at)[11:] if at is not None else "-"
        lines.append(f"    {stamp:<12}  {fit(_describe(e), room):<{room}}  {click.style(where, dim=True)}")
    if row["flags"]:
        lines += [click.style(line, fg="yellow") for line in _wrap("flags: " + ", ".join(row["flags"]), "    ")]
    return lines
