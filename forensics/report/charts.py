"""Charts for incident files: swimlane timeline, migration, clock skew, amounts.

Each ``plot_*`` function draws on a Matplotlib ``Axes`` from timeline frames and returns it
(never ``plt.show()``), so notebooks can compose them; ``figure(kind, ...)`` makes a whole
figure for the CLI and reports. Colours are the Okabe-Ito palette (colour-blind safe); the
faulty charges are highlighted in ``HIGHLIGHT``. Output is deterministic (``save``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from forensics.outputs import written_aside
from forensics.timeline import TERMINAL, Timeline, clock_pairs

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
HIGHLIGHT = OKABE_ITO["purple"]
KINDS = ("swimlane", "migration", "skew", "amounts")
# event kind -> (legend label, marker, colour)
_MARKS: dict[str, tuple[str, str, str]] = {
    "txn.start": ("transaction start", "o", OKABE_ITO["sky"]),
    "iso.tx": ("request sent", "|", OKABE_ITO["blue"]),
    "iso.rx": ("response received", "|", OKABE_ITO["green"]),
    "txn.result": ("result shown", "8", OKABE_ITO["black"]),
    "txn.timeout": ("timeout", "x", OKABE_ITO["vermillion"]),
    "printer.status": ("printer fault", "s", OKABE_ITO["orange"]),
    "printer.print": ("receipt printed", ".", OKABE_ITO["green"]),
    "app.crash": ("crash", "v", OKABE_ITO["black"]),
    "power.boot": ("boot", "^", OKABE_ITO["black"]),
    "log.divider": ("boot", "^", OKABE_ITO["black"]),
    "power.recover": ("power-fail recovery", "P", OKABE_ITO["black"]),
    "reversal.send": ("reversal sent", "d", OKABE_ITO["purple"]),
    "reversal.deleted": ("reversal deleted", "D", OKABE_ITO["purple"]),
    "ui.menu": ("operator menu", "*", OKABE_ITO["orange"]),
    "saf.queued": ("offline queued", "<", OKABE_ITO["yellow"]),
    "saf.upload": ("offline uploaded", ">", OKABE_ITO["yellow"]),
    "tms.init": ("device initialised", "X", OKABE_ITO["black"]),
    "tms.release": ("TID released", "X", OKABE_ITO["vermillion"]),
    "clock.step": ("clock step", "|", OKABE_ITO["black"]),
    "clock.set": ("clock set", "|", OKABE_ITO["black"]),
    "host.rx": ("host received", "|", OKABE_ITO["blue"]),
    "host.tx": ("host answered", "|", OKABE_ITO["green"]),
    "host.timeout": ("host timeout", "x", OKABE_ITO["vermillion"]),
    "host.error": ("host error", "x", OKABE_ITO["vermillion"]),
    "settle.item": ("cleared (at capture time)", "^", OKABE_ITO["blue"]),
}

plt.rcParams.update({"svg.hashsalt": "forensics", "font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold"})


def _finding_txns(findings: list[dict[str, Any]] | None) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(f"{f['id']} {f['kind']}", f["transactions"]) for f in findings or []]


def _evidence_keys(findings: list[dict[str, Any]] | None) -> set[tuple[str, int]]:
    return {(e["path"], e["line"]) for f in findings or [] for e in f["evidence"]}


def _lanes(tl: Timeline) -> list[tuple[str, pl.Expr]]:
    devices = tl.devices.sort("tid", "first_seen")["device"].to_list() if tl.devices.height else []
    lanes = [(d, (pl.col("device") == d) & TERMINAL) for d in devices]
    if (tl.events["role"] == "host").any():
        lanes.append(("acquirer host", pl.col("role") == "host"))
    if (tl.events["kind"] == "settle.item").any():
        lanes.append(("settlement", pl.col("kind") == "settle.item"))
    return lanes


def _window(tl: Timeline, findings: list[dict[str, Any]] | None) -> tuple[Any, Any]:
    """Around the findings' transactions (half their span each side, at least a minute), else all."""
    ts = pl.Series([t["ts"] for _, txns in _finding_txns(findings) for t in txns if t["ts"]], dtype=pl.String)
    if ts.len():
        times = ts.str.to_datetime()
        lo, hi = times.min(), times.max()
        pad = max(60.0, (hi - lo).total_seconds() / 2)  # type: ignore[operator]
        return lo - _delta(pad), hi + _delta(pad)  # type: ignore[operator]
    return tl.events["ts_utc"].min(), tl.events["ts_utc"].max()


