"""Charts for incident files: swimlane timeline, migration, clock skew, amounts.

Each ``plot_*`` function draws on a Matplotlib ``Axes`` from timeline frames and returns it
(never ``plt.show()``), so notebooks can compose them; ``figure(kind, ...)`` makes a whole
figure for the CLI and reports, or raises ``NotApplicable`` with the one-line reason when the
chart has nothing to show for these inputs (``why_not`` gives that reason without drawing).
No Matplotlib backend is chosen here: figures are plain ``Figure`` objects, which save to files
with any backend, and a notebook keeps its inline display. Colours are the Okabe-Ito palette
(colour-blind safe); what a finding cites is drawn in ``HIGHLIGHT``. Output is deterministic
(``save``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import matplotlib.dates as mdates
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from forensics import money
from forensics.diagnosis.wording import duration
from forensics.errors import ForensicsError
from forensics.outputs import written_aside
from forensics.report import CHARTS
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
KINDS = CHARTS
MAX_LEGEND = 8
MAX_LABELS = 4  # labelled transactions per finding; a finding with more gets its first two and last labelled
# Above this many events in view, a lane shows how busy it is (events per time bin) instead of markers.
DENSE_EVENTS = 1500
_STYLE = {"svg.hashsalt": "forensics", "font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold"}
# Swimlane marks, grouped so the legend stays short: (legend label, marker, colour, event kinds).
_GROUPS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("transaction started, card read", "o", OKABE_ITO["sky"], ("txn.start", "txn.card")),
    ("result shown, receipt printed", "8", OKABE_ITO["black"], ("txn.result", "printer.print")),
    ("request / response (terminal and host)", "|", OKABE_ITO["blue"], ("iso.tx", "iso.rx", "host.rx", "host.tx")),
    (
        "fault: printer, crash, timeout, host error",
        "X",
        OKABE_ITO["vermillion"],
        ("printer.status", "app.crash", "txn.timeout", "host.timeout", "host.error"),
    ),
    (
        "reversal or offline advice",
        "d",
        OKABE_ITO["orange"],
        ("reversal.send", "reversal.deleted", "saf.queued", "saf.upload"),
    ),
    (
        "boot, power recovery, set-up, clock, menu",
        "^",
        OKABE_ITO["green"],
        ("power.boot", "log.divider", "power.recover", "tms.init", "tms.release", "clock.step", "clock.set", "ui.menu"),
    ),
    ("settlement row (at capture time)", "s", OKABE_ITO["blue"], ("settle.item",)),
]
_KINDS_DRAWN = [k for *_, kinds in _GROUPS for k in kinds]
_F = TypeVar("_F", bound=Callable[..., Any])


class NotApplicable(ForensicsError):
    """A chart that has nothing to show for these inputs; the message says why, in one line."""


def _styled(fn: _F) -> _F:
    """Run a drawing function with the charts' fonts, without changing the caller's settings."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(_STYLE):
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]


# ---------------------------------------------------------------- what the findings cite


def _finding_rows(tl: Timeline, findings: list[dict[str, Any]] | None) -> pl.DataFrame:
    """One row per transaction a finding lists: finding id, lane device, time, type, invoice and a label
    with the amount charged (settled, else approved, else sent, else entered)."""
    keys = [
        {"fid": f["id"], "device": t["device"], "tid": t["tid"], "stan": t["stan"], "inv": t["inv"], "ts": t["ts"]}
        for f in findings or []
        for t in f["transactions"]
    ]
    schema = {"fid": pl.String, "device": pl.String, "tid": pl.String, "stan": pl.String, "inv": pl.String}
    if not keys:
        return pl.DataFrame(schema=schema | {"ts": pl.Datetime("us", "UTC"), "txn_type": pl.String, "label": pl.String})
    wanted = pl.DataFrame(keys, schema=schema | {"ts": pl.String}).with_columns(
        pl.col("ts").str.to_datetime(time_zone="UTC", strict=False)
    )
    charged = pl.coalesce("settled_amount", "amount_approved", "amount_sent", "amount_entered")  # as in _charges
    txns = tl.transactions.select(
        "device", "tid", "stan", "inv", "txn_type", "currency", "exponent", charged.alias("minor")
    ).unique(["device", "tid", "stan", "inv"], keep="first", maintain_order=True)
    rows = wanted.join(txns, on=["device", "tid", "stan", "inv"], how="left", nulls_equal=True, maintain_order="left")
    labels = [
        f"{r['fid']} {(r['txn_type'] or 'charge').lower()} inv {r['inv'] or '?'}"
        + (f" {_money(r['minor'], r['exponent'], r['currency'])}" if r["minor"] is not None else "")
        + (f" {r['ts']:%H:%M:%S}" if r["ts"] is not None else "")
        for r in rows.iter_rows(named=True)
    ]
    return rows.with_columns(label=pl.Series(labels, dtype=pl.String)).select(
        "fid", "device", "tid", "stan", "inv", "ts", "txn_type", "label"
    )


