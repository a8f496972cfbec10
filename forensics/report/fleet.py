"""Fleet charts: what a sweep found across the fleet, readable at a glance.

Each ``plot_*`` function draws one table of ``forensics.fleet.summary.summarize`` on a Matplotlib
``Axes`` and returns it, so notebooks compose them; ``write_charts(tables, folder)`` saves them as
PNG files (deterministic bytes, written aside and renamed):

- ``findings_by_cause_per_day.png``: findings per day, stacked by cause, quiet days shown;
- ``findings_by_kind_and_cause.png``: findings per kind and cause, with the money at stake;
- ``findings_by_app_version.png`` and ``findings_by_model.png``: findings per 100 terminals of each app
  version (model), so a version on few terminals is not hidden by one on many;
- ``inputs_by_format.png``: input files per format and outcome (parsed, partly unparsed, no events, failed).

A chart with nothing to show (the finding charts of a fleet without findings) is not written. A cause has
the same colour in every chart (Okabe-Ito, colour-blind safe).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from forensics.fleet.summary import OUTCOMES
from forensics.money import amount_text
from forensics.report.charts import OKABE_ITO, _styled, save

__all__ = [
    "CAUSE_COLOURS",
    "plot_by_device",
    "plot_cause_per_day",
    "plot_inputs",
    "plot_kind_cause",
    "write_charts",
]

CAUSE_COLOURS = {
    "hardware_fault": OKABE_ITO["orange"],
    "software_bug": OKABE_ITO["vermillion"],
    "operator_error": OKABE_ITO["sky"],
    "migration_sync_delay": OKABE_ITO["purple"],
    "network_timeout": OKABE_ITO["blue"],
    "host_error": OKABE_ITO["green"],
    "undetermined": "#999999",
}
OUTCOME_COLOURS = {
    "parsed": OKABE_ITO["green"],
    "partly unparsed": OKABE_ITO["yellow"],
    "no events": "#BBBBBB",
    "failed": OKABE_ITO["vermillion"],
}
UNKNOWN = "not logged"  # the label of a null app version or model
_MAX_BARS = 25  # versions or models drawn; the rest are summed into one bar
_DAY_LABELS = 45  # up to this many days, each day's bar is labelled with its date


def _words(name: str | None) -> str:
    return UNKNOWN if name is None else name.replace("_", " ")


def _colour(cause: str | None) -> str:
    return CAUSE_COLOURS.get(cause or "undetermined", "#999999")


def plot_cause_per_day(ax: Axes, tables: dict[str, pl.DataFrame]) -> Axes:
    """Findings per day, stacked by cause; every day the fleet's terminals logged has its place (a bar per
    labelled day up to ``_DAY_LABELS`` days, a date axis beyond)."""
    days = tables["day_cause"]
    span = days.select("day").unique().sort("day")["day"].to_list()
    labelled = len(span) <= _DAY_LABELS
    x = list(range(len(span))) if labelled else span
    bottom = [0] * len(span)
    causes = sorted(c for c in days["cause"].unique().to_list() if c is not None)
    for cause in causes:
        counts = dict(days.filter(pl.col("cause") == cause).select("day", "findings").iter_rows())
        heights = [counts.get(day, 0) for day in span]
        ax.bar(x, heights, bottom=bottom, color=_colour(cause), label=_words(cause), width=0.8)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    for at, total in zip(x, bottom, strict=True):
        if total:
            ax.annotate(str(total), (at, total), ha="center", va="bottom", fontsize=8, xytext=(0, 1),
                        textcoords="offset points")  # fmt: skip
    if labelled:
        ax.set_xticks(x, [d.strftime("%a %d %b") for d in span], fontsize=8, rotation=45 if len(span) > 12 else 0)
    else:
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max([*bottom, 1]) * 1.15)
    ax.set_ylabel("findings")
    ax.set_xlabel("day of the finding's first transaction (UTC)")
    ax.set_title(f"Findings per day by cause ({_count(sum(bottom), 'finding')}, {_count(len(span), 'day')})")
    handles, names = ax.get_legend_handles_labels()  # top of the stack first, as drawn
    ax.legend(handles[::-1], names[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              title="cause")  # fmt: skip
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_kind_cause(ax: Axes, tables: dict[str, pl.DataFrame]) -> Axes:
    """Findings per kind and cause (most first), each bar labelled with the amounts at stake per currency."""
    kc = tables["kind_cause"]
    rows = (
        kc.group_by("kind", "cause")
        .agg(pl.col("findings").sum(), pl.struct("amount", "exponent", "currency", "amount_unknown").alias("money"))
        .sort(["findings", "kind", "cause"], descending=[True, False, False])
    )
    labels, counts, notes, colours = [], [], [], []
    for row in rows.iter_rows(named=True):
        labels.append(f"{_words(row['kind'])}\n{_words(row['cause'])}")
        counts.append(row["findings"])
        colours.append(_colour(row["cause"]))
        money = [
            amount_text(m["amount"], m["exponent"], m["currency"]) for m in row["money"] if m["amount"] is not None
        ]
        unknown = sum(m["amount_unknown"] for m in row["money"])
        notes.append(", ".join(money + ([f"{unknown} amount(s) unknown"] if unknown else [])))
    y = list(range(len(labels)))
    ax.barh(y, counts, color=colours)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    for i, (count, note) in enumerate(zip(counts, notes, strict=True)):
        ax.annotate(f"{count}  ({note})" if note else str(count), (count, i), va="center", fontsize=8,
                    xytext=(3, 0), textcoords="offset points")  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max([*counts, 1]) * 1.6)
    ax.set_xlabel("findings")
    ax.set_title(f"Findings by kind and cause ({_count(sum(counts), 'finding')})")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_by_device(ax: Axes, tables: dict[str, pl.DataFrame], column: str) -> Axes:
    """Findings per 100 terminals for each app version or model (``column``), with its terminal count and the
    fleet's rate; a finding counts once for each version (model) among its terminals."""
    table = tables[column]
    if table.height > _MAX_BARS:
        top = table.sort("terminals", descending=True).head(_MAX_BARS - 1)
        rest = table.join(top, on=column, how="anti", nulls_equal=True)
        other = rest.select(
            pl.lit(f"{rest.height} others").alias(column),
            pl.col("terminals").sum(),
            pl.col("findings").sum(),
            pl.col("terminals_with_findings").sum(),
        ).with_columns(findings_per_100_terminals=pl.col("findings") * 100 / pl.col("terminals"))
        table = pl.concat([top.sort(pl.col(column).is_null(), column), other], how="vertical_relaxed")
    what = "app version" if column == "app_version" else column
    labels = [f"{_words(v)}\n{_count(t, 'terminal')}" for v, t in table.select(column, "terminals").iter_rows()]
    rates = [r or 0.0 for r in table["findings_per_100_terminals"].to_list()]
    known = table[column].is_not_null().to_list()
    y = list(range(len(labels)))
    bars = ax.barh(y, rates, color=[OKABE_ITO["blue"] if k else "#BBBBBB" for k in known])
    for bar, k in zip(bars, known, strict=True):
        if not k:
            bar.set_hatch("//")  # a terminal whose log never said: unknown, not a value of its own
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    for i, (rate, findings, touched) in enumerate(
        zip(rates, table["findings"].to_list(), table["terminals_with_findings"].to_list(), strict=True)
    ):
        text = (
            f"{_rate(rate)}  ({_count(findings, 'finding')} on {_count(touched, 'terminal')})" if findings else "none"
        )
        ax.annotate(text, (rate, i), va="center", fontsize=8, xytext=(3, 0), textcoords="offset points")
    overview = tables["overview"].row(0, named=True)
    terminals, findings = overview["terminals"], overview["findings"]
    if terminals and findings:
        fleet = findings * 100 / terminals
        ax.axvline(fleet, color=OKABE_ITO["black"], linestyle="--", linewidth=0.8)
        ax.annotate(f"fleet {_rate(fleet)}", (fleet, 1.0), xycoords=("data", "axes fraction"), fontsize=8,
                    ha="left", va="bottom", xytext=(2, 1), textcoords="offset points")  # fmt: skip
    ax.set_xlim(0, max([*rates, 0.1]) * 1.6)
    ax.set_xlabel("findings per 100 terminals")
    ax.set_title(f"Findings per 100 terminals, by {what}", pad=14)
    ax.grid(axis="x", alpha=0.3)
    return ax