def plot_swimlane(
    ax: Axes, tl: Timeline, findings: list[dict[str, Any]] | None = None, window: tuple[Any, Any] | None = None
) -> Axes:
    """One lane per device (devices of a shared TID side by side), host and settlement lanes;
    events as markers; the findings' transactions shaded and their evidence ringed."""
    lo, hi = window or _window(tl, findings)
    lanes = _lanes(tl)
    lane_expr = pl.lit(None, pl.Int32)
    for y, (_, cond) in reversed(list(enumerate(lanes))):
        lane_expr = pl.when(cond).then(pl.lit(y, pl.Int32)).otherwise(lane_expr)
    routine = (pl.col("kind") == "reversal.deleted") & (pl.col("reason") == "approved")
    events = (
        tl.events.filter(pl.col("ts_utc").is_between(lo, hi), pl.col("kind").is_in(list(_MARKS)), ~routine)
        .with_columns(_lane=lane_expr)
        .filter(pl.col("_lane").is_not_null())
    )
    seen_labels: set[str] = set()
    for y in range(len(lanes)):
        ax.axhline(y, color="#dddddd", lw=0.8, zorder=0)
    for kind, (label, marker, colour) in _MARKS.items():
        rows = events.filter(pl.col("kind") == kind)
        if kind == "printer.status":
            rows = rows.filter(pl.col("code") != 0)
        if rows.is_empty():
            continue
        ax.scatter(
            rows["ts_utc"].to_list(),
            rows["_lane"].to_list(),
            marker=marker,
            color=colour,
            s=14 if kind == "txn.result" else 36,
            zorder=3,
            label=None if label in seen_labels else label,
            linewidths=1.4,
        )
        seen_labels.add(label)
    evidence = _evidence_keys(findings)
    if evidence:
        hits = events.filter(pl.struct("path", "line").is_in([{"path": p, "line": n} for p, n in evidence]))
        if hits.height:
            ax.scatter(
                hits["ts_utc"].to_list(),
                hits["_lane"].to_list(),
                s=220,
                facecolors="none",
                edgecolors=HIGHLIGHT,
                linewidths=2.2,
                zorder=4,
                label="evidence",
            )
    for label, txns in _finding_txns(findings):
        times = sorted(pl.Series([t["ts"] for t in txns if t["ts"]]).str.to_datetime().to_list())
        if not times:
            continue
        ax.axvspan(times[0] - _delta(20), times[-1] + _delta(40), color=HIGHLIGHT, alpha=0.15, zorder=1)
        ax.annotate(label, xy=(times[0], len(lanes) - 0.5), fontsize=8, color=HIGHLIGHT, fontweight="bold", va="bottom")
    ax.set_yticks(range(len(lanes)), [name for name, _ in lanes])
    ax.set_ylim(-0.6, len(lanes) - 0.1 + (0.5 if findings else 0))
    ax.set_xlim(lo, hi)
    _time_axis(ax, tl)
    ax.set_title("Transaction timeline by device (clock-corrected)")
    _legend(ax)
    return ax


def _legend(ax: Axes) -> None:
    """The legend beside the plot, or a note when the chart has nothing to show."""
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    else:
        ax.text(
            0.5,
            0.5,
            "nothing to show for these inputs",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=OKABE_ITO["black"],
            alpha=0.6,
        )


def _delta(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)


def _time_axis(ax: Axes, tl: Timeline) -> None:
    locator = mdates.AutoDateLocator(tz="UTC")
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz="UTC"))
    zones = tl.loaded.inputs.filter(TERMINAL).select("tz", "tz_assumed").unique().rows()
    local = ", ".join(f"{z}{' (assumed)' if assumed else ''}" for z, assumed in sorted(zones)) or "n/a"
    ax.set_xlabel(f"time (UTC); terminals' local time zone: {local}")