def _exponent(exponent: int | None, code: str | None) -> int:
    """Minor-unit digits: the logged exponent, else the currency's, else 2 (said in the axis label)."""
    if exponent is not None:
        return exponent
    cur = money.currency(code)
    return cur.exponent if cur else 2


def _money(minor: int, exponent: int | None, code: str | None) -> str:
    digits = _exponent(exponent, code)
    return f"{minor / 10**digits:,.{digits}f} {code or ''}".strip()


def _cited_lines(findings: list[dict[str, Any]] | None) -> pl.DataFrame:
    rows = [{"path": e["path"], "line": e["line"]} for f in findings or [] for e in f["evidence"]]
    return pl.DataFrame(rows, schema={"path": pl.String, "line": pl.Int64}).unique().sort("path", "line")


def _label_plan(rows: pl.DataFrame, ts: str) -> pl.DataFrame:
    """Which of a finding's transactions get a text label: all up to MAX_LABELS, else the first two and the
    last, the last saying how many more there are (all of them stay marked)."""
    k, n = pl.int_range(pl.len()).over("fid"), pl.len().over("fid")
    many = n > MAX_LABELS
    return (
        rows.sort(ts, "fid", "device", "inv", nulls_last=True, maintain_order=True)
        .with_columns(_show=~many | (k < 2) | (k == n - 1), _more=pl.when(many & (k == n - 1)).then(n - 3))
        .filter("_show")
    )


def _suffix(row: dict[str, Any]) -> str:
    return f" (+{row['_more']} more in {row['fid']})" if row["_more"] else ""


# ---------------------------------------------------------------- why a chart is left out


def why_not(kind: str, tl: Timeline, findings: list[dict[str, Any]] | None = None) -> str | None:
    """Why chart ``kind`` has nothing to show for this timeline (one line), or None when it applies."""
    if kind not in KINDS:
        raise ValueError(f"unknown chart kind {kind!r} (one of {', '.join(KINDS)})")
    if tl.events["ts_utc"].drop_nulls().is_empty():
        return "no event with a time in the inputs (nothing was parsed from them)"
    if kind == "swimlane":
        return None if _lanes(tl) else "no device, host or settlement events to draw"
    if kind == "migration":
        if tl.devices.is_empty() or not (tl.devices["devices_on_tid"] > 1).any():
            return "no terminal ID is used by more than one device, so there is no device swap to show"
        return None
    if kind == "skew":
        if _pairs(tl).is_empty():
            return "no terminal message matched a host message or clearing row, so the clock skew is unknown"
        return None
    if _charges(tl).is_empty():
        return "no charged or refunded amount in the inputs"
    return None


def _check(kind: str, tl: Timeline, findings: list[dict[str, Any]] | None) -> None:
    reason = why_not(kind, tl, findings)
    if reason:
        raise NotApplicable(f"{kind} chart not drawn: {reason}")


# ---------------------------------------------------------------- swimlane


def _lanes(tl: Timeline) -> list[tuple[str, pl.Expr]]:
    devices = tl.devices.sort("tid", "first_seen")["device"].to_list() if tl.devices.height else []
    lanes = [(d, (pl.col("device") == d) & TERMINAL) for d in devices]
    if (tl.events["role"] == "host").any():
        lanes.append(("acquirer host", pl.col("role") == "host"))
    if (tl.events["kind"] == "settle.item").any():
        lanes.append(("settlement", pl.col("kind") == "settle.item"))
    return lanes


def _lane_events(tl: Timeline, lanes: list[tuple[str, pl.Expr]]) -> pl.DataFrame:
    """Drawn events with their lane number; events at the same instant on a lane are stacked (``_dy``)."""
    lane_expr = pl.lit(None, pl.Int32)
    for y, (_, cond) in reversed(list(enumerate(lanes))):
        lane_expr = pl.when(cond).then(pl.lit(y, pl.Int32)).otherwise(lane_expr)
    routine = (pl.col("kind") == "reversal.deleted") & (pl.col("reason") == "approved")
    healthy_printer = (pl.col("kind") == "printer.status") & (pl.col("code") == 0)  # code null: drawn (unknown)
    return (
        tl.events.filter(
            pl.col("ts_utc").is_not_null(),
            pl.col("kind").is_in(_KINDS_DRAWN),
            ~routine.fill_null(False),  # null reason: not known to be routine, so drawn
            ~healthy_printer.fill_null(False),
        )
        .with_columns(_lane=lane_expr)
        .filter(pl.col("_lane").is_not_null())
        .with_columns(_dy=(pl.col("ts_utc").rank("ordinal").over("_lane", "ts_utc") - 1).cast(pl.Float64) * 0.22)
        .select("path", "line", "kind", "ts_utc", "_lane", "_dy")
    )


