"""The chart rules: what a chart must show, and when it is left out with a reason instead of drawn empty."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from forensics.analysis import diagnose
from forensics.cli import cli
from forensics.diagnosis import Diagnosis
from forensics.report import charts
from tests.conftest import ROOT, SAMPLES


@cache
def _case(name: str, only: str | None = None) -> Diagnosis:
    folder = SAMPLES / name
    truth = json.loads((folder / "truth.json").read_text())
    logs = sorted(str(p) for p in folder.iterdir() if p.suffix in (".log", ".csv") and (only is None or only in p.name))
    return diagnose(logs, tz={str(folder / d["file"]): d["tz"] for d in truth["devices"]})


def _texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


def _legend_labels(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_importing_the_charts_leaves_the_backend_alone() -> None:
    """A notebook's inline backend survives ``import forensics.report.charts`` (it once forced Agg)."""
    code = "import matplotlib; matplotlib.use('svg'); import forensics.report.charts; print(matplotlib.get_backend())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "svg"


def test_migration_chart_is_left_out_for_a_single_device() -> None:
    result = _case("dup_paper_out_rerun")
    reason = charts.why_not("migration", result.timeline, result.findings)
    assert reason and "device swap" in reason
    with pytest.raises(charts.NotApplicable, match="migration chart not drawn: .*device swap"):
        charts.figure("migration", result.timeline, result.findings)


def test_migration_chart_marks_the_faulty_charges_inside_the_axes() -> None:
    result = _case("dup_migration_rerun")
    fig = charts.figure("migration", result.timeline, result.findings)
    (ax,) = fig.axes
    invoices = [t["inv"] for f in result.findings for t in f["transactions"]]
    assert invoices and all(f"inv {inv}" in _texts(fig) for inv in invoices)
    assert "transaction in a finding" in _legend_labels(ax)
    lo, hi = ax.get_xlim()
    for text in ax.texts:  # x in data units, y in axes units: inside means both within the axes
        x, y = text.get_position()
        assert lo <= ax.xaxis.convert_units(x) <= hi and 0 <= y <= 1, text.get_text()


def test_skew_chart_is_left_out_without_host_pairs() -> None:
    """A device log alone has no host messages: the skew is unknown, not 0."""
    result = _case("dup_paper_out_rerun", only="A920")
    assert result.timeline.clocks["source"].str.starts_with("none").all()
    reason = charts.why_not("skew", result.timeline, result.findings)
    assert reason and "unknown" in reason
    with pytest.raises(charts.NotApplicable):
        charts.figure("skew", result.timeline)


def test_skew_chart_does_not_draw_an_unknown_segment_as_zero() -> None:
    result = _case("dup_migration_rerun")
    tl = result.timeline
    device = tl.clocks["device"][0]
    unknown = tl.clocks.with_columns(
        skew_s=pl.when(pl.col("device") == device).then(0.0).otherwise(pl.col("skew_s")),
        matches=pl.when(pl.col("device") == device).then(0).otherwise(pl.col("matches")),
        source=pl.when(pl.col("device") == device).then(pl.lit("none: no host messages matched")).otherwise("source"),
    )
    fig = Figure()
    ax = fig.add_subplot()
    charts.plot_skew(ax, dataclasses.replace(tl, clocks=unknown), [device])
    lines = [c for c in ax.collections if not isinstance(c, PathCollection)]
    levels = [segment[0][1] for c in lines for segment in c.get_segments()]
    assert 0.0 not in levels


def test_swimlane_labels_every_faulty_transaction_and_rings_every_cited_line() -> None:
    result = _case("dup_paper_out_rerun")
    fig = charts.figure("swimlane", result.timeline, result.findings)
    labels = _texts(fig)
    for t in result.findings[0]["transactions"]:
        assert f"inv {t['inv']}" in labels
    assert "25.28 CNY" in labels and "00:17:53" in labels  # amount and time (UTC) beside the invoice
    zoom = fig.axes[-1]
    cited = len({(e["path"], e["line"]) for f in result.findings for e in f["evidence"]})
    ring = next(c for c in zoom.collections if c.get_label().startswith("line cited as evidence"))
    assert len(ring.get_offsets()) == cited  # both settlement rows, both charges, the printer fault