def plot_migration(ax: Axes, tl: Timeline, bin_minutes: int = 30) -> Axes:
    """Activity of the devices sharing each TID, offline queue depth, uploads, releases and resets."""
    ev = tl.events.filter(TERMINAL)
    devices = tl.devices.sort("tid", "first_seen")
    colours = list(OKABE_ITO.values())[1:]
    for i, d in enumerate(devices.iter_rows(named=True)):
        colour = colours[i % len(colours)]
        starts = ev.filter(pl.col("device") == d["device"], pl.col("kind") == "txn.start").sort("ts_utc")
        if starts.height:
            binned = starts.group_by_dynamic("ts_utc", every=f"{bin_minutes}m").agg(pl.len().alias("n"))
            ax.step(
                binned["ts_utc"].to_list(),
                binned["n"].to_list(),
                where="post",
                color=colour,
                lw=1.8,
                label=f"{d['device']} (TID {d['tid']}): transactions / {bin_minutes} min",
            )
        written = pl.col("attrs").str.json_path_match("$.depth")
        depth = (
            ev.filter(pl.col("device") == d["device"], pl.col("kind").is_in(["saf.queued", "saf.upload"]))
            .select(
                "ts_utc",
                depth=pl.when(written.is_null()).then(0).otherwise(written.cast(pl.Int64, strict=False)),
            )
            .drop_nulls("depth")
        )  # a depth that is not a number is left out
        if depth.height:
            ax.step(
                depth["ts_utc"].to_list(),
                depth["depth"].to_list(),
                where="post",
                color=colour,
                ls=":",
                lw=1.5,
                label=f"{d['device']}: offline queue depth",
            )
        for kind, style in (("tms.release", "--"), ("tms.init", "-.")):
            for ts in ev.filter(pl.col("device") == d["device"], pl.col("kind") == kind)["ts_utc"].to_list():
                ax.axvline(ts, color=colour, ls=style, lw=1.2)
                ax.annotate(
                    "released" if kind == "tms.release" else "initialised, counters reset",
                    xy=(ts, 0),
                    xytext=(3, 4),
                    textcoords="offset points",
                    rotation=90,
                    fontsize=7,
                    color=colour,
                )
    ax.set_ylabel("count")
    _time_axis(ax, tl)
    shared = devices.filter(pl.col("devices_on_tid") > 1)
    ax.set_title("Device swap: activity on each TID" if shared.height else "Device activity (no TID on two devices)")
    _legend(ax)
    return ax


def plot_skew(ax: Axes, tl: Timeline) -> Axes:
    """Terminal-minus-host offsets of matched messages, and the piecewise estimate per device."""
    terminal = tl.events.filter(TERMINAL, pl.col("segment").is_not_null())
    pairs = clock_pairs(terminal, tl.host)
    colours = list(OKABE_ITO.values())[1:]
    for i, device in enumerate(tl.devices["device"].to_list() if tl.devices.height else []):
        colour = colours[i % len(colours)]
        mine = pairs.filter(pl.col("device") == device)
        if mine.height:
            ax.scatter(
                mine["ts"].to_list(),
                mine["off"].to_list(),
                s=8,
                color=colour,
                alpha=0.5,
                label=f"{device}: message pairs",
            )
        for seg in tl.clocks.filter(pl.col("device") == device).iter_rows(named=True):
            span = terminal.filter(pl.col("device") == device, pl.col("segment") == seg["segment"])["ts"]
            if span.len():
                ax.hlines(seg["skew_s"], span.min(), span.max(), color=colour, lw=2.2)
        for ts in terminal.filter(pl.col("device") == device, pl.col("kind").is_in(["clock.step", "clock.set"]))[
            "ts"
        ].to_list():
            ax.axvline(ts, color=colour, ls="--", lw=1)
    if pairs.height and pairs["off"].abs().min() < 120:  # zero in view only when the data is near it
        ax.axhline(0, color=OKABE_ITO["black"], lw=0.6)
    ax.set_ylabel("terminal clock minus host clock (s)")
    _time_axis(ax, tl)
    ax.set_xlabel(ax.get_xlabel().replace("time (UTC)", "terminal time as logged (UTC)"))
    ax.set_title("Clock skew per device (lines: estimate per clock segment; dashed: clock steps)")
    _legend(ax)
    return ax