def incident_window(tl: Timeline, findings: list[dict[str, Any]] | None = None) -> tuple[datetime, datetime] | None:
    """The time span to zoom on: the findings' transactions and the lines they cite near them, padded;
    None when there is no finding with a time."""
    txns = _finding_rows(tl, findings)["ts"].drop_nulls()
    if txns.is_empty():
        return None
    lo, hi = txns.min(), txns.max()
    cited = tl.events.join(_cited_lines(findings), on=["path", "line"])["ts_utc"].drop_nulls()
    near = cited.filter(cited.is_between(lo - timedelta(minutes=30), hi + timedelta(minutes=30)))  # type: ignore[operator]
    if near.len():
        lo, hi = min(lo, near.min()), max(hi, near.max())  # type: ignore[type-var]
    pad = timedelta(seconds=max(60.0, (hi - lo).total_seconds() / 4))  # type: ignore[operator]
    return lo - pad, hi + pad  # type: ignore[operator,return-value]


def _day(tl: Timeline) -> tuple[datetime, datetime]:
    """The span of the inputs' events, leaving out strays far outside the bulk (a clock reset to its default
    date would otherwise stretch the axis over months): at most half the 1-99 % span beyond either end."""
    us = tl.events["ts_utc"].drop_nulls().dt.epoch("us")
    q1, q99 = us.quantile(0.01, "lower"), us.quantile(0.99, "higher")
    reach = (q99 - q1) / 2  # type: ignore[operator]
    lo, hi = max(us.min(), q1 - reach), min(us.max(), q99 + reach)  # type: ignore[type-var,operator]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + timedelta(microseconds=int(lo)), epoch + timedelta(microseconds=int(hi))  # type: ignore[arg-type]


@_styled
def plot_swimlane(
    ax: Axes,
    tl: Timeline,
    findings: list[dict[str, Any]] | None = None,
    window: tuple[Any, Any] | None = None,
) -> Axes:
    """One lane per device (devices of a shared TID side by side), host and settlement lanes; events
    as markers (a busy lane as events per time bin); the findings' transactions shaded and labelled
    (invoice, amount, time) and every line they cite ringed. Zoomed on the incident by default."""
    _check("swimlane", tl, findings)
    lo, hi = window or incident_window(tl, findings) or _day(tl)
    lanes = _lanes(tl)
    events = _lane_events(tl, lanes).filter(pl.col("ts_utc").is_between(lo, hi))
    for y in range(len(lanes)):
        ax.axhline(y, color="#dddddd", lw=0.8, zorder=0)
    if events.height > DENSE_EVENTS:
        _density(ax, events, lo, hi, len(lanes))
    else:
        for label, marker, colour, kinds in _GROUPS:
            rows = events.filter(pl.col("kind").is_in(kinds))
            if rows.height:
                ax.scatter(
                    rows["ts_utc"].to_list(),
                    (rows["_lane"] + rows["_dy"]).to_list(),
                    marker=marker,
                    color=colour,
                    s=16 if marker == "8" else 36,
                    zorder=3,
                    label=label,
                    linewidths=1.4,
                )
    hits = events.join(_cited_lines(findings), on=["path", "line"]).sort("ts_utc", "path", "line")
    if hits.height:
        ax.scatter(
            hits["ts_utc"].to_list(),
            (hits["_lane"] + hits["_dy"]).to_list(),
            s=200,
            facecolors="none",
            edgecolors=HIGHLIGHT,
            linewidths=2.0,
            zorder=4,
            label=f"line cited as evidence ({hits.height})",
        )
    _label_findings(ax, tl, findings, lanes, lo, hi)
    ax.set_yticks(range(len(lanes)), [name for name, _ in lanes])
    ax.set_ylim(-0.6, len(lanes) - 0.1 + (0.8 if findings else 0))
    ax.set_xlim(lo, hi)
    _time_axis(ax, tl)
    outside = _cited_lines(findings).height - hits.height
    ax.set_title(
        "Transactions by device, host and settlement (clock-corrected)"
        + (f"; {outside} cited line(s) outside this view" if outside > 0 else "")
    )
    _legend(ax)
    return ax


def _density(ax: Axes, events: pl.DataFrame, lo: datetime, hi: datetime, lanes: int, bins: int = 240) -> None:
    """Each lane as a filled profile of events per time bin (scaled to the busiest bin of that lane)."""
    every = max(timedelta(seconds=1), (hi - lo) / bins)
    counts = (
        events.sort("ts_utc")
        .group_by_dynamic("ts_utc", every=every, group_by="_lane", start_by="datapoint")
        .agg(pl.len().alias("n"))
    )
    for y in range(lanes):
        mine = counts.filter(pl.col("_lane") == y)
        if mine.is_empty():
            continue
        top = mine["n"].max()
        heights = (mine["n"] / top * 0.8).to_list()  # type: ignore[operator]
        ax.bar(
            mine["ts_utc"].to_list(),
            heights,
            width=every,
            bottom=y - 0.4,
            align="edge",
            color=OKABE_ITO["sky"],
            linewidth=0,
            zorder=2,
            label=None if y else f"events per {duration(every.total_seconds())} (each lane scaled to its busiest bin)",
        )