def test_swimlane_zooms_on_the_incident_with_the_day_above() -> None:
    result = _case("dup_paper_out_rerun")
    fig = charts.figure("swimlane", result.timeline, result.findings)
    day, zoom = fig.axes
    day_span = day.get_xlim()[1] - day.get_xlim()[0]
    zoom_span = zoom.get_xlim()[1] - zoom.get_xlim()[0]
    assert zoom_span < day_span / 10


@pytest.mark.parametrize("name", ["dup_paper_out_rerun", "dup_migration_rerun", "ledger_open_batch_retired"])
def test_legends_have_at_most_eight_entries(name: str) -> None:
    result = _case(name)
    for kind in charts.KINDS:
        if charts.why_not(kind, result.timeline, result.findings) is None:
            for ax in charts.figure(kind, result.timeline, result.findings).axes:
                assert len(_legend_labels(ax)) <= charts.MAX_LEGEND, (kind, _legend_labels(ax))


def test_a_busy_lane_is_drawn_as_density_not_a_solid_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _case("clean_day")
    monkeypatch.setattr(charts, "DENSE_EVENTS", 10)
    fig = Figure()
    ax = fig.add_subplot()
    charts.plot_swimlane(ax, result.timeline)
    assert not [c for c in ax.collections if isinstance(c, PathCollection)]  # no per-event markers
    assert len(ax.patches) > 20 and any(label.startswith("events per") for label in _legend_labels(ax))


def test_amounts_keep_refunds_apart_and_label_in_plain_numbers() -> None:
    result = _case("refund_wrong_amount")
    fig = charts.figure("amounts", result.timeline, result.findings)
    (ax,) = fig.axes
    marks = {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}
    assert {"sale", "refund"} <= set(marks)
    assert marks["sale"].get_paths()[0] != marks["refund"].get_paths()[0]  # another marker, not only a colour
    assert marks["sale"].get_facecolor().tolist() != marks["refund"].get_facecolor().tolist()
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ticks and all("^" not in t and "times" not in t for t in ticks), ticks
    assert "JPY" in ax.get_ylabel() and "27,100 JPY" in _texts(fig)


def test_amounts_mark_both_charges_of_a_duplicate() -> None:
    result = _case("dup_paper_out_rerun")
    (ax,) = charts.figure("amounts", result.timeline, result.findings).axes
    ring = next(c for c in ax.collections if c.get_label() == "in a finding")
    assert len(ring.get_offsets()) == 2


def test_amounts_show_what_was_charged_and_what_was_entered() -> None:
    result = _case("amount_exponent_bug")
    fig = charts.figure("amounts", result.timeline, result.findings)
    assert "198.20 USD" in _texts(fig) and "entered 19.82" in _texts(fig)


def test_amounts_get_one_axis_per_currency() -> None:
    result = _case("dup_paper_out_rerun")
    tl = result.timeline
    mixed = tl.transactions.with_columns(
        currency=pl.when(pl.col("stan").cast(pl.Int64) % 2 == 0).then(pl.lit("EUR")).otherwise("currency")
    )
    fig = charts.figure("amounts", dataclasses.replace(tl, transactions=mixed), result.findings)
    assert sorted(ax.get_ylabel().split()[1].strip("(,") for ax in fig.axes) == ["CNY", "EUR"]


def test_an_unreadable_input_gives_no_chart_and_says_why(tmp_path: Path) -> None:
    """Not an empty 1970 chart with exit code 0."""
    junk = tmp_path / "notes.log"
    junk.write_text("these are not log lines\nat all\n")
    for kind in charts.KINDS:
        out = tmp_path / f"{kind}.png"
        run = CliRunner().invoke(cli, ["chart", str(junk), "--kind", kind, "-o", str(out)])
        assert run.exit_code == 3 and not out.exists(), (kind, run.output)
        assert f"{kind} chart not drawn" in run.output