def _rate(rate: float) -> str:
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def plot_inputs(ax: Axes, tables: dict[str, pl.DataFrame]) -> Axes:
    """Input files per format: the share of each outcome (100% stacked), each bar labelled with its files and
    lines, and how many failed or gave no event."""
    table = tables["inputs"].with_columns(pl.col("format").fill_null("unrecognised"))
    formats = (
        table.group_by("format")
        .agg(
            pl.col("files").sum(),
            pl.col("lines").sum(),
            pl.col("files").filter(pl.col("outcome").is_in(["no events", "failed"])).sum().alias("without"),
        )
        .sort("format")
    )
    names = formats["format"].to_list()
    totals = formats["files"].to_list()
    y = list(range(len(names)))
    left = [0.0] * len(names)
    for outcome in OUTCOMES:
        counts = dict(table.filter(outcome=outcome).group_by("format").agg(pl.col("files").sum()).iter_rows())
        widths = [100 * counts.get(name, 0) / total for name, total in zip(names, totals, strict=True)]
        if any(widths):
            ax.barh(y, widths, left=left, color=OUTCOME_COLOURS[outcome], label=outcome)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for i, row in enumerate(formats.iter_rows(named=True)):
        note = f"; {row['without']:,} without events" if row["without"] else ""
        ax.annotate(f"{_count(row['files'], 'file')}, {row['lines'] or 0:,} lines{note}", (100, i), va="center",
                    fontsize=8, xytext=(4, 0), textcoords="offset points")  # fmt: skip
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 160)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("share of the format's input files (%)")
    ax.set_title(f"Inputs by format and outcome ({sum(totals):,} files)")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return ax