def _label_findings(
    ax: Axes,
    tl: Timeline,
    findings: list[dict[str, Any]] | None,
    lanes: list[tuple[str, pl.Expr]],
    lo: datetime,
    hi: datetime,
) -> None:
    """Shade each finding's span and label each of its transactions on its device's lane."""
    rows = _finding_rows(tl, findings).filter(pl.col("ts").is_not_null())
    rows = rows.unique(["device", "stan", "inv", "ts"], maintain_order=True).sort("ts", maintain_order=True)
    names = [name for name, _ in lanes]
    for _, mine in rows.group_by("fid", maintain_order=True):
        times = mine["ts"].to_list()
        ax.axvspan(times[0] - timedelta(seconds=15), times[-1] + timedelta(seconds=30), color=HIGHLIGHT, alpha=0.12)
    # One row of text per label in the band above the lanes, so that no two labels overlap: labels left of 70%
    # of the view read rightwards from their transaction, the earliest on the top row; those right of it read
    # leftwards, the latest on top; each leader line drops straight to its transaction.
    split = lo + (hi - lo) * 0.7
    shown = [r for r in _label_plan(rows, "ts").iter_rows(named=True) if lo <= r["ts"] <= hi]
    ordered = [r for r in shown if r["ts"] <= split] + [r for r in shown if r["ts"] > split][::-1]
    for n, r in enumerate(ordered):
        y = names.index(r["device"]) if r["device"] in names else len(lanes) - 1
        right = r["ts"] > split
        ax.annotate(
            r["label"] + _suffix(r),
            xy=(r["ts"], y),
            xytext=(r["ts"], 0.98 - 0.075 * n),
            textcoords=("data", "axes fraction"),
            va="top",
            ha="right" if right else "left",
            fontsize=7.5,
            color="#7a2f5f",
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"},
            # the leader leaves the label's corner above the transaction; a lower row's label is drawn later,
            # so a leader from a higher row passes behind it instead of through its text
            arrowprops={"arrowstyle": "-", "color": HIGHLIGHT, "lw": 0.8, "relpos": (1.0 if right else 0.0, 0.0)},
            annotation_clip=True,
            zorder=5 + 0.01 * n,
        )


@_styled
def plot_day(
    ax: Axes, tl: Timeline, findings: list[dict[str, Any]] | None = None, window: tuple[Any, Any] | None = None
) -> Axes:
    """The whole span of the inputs as context: events per time bin on each lane, the zoomed window
    shaded and the findings' transactions as ticks."""
    _check("swimlane", tl, findings)
    lo, hi = _day(tl)
    lanes = _lanes(tl)
    _density(ax, _lane_events(tl, lanes), lo, hi, len(lanes), bins=160)
    if window:
        ax.axvspan(window[0], window[1], color=HIGHLIGHT, alpha=0.25, label="zoomed below")
    for ts in _finding_rows(tl, findings)["ts"].drop_nulls().to_list():
        ax.axvline(ts, color=HIGHLIGHT, lw=1.2)
    cited = _lane_events(tl, lanes).join(_cited_lines(findings), on=["path", "line"]).sort("ts_utc", "path", "line")
    if cited.height:  # a cited line far from the charges (a late upload) is still seen here
        ax.scatter(
            cited["ts_utc"].to_list(),
            cited["_lane"].to_list(),
            s=60,
            facecolors="none",
            edgecolors=HIGHLIGHT,
            linewidths=1.6,
            zorder=4,
            label="line cited as evidence",
        )
    ax.set_yticks(range(len(lanes)), [name for name, _ in lanes], fontsize=7)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.set_xlim(lo, hi)
    _time_axis(ax, tl)
    ax.set_xlabel("")
    ax.set_title("The whole span of the inputs (events per time bin); shaded: the view below", fontsize=9)
    _legend(ax)
    return ax