def plot_amounts(
    ax: Axes, tl: Timeline, findings: list[dict[str, Any]] | None = None, outlier_ratio: float = 5.0
) -> Axes:
    """Approved amounts per terminal over time, the median and outlier line, the findings marked."""
    t = tl.transactions.filter(pl.col("merchant_outcome") == "APPROVED", pl.col("amount_entered").is_not_null())
    colours = list(OKABE_ITO.values())[1:]
    for i, (tid,) in enumerate(t.select("tid").unique(maintain_order=True).rows()):
        mine = t.filter(pl.col("tid") == tid)
        scale = 10 ** (mine["exponent"].drop_nulls()[0] if mine["exponent"].drop_nulls().len() else 2)
        amounts = (mine["amount_entered"] / scale).to_list()
        colour = colours[i % len(colours)]
        ax.scatter(mine["ts_start"].to_list(), amounts, s=10, color=colour, alpha=0.7, label=f"TID {tid}")
        median = (mine.filter(pl.col("txn_type") == "SALE")["amount_entered"].median() or 0) / scale
        ax.axhline(median, color=colour, lw=1, ls="-")
        ax.axhline(median * outlier_ratio, color=colour, lw=1, ls=":")
    keyed = {(x["device"], x["stan"], x["inv"]) for _, txns in _finding_txns(findings) for x in txns}
    hit = (
        t.filter(pl.struct("device", "stan", "inv").is_in([{"device": d, "stan": s, "inv": i} for d, s, i in keyed]))
        if keyed
        else t.head(0)
    )
    if hit.height:
        scale = 10 ** (hit["exponent"][0] if hit["exponent"][0] is not None else 2)
        ax.scatter(
            hit["ts_start"].to_list(),
            (hit["amount_entered"] / scale).to_list(),
            s=160,
            facecolors="none",
            edgecolors=HIGHLIGHT,
            linewidths=2.2,
            label="in a finding",
            zorder=4,
        )
    ax.set_yscale("log")
    currency = t["currency"].drop_nulls()[0] if t["currency"].drop_nulls().len() else ""
    ax.set_ylabel(f"amount ({currency}, log scale)")
    _time_axis(ax, tl)
    ax.set_title(f"Approved amounts (solid: median sale; dotted: {outlier_ratio:g}x median)")
    _legend(ax)
    return ax


def figure(
    kind: str, tl: Timeline, findings: list[dict[str, Any]] | None = None, window: tuple[Any, Any] | None = None
) -> Figure:
    """A whole figure of one chart kind, sized for a report page."""
    if kind not in KINDS:
        raise ValueError(f"unknown chart kind {kind!r} (one of {', '.join(KINDS)})")
    lanes = len(_lanes(tl)) if kind == "swimlane" else 4
    fig = Figure(figsize=(11, max(3.2, 1.4 + 0.55 * lanes)), layout="constrained")
    ax = fig.add_subplot()
    if kind == "swimlane":
        plot_swimlane(ax, tl, findings, window)
    elif kind == "migration":
        plot_migration(ax, tl)
    elif kind == "skew":
        plot_skew(ax, tl)
    else:
        plot_amounts(ax, tl, findings)
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Save PNG, SVG or PDF by suffix, without timestamps or other varying metadata."""
    path = Path(path)
    suffix = path.suffix.lower()
    metadata = {
        "png": {"Software": None},
        "svg": {"Date": None, "Creator": None},
        "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
    }.get(suffix[1:])
    if metadata is None:
        raise ValueError(f"{path}: unsupported chart format (use .png, .svg or .pdf)")
    with written_aside(path) as partial:
        fig.savefig(partial, format=suffix[1:], dpi=120, metadata=metadata)
    return path