@_styled
def write_charts(tables: dict[str, pl.DataFrame], folder: str | Path) -> list[Path]:
    """The fleet charts of ``tables`` (``summarize``'s) as PNG files in ``folder`` (created); returns the paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    plans: list[tuple[str, tuple[float, float], object]] = []
    if tables["kind_cause"].height:
        rows = tables["kind_cause"].select("kind", "cause").unique().height
        plans += [
            ("findings_by_cause_per_day", (11, 4), plot_cause_per_day),
            ("findings_by_kind_and_cause", (11, 1.2 + 0.5 * rows), plot_kind_cause),
        ]
        for column in ("app_version", "model"):
            bars = min(tables[column].height, _MAX_BARS)
            plans.append((f"findings_by_{column}", (11, 1.2 + 0.45 * bars), _by(column)))
    if tables["inputs"].height:
        formats = tables["inputs"]["format"].n_unique()
        plans.append(("inputs_by_format", (11, 1.4 + 0.45 * formats), plot_inputs))
    for name, size, draw in plans:
        fig = Figure(figsize=size, layout="constrained")
        draw(fig.add_subplot(), tables)  # type: ignore[operator]
        written.append(save(fig, out / f"{name}.png"))
    return written


def _by(column: str):  # type: ignore[no-untyped-def]
    def draw(ax: Axes, tables: dict[str, pl.DataFrame]) -> Axes:
        return plot_by_device(ax, tables, column)

    return draw