def _legend(ax: Axes, **kwargs: Any) -> None:
    """The legend beside the plot (at most MAX_LEGEND entries, the first ones kept)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles[:MAX_LEGEND],
            labels[:MAX_LEGEND],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            frameon=False,
            **kwargs,
        )


def _time_axis(ax: Axes, tl: Timeline) -> None:
    locator = mdates.AutoDateLocator(tz="UTC")
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz="UTC"))
    zones = tl.loaded.inputs.filter(TERMINAL).select("tz", "tz_assumed").unique().rows()
    local = ", ".join(f"{z}{' (assumed)' if assumed else ''}" for z, assumed in sorted(zones, key=str)) or "n/a"
    ax.set_xlabel(f"time (UTC); terminals' local time zone: {local}")


# ---------------------------------------------------------------- migration


@_styled
def plot_migration(ax: Axes, tl: Timeline, findings: list[dict[str, Any]] | None = None, bin_minutes: int = 30) -> Axes:
    """Transactions started per ``bin_minutes`` on each device sharing a TID (every bin drawn, empty ones
    at 0), its offline queue depth, its release and initialisation, what a released device still owed the
    host when it was released (a saved reversal not yet cleared, an offline sale not yet uploaded), and
    the findings' transactions marked."""
    _check("migration", tl, findings)
    ev = tl.events.filter(TERMINAL, pl.col("ts_utc").is_not_null())
    devices = tl.devices.sort("tid", "first_seen")
    colours = [OKABE_ITO[c] for c in ("blue", "orange", "green", "sky", "black")]
    every = timedelta(minutes=bin_minutes)
    queued, releases = False, []
    for i, d in enumerate(devices.iter_rows(named=True)):
        colour = colours[i % len(colours)]
        starts = ev.filter(pl.col("device") == d["device"], pl.col("kind") == "txn.start").sort("ts_utc")
        if starts.height:
            edges, counts = _bins(starts["ts_utc"], every)
            ax.stairs(counts, edges, color=colour, lw=1.8, baseline=None, label=f"{d['device']}: transactions")
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
            queued = True
            ax.step(
                depth["ts_utc"].to_list(),
                depth["depth"].to_list(),
                where="post",
                color=colour,
                ls=":",
                lw=1.5,
                label=f"{d['device']}: offline queue",
            )
        for kind, style, text in (("tms.release", "--", "released"), ("tms.init", "-.", "initialised")):
            times = ev.filter(pl.col("device") == d["device"], pl.col("kind") == kind)["ts_utc"].to_list()
            for n, ts in enumerate(times):
                label = f"{d['device']} {text} {ts:%H:%M:%S}" if n == 0 else None
                ax.axvline(ts, color=colour, ls=style, lw=1.2, label=label)
            if kind == "tms.release" and times:
                releases.append((d["device"], times[0]))
    ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1) * 1.6)  # headroom: the labels sit above the bars
    ax.margins(x=0.02)
    for device, released in releases:
        _owed_at_release(ax, tl, device, released)
    _mark_findings(ax, tl, findings)
    ax.set_ylabel(f"transactions per {bin_minutes} min" + ("; queued offline (dotted)" if queued else ""))
    _time_axis(ax, tl)
    shared = devices.filter(pl.col("devices_on_tid") > 1)["tid"].unique().sort().to_list()
    ax.set_title(f"Device swap on TID {', '.join(shared)}: activity of each device")
    _legend(ax)
    return ax


def _bins(times: pl.Series, every: timedelta) -> tuple[list[datetime], list[int]]:
    """Edges and counts of ``times`` in bins of ``every`` from the first bin to the last, empty bins included
    (the last bin has its own right edge, so it is drawn as wide as the others)."""
    frame = times.to_frame("ts").with_columns(pl.col("ts").dt.truncate(every).alias("bin"))
    counts = frame.group_by("bin").agg(pl.len().alias("n"))
    first, last = counts["bin"].min(), counts["bin"].max()
    bins = pl.datetime_range(first, last, every, eager=True, time_zone="UTC").to_frame("bin")
    full = bins.join(counts, on="bin", how="left").with_columns(pl.col("n").fill_null(0)).sort("bin")
    edges = full["bin"].to_list()
    return [*edges, edges[-1] + every], full["n"].to_list()


def owed_at_release(tl: Timeline, device: str, released: datetime) -> pl.DataFrame:
    """The transactions of ``device`` started before its release that still owed the host something when it
    was released: a reversal saved and not yet cleared, or an offline sale queued and not yet uploaded;
    ``owed`` says which."""
    t = tl.transactions.filter(pl.col("device") == device, pl.col("ts_start") < released)
    later = pl.lit(released, dtype=pl.Datetime("us", "UTC"))
    reversal = pl.col("reversal_saved").fill_null(False) & (
        pl.col("ts_reversal_deleted").is_null() | (pl.col("ts_reversal_deleted") > later)
    )
    advice = pl.col("line_saf_queued").is_not_null() & (pl.col("ts_upload").is_null() | (pl.col("ts_upload") > later))
    owed = pl.when(reversal).then(pl.lit("reversal")).otherwise(pl.lit("offline sale"))
    return t.filter(reversal | advice).with_columns(owed.alias("owed")).sort("ts_start")


def _owed_at_release(ax: Axes, tl: Timeline, device: str, released: datetime) -> None:
    """A bar from each transaction still owed to the host at ``released`` to the release, and one sentence
    at the release saying what was left behind."""
    owed = owed_at_release(tl, device, released)
    if not owed.height:
        return
    colour = OKABE_ITO["vermillion"]
    for n, r in enumerate(owed.iter_rows(named=True)):
        y = 0.68 - 0.02 * (n % 3)
        ax.plot(
            [r["ts_start"], released],
            [y, y],
            transform=ax.get_xaxis_transform(),
            color=colour,
            lw=3,
            marker="X",
            markevery=[0],
            ms=7,
            solid_capstyle="butt",
            label="still owed to the host at release" if n == 0 else None,
        )
    kinds = owed.group_by("owed", maintain_order=True).agg(pl.col("inv"))
    what = "; ".join(
        f"{len(r['inv'])} {r['owed']}{'s' if len(r['inv']) > 1 else ''} (inv {', '.join(map(str, r['inv'][:3]))})"
        for r in kinds.iter_rows(named=True)
    )
    lo, hi = ax.get_xlim()
    right = mdates.date2num(released) > lo + (hi - lo) * 0.6
    ax.text(
        released,
        0.71,
        f" released with {what} pending ",
        transform=ax.get_xaxis_transform(),
        fontsize=7,
        color=colour,
        fontweight="bold",
        ha="right" if right else "left",
        va="bottom",
        zorder=6,
        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 1.0},
    )