def test_migration_draws_every_bin_as_wide_as_the_others_and_names_both_quantities() -> None:
    result = _case("dup_migration_rerun")
    fig = charts.figure("migration", result.timeline, result.findings)
    ax = fig.axes[0]
    stairs = [p for p in ax.patches if type(p).__name__ == "StepPatch"]
    assert len(stairs) == 2  # one per device
    for step in stairs:
        edges = step.get_data().edges
        widths = {round(float(b - a), 6) for a, b in zip(edges[:-1], edges[1:], strict=True)}
        assert len(widths) == 1  # the last bin too: not a bare tick
    assert ax.get_ylabel() == "transactions per 30 min; queued offline (dotted)"
    assert "count" not in ax.get_ylabel()


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("dup_migration_rerun", "released with 1 reversal (inv 003805) pending"),
        ("dup_migration_saf_late", "released with 1 offline sale (inv 003209) pending"),
    ],
)
def test_migration_shows_what_the_released_device_still_owed_the_host(name: str, said: str) -> None:
    result = _case(name)
    fig = charts.figure("migration", result.timeline, result.findings)
    assert said in _texts(fig)
    assert "still owed to the host at release" in _legend_labels(fig.axes[0])


def test_finding_labels_are_drawn_over_the_release_line() -> None:
    result = _case("dup_migration_rerun")
    ax = charts.figure("migration", result.timeline, result.findings).axes[0]
    release = [line for line in ax.lines if line.get_linestyle() == "--"]
    labels = [t for t in ax.texts if t.get_text().startswith(" F1")]
    assert release and labels
    assert all(
        t.get_zorder() > line.get_zorder() and t.get_bbox_patch().get_alpha() in (None, 1.0)
        for t in labels
        for line in release
    )


def test_skew_legend_marks_match_the_drawn_colours_and_explain_the_two_bands() -> None:
    result = _case("dup_migration_rerun")
    fig = charts.figure("skew", result.timeline)
    for ax in fig.axes:
        legend = ax.get_legend()
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels[0].startswith("requests (terminal sent - host received): skew - network delay")
        assert labels[1].startswith("responses (terminal received - host sent): skew + network delay")
        dots = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_offsets().size]
        lines = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
        drawn = {to_rgb(c.get_facecolor()[0]) for c in dots} | {to_rgb(c.get_color()[0]) for c in lines}
        for handle in legend.legend_handles:
            colour = handle.get_facecolor()[0] if isinstance(handle, PathCollection) else handle.get_color()
            assert to_rgb(colour) in drawn, (ax.get_title(), colour)
        assert "as logged" not in ax.get_xlabel() and ax.get_xlabel().startswith(
            "terminal clock (UTC, skew not removed)"
        )


def test_responses_sit_above_requests_on_the_skew_chart() -> None:
    result = _case("dup_migration_rerun")
    pairs = charts._pairs(result.timeline)
    mean = dict(pairs.group_by("dir").agg(pl.col("off").mean()).rows())
    assert mean["rx"] > mean["tx"]  # the legend's words: requests skew - delay, responses skew + delay


@pytest.mark.parametrize("name", ["dup_paper_out_rerun", "dup_migration_rerun", "refund_wrong_invoice_after_reset"])
def test_swimlane_labels_do_not_overlap(name: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    result = _case(name)
    fig = charts.figure("swimlane", result.timeline, result.findings)
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in fig.axes[-1].texts if t.get_text().startswith("F")]
    boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in labels]  # the text boxes, without leaders
    assert len(boxes) >= 2
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


def test_chart_help_says_what_each_kind_shows() -> None:
    from forensics.report import CHART_HELP

    shown = " ".join(CliRunner().invoke(cli, ["chart", "--help"]).output.split())
    assert set(CHART_HELP) == set(charts.KINDS)
    for kind, shows in CHART_HELP.items():
        assert f"{kind} {shows}." in shown