def _mark_findings(ax: Axes, tl: Timeline, findings: list[dict[str, Any]] | None) -> None:
    """A vertical line and a label inside the axes at each transaction a finding lists."""
    rows = _finding_rows(tl, findings).filter(pl.col("ts").is_not_null())
    rows = rows.unique(["device", "stan", "inv", "ts"], maintain_order=True).sort("ts", maintain_order=True)
    for i, ts in enumerate(rows["ts"].to_list()):
        ax.axvline(ts, color=HIGHLIGHT, lw=2, alpha=0.9, label="transaction in a finding" if i == 0 else None)
    lo, hi = ax.get_xlim()
    for i, r in enumerate(_label_plan(rows, "ts").iter_rows(named=True)):
        right = mdates.date2num(r["ts"]) > lo + (hi - lo) * 0.6  # near the right edge: text to the left
        ax.text(
            r["ts"],
            0.97 - 0.09 * (i % 3),
            f" {r['label']} ({r['device']}){_suffix(r)} ",
            transform=ax.get_xaxis_transform(),
            fontsize=7,
            color="#7a2f5f",
            fontweight="bold",
            va="top",
            ha="right" if right else "left",
            clip_on=True,
            zorder=6,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 1.0},
        )


# ---------------------------------------------------------------- clock skew


def _pairs(tl: Timeline) -> pl.DataFrame:
    terminal = tl.events.filter(TERMINAL, pl.col("segment").is_not_null())
    return clock_pairs(terminal, tl.host)


def skew_devices(tl: Timeline) -> list[str]:
    """The devices whose clock skew is measured (matched message pairs), in device order."""
    measured = set(_pairs(tl)["device"].drop_nulls().to_list())
    return [d for d in (tl.devices["device"].to_list() if tl.devices.height else []) if d in measured]


#: How each kind of matched message is drawn on the skew chart, and what its offset is. A request's offset
#: (terminal sent minus host received) is the skew minus the network delay, a response's (terminal received
#: minus host sent) the skew plus it: two bands, whose middle is the estimate.
_SKEW_MARKS = {
    "tx": ("^", "requests (terminal sent - host received): skew - network delay"),
    "rx": ("v", "responses (terminal received - host sent): skew + network delay"),
    "settlement": ("s", "cleared items (terminal time - capture time)"),
}


@_styled
def plot_skew(ax: Axes, tl: Timeline, devices: list[str] | None = None) -> Axes:
    """Terminal-minus-host offsets of matched messages (requests and responses apart: they form two bands,
    the network delay above and below the skew) and the estimate per clock segment, for the devices given
    (default: every device with matched pairs), in each device's colour. A segment whose skew is unknown
    (no pairs, nothing to inherit) is not drawn."""
    _check("skew", tl, None)
    terminal = tl.events.filter(TERMINAL, pl.col("segment").is_not_null())
    pairs = _pairs(tl)
    colours = [OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "sky", "black")]
    shown = devices or skew_devices(tl)
    steps = 0
    for i, device in enumerate(shown):
        colour = colours[i % len(colours)]
        mine = pairs.filter(pl.col("device") == device)
        for direction, (marker, meaning) in _SKEW_MARKS.items():
            some = mine.filter(pl.col("dir") == direction)
            if some.height:
                label = meaning if len(shown) == 1 else (meaning if i == 0 else None)
                ax.scatter(
                    some["ts"].to_list(), some["off"].to_list(), s=14, marker=marker, color=colour, alpha=0.6, lw=0
                )
                if label:  # the legend's mark in the colour the dots are drawn in (one device) or neutral (several)
                    ax.scatter(
                        [], [], s=14, marker=marker, color=colour if len(shown) == 1 else "grey", alpha=0.6, label=label
                    )
        labelled = set()  # a legend entry for the first measured and the first inherited segment
        for seg in tl.clocks.filter(pl.col("device") == device).iter_rows(named=True):
            if seg["source"].startswith("none"):
                continue  # unknown: not drawn as 0
            span = terminal.filter(pl.col("device") == device, pl.col("segment") == seg["segment"])["ts"]
            if span.len():
                measured = bool(seg["matches"])
                label = None
                if measured not in labelled:
                    label = f"{device}: skew " + (
                        "estimate per clock segment" if measured else "inherited (no pairs in that segment)"
                    )
                    labelled.add(measured)
                ls = "-" if measured else ":"
                ax.hlines(seg["skew_s"], span.min(), span.max(), color=colour, lw=2.2, ls=ls, label=label)
        for ts in terminal.filter(pl.col("device") == device, pl.col("kind").is_in(["clock.step", "clock.set"]))[
            "ts"
        ].to_list():
            ax.axvline(ts, color=colour, ls="--", lw=1, label=f"{device}: clock step logged" if not steps else None)
            steps += 1
    low, high = ax.get_ylim()
    if low < 0 < high:  # zero drawn only where the data already puts it in view
        ax.axhline(0, color=OKABE_ITO["black"], lw=0.6)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}"))
    ax.set_ylabel("terminal minus host (s)")
    _time_axis(ax, tl)
    # left: the date the axis' offset text shows at the right stays clear
    ax.set_xlabel(ax.get_xlabel().replace("time (UTC)", "terminal clock (UTC, skew not removed)"), loc="left")
    ax.set_title(f"Clock skew of {', '.join(shown)}: terminal minus host clock")
    _legend(ax)
    return ax


# ---------------------------------------------------------------- amounts


def _charges(tl: Timeline, everything: bool = False) -> pl.DataFrame:
    """Items that moved money, with ``amount`` (what was charged: settled, else approved, else sent, else
    entered) and ``entered`` in major units. ``charged`` null (unknown) counts when the terminal showed
    approval; ``everything`` keeps the items that did not move money too. ``_type`` keeps refunds apart."""
    t = tl.transactions
    moved = pl.col("charged") | (pl.col("charged").is_null() & (pl.col("merchant_outcome") == "APPROVED"))
    minor = pl.coalesce("settled_amount", "amount_approved", "amount_sent", "amount_entered")
    rows = t.filter(minor.is_not_null(), pl.col("ts_start").is_not_null())
    if not everything:
        rows = rows.filter(moved.fill_null(False))  # null: neither charged nor approved on screen
    exponents = [_exponent(e, c) for e, c in rows.select("exponent", "currency").rows()]
    digits = pl.lit(10.0).pow(pl.Series(exponents, dtype=pl.Int64))
    return rows.with_columns(
        amount=minor / digits,
        entered=pl.col("amount_entered") / digits,
        currency=pl.col("currency").fill_null("?"),
        _type=pl.when(pl.col("txn_type") == "SALE")
        .then(pl.lit("sale"))
        .when(pl.col("txn_type") == "REFUND")
        .then(pl.lit("refund"))
        .otherwise(pl.lit("other")),
    ).filter(pl.col("amount") > 0)


def currencies(tl: Timeline) -> list[str]:
    """The currencies of charged amounts, most used first."""
    c = _charges(tl)["currency"].value_counts(sort=True)
    return c["currency"].to_list()


_TYPE_MARKS = {
    "sale": ("sale", "o", OKABE_ITO["blue"]),
    "refund": ("refund", "v", OKABE_ITO["vermillion"]),
    "other": ("void, pre-auth, completion", "s", OKABE_ITO["orange"]),
}


@_styled
def plot_amounts(
    ax: Axes,
    tl: Timeline,
    findings: list[dict[str, Any]] | None = None,
    currency: str | None = None,
    outlier_ratio: float = 5.0,
) -> Axes:
    """Charged amounts of one currency (default: the most used) over time, sales and refunds apart,
    the median sale and an outlier line, and the findings' transactions ringed and labelled."""
    _check("amounts", tl, findings)
    currency = currency or currencies(tl)[0]
    t = _charges(tl).filter(pl.col("currency") == currency)
    for kind, (label, marker, colour) in _TYPE_MARKS.items():
        mine = t.filter(pl.col("_type") == kind)
        if mine.height:
            ax.scatter(
                mine["ts_start"].to_list(), mine["amount"].to_list(), s=14, marker=marker, color=colour, label=label
            )
    median = t.filter(pl.col("_type") == "sale")["amount"].median()
    if median:
        digits = _exponent(None, currency)
        ax.axhline(median, color=OKABE_ITO["black"], lw=0.8, label=f"median sale {median:,.{digits}f}")  # type: ignore[str-format]
        ax.axhline(median * outlier_ratio, color=OKABE_ITO["black"], lw=0.8, ls=":", label=f"{outlier_ratio:g}x median")  # type: ignore[operator]
    # the finding's time of each transaction (its request), as the swimlane and the text label it
    keys = _finding_rows(tl, findings).select("device", "tid", "stan", "inv", "fid", pl.col("ts").alias("_said"))
    hit = (
        _charges(tl, everything=True)
        .filter(pl.col("currency") == currency)
        .join(keys, on=["device", "tid", "stan", "inv"], nulls_equal=True)
    )
    hit = hit.unique(["txn"], maintain_order=True).sort("ts_start", "txn")
    if hit.height:
        ax.scatter(
            hit["ts_start"].to_list(),
            hit["amount"].to_list(),
            s=170,
            facecolors="none",
            edgecolors=HIGHLIGHT,
            linewidths=2.0,
            label="in a finding",
            zorder=4,
        )
        lo, hi = t["ts_start"].min(), t["ts_start"].max()
        for i, r in enumerate(_label_plan(hit, "ts_start").iter_rows(named=True)):
            digits = _exponent(r["exponent"], currency)
            notes = []
            if r["entered"] is not None and r["entered"] > 0 and abs(r["entered"] - r["amount"]) > 1e-9:
                ax.plot([r["ts_start"]] * 2, [r["entered"], r["amount"]], color=HIGHLIGHT, lw=1, ls="--", zorder=4)
                ax.scatter([r["ts_start"]], [r["entered"]], marker="_", s=120, color=HIGHLIGHT, zorder=4)
                notes.append(f"entered {r['entered']:,.{digits}f}")
            if r["charged"] is not True:
                notes.append("not charged" if r["charged"] is False else "charge unknown")
            if (r["cleared_count"] or 0) > 1:
                notes.append(f"cleared {r['cleared_count']}x")
            label = (
                f"{r['fid']} {(r['txn_type'] or 'charge').lower()} inv {r['inv'] or '?'} "
                f"{r['amount']:,.{digits}f} {currency} {r['_said'] or r['ts_start']:%H:%M:%S}"
            )
            right = lo is not None and r["ts_start"] > lo + (hi - lo) * 0.7  # type: ignore[operator]
            ax.annotate(  # labels in rows at the top of the axes, each with a line to its item
                label + (f" ({'; '.join(notes)})" if notes else "") + _suffix(r),
                xy=(r["ts_start"], r["amount"]),
                xytext=(r["ts_start"], 0.95 - 0.08 * (i % 5)),
                textcoords=("data", "axes fraction"),
                va="top",
                # as on the swimlane: the line leaves the label's corner above its item, a lower row is drawn
                # over a higher row's line
                arrowprops={"arrowstyle": "-", "color": HIGHLIGHT, "lw": 0.7, "relpos": (1.0 if right else 0.0, 0.0)},
                ha="right" if right else "left",
                fontsize=7,
                color="#7a2f5f",
                fontweight="bold",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"},
                annotation_clip=True,
                zorder=5 + 0.01 * (i % 5),
            )
    ax.set_xlim(*_day(tl))  # the inputs' span, the same on every currency's panel (one item alone: not years)
    ax.set_yscale("log")
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, top * (4.0 if hit.height else 1.2))  # room for the labels above the highest item
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(f"amount ({currency}, log scale)")
    _time_axis(ax, tl)
    ax.set_title(f"Charged amounts in {currency}: sales and refunds (solid: median sale)")
    _legend(ax)
    return ax


# ---------------------------------------------------------------- whole figures


def _panels(fig: Figure, n: int, ratios: list[float] | None = None) -> Iterator[Axes]:
    axes = fig.subplots(n, 1, squeeze=False, height_ratios=ratios)[:, 0]
    yield from axes


@_styled
def figure(
    kind: str, tl: Timeline, findings: list[dict[str, Any]] | None = None, window: tuple[Any, Any] | None = None
) -> Figure:
    """A whole figure of one chart kind, sized for a report page; raises ``NotApplicable`` (with the
    reason) when the chart has nothing to show. The swimlane zoomed on an incident gets the whole
    span above it as context; skew gets one panel per device, amounts one per currency."""
    _check(kind, tl, findings)
    if kind == "swimlane":
        lanes = len(_lanes(tl))
        zoom = window or incident_window(tl, findings)
        lo, hi = _day(tl)
        context = zoom is not None and (zoom[1] - zoom[0]) < (hi - lo) * 0.8
        main = max(2.6, 1.2 + 0.55 * lanes + (0.5 if findings else 0))
        fig = Figure(figsize=(11, main + (1.0 + 0.22 * lanes if context else 0)), layout="constrained")
        if context:
            top, ax = _panels(fig, 2, [1.0 + 0.22 * lanes, main])
            plot_day(top, tl, findings, zoom)
        else:
            (ax,) = _panels(fig, 1)
        plot_swimlane(ax, tl, findings, zoom)
        return fig
    if kind == "migration":
        fig = Figure(figsize=(11, 3.6), layout="constrained")
        plot_migration(fig.add_subplot(), tl, findings)
        return fig
    if kind == "skew":
        devices = skew_devices(tl)
        fig = Figure(figsize=(11, 1.0 + 2.2 * len(devices)), layout="constrained")
        for ax, device in zip(_panels(fig, len(devices)), devices, strict=True):
            plot_skew(ax, tl, [device])
        return fig
    codes = currencies(tl)
    fig = Figure(figsize=(11, 1.0 + 2.8 * len(codes)), layout="constrained")
    for ax, code in zip(_panels(fig, len(codes)), codes, strict=True):
        plot_amounts(ax, tl, findings, currency=code)
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
    with written_aside(path) as partial, matplotlib.rc_context(_STYLE):
        fig.savefig(partial, format=suffix[1:], dpi=120, metadata=metadata)
    return path
