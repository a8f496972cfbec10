"""Incident reports: HTML (self-contained), Markdown (PNGs beside it) and PDF.

Content: summary, findings table, a section per finding (narrative, transactions, evidence
with path:line, its swimlane chart), devices and clocks, migration/skew/amount charts,
compliance sightings, and chain of custody (inputs with size and SHA-256, tool version,
options). Everything shown comes from the masked tables: no full PAN can appear.
"""

from __future__ import annotations

import base64
import html
import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from matplotlib.figure import Figure

from forensics.coverage import coverage, plural
from forensics.diagnosis import Diagnosis, render
from forensics.diagnosis.kinds import kinds
from forensics.outputs import write_bytes, write_text
from forensics.report import CHARTS, charts
from forensics.report.custody import Custody
from forensics.report.pdf import write_pdf
from forensics.report.section import Section
from forensics.timeline import Timeline

FORMATS = ("html", "md", "pdf")
# Tables never break inside a number or a word: short cells (amounts, times, codes, ids, headers) keep
# on one line, long unbroken ones (SHA-256, paths) may break anywhere, the rest wrap at spaces, and a
# table wider than the page scrolls sideways inside its own box instead of squeezing its cells.
_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;"
    "max-width:1100px;margin:2em auto;padding:0 1em;color:#111;line-height:1.45}"
    ".scroll{overflow-x:auto;margin:.6em 0}"
    "table{border-collapse:collapse;font-size:.88em}"
    "th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top;"
    "overflow-wrap:normal;word-break:normal;hyphens:none}"
    "td.n{white-space:nowrap}"
    "td.long{overflow-wrap:anywhere;min-width:12em}"
    "td.text{min-width:10em}"
    "th{background:#f2f2f2}"
    "code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}"
    "pre{background:#f7f7f7;padding:.6em;white-space:pre;overflow-x:auto}"
    ".cause{font-weight:bold;color:#CC79A7}"
    "img{max-width:100%;border:1px solid #eee}"
    "h2{border-bottom:2px solid #0072B2;padding-bottom:.2em}"
)


def _chart(sec: Section, name: str, kind: str, tl: Any, findings: list[dict[str, Any]]) -> None:
    """Add a chart to a section, or one line saying why it does not apply."""
    reason = charts.why_not(kind, tl, findings)
    if reason:
        sec.paragraphs.append(f"The {kind} chart is left out: {reason}.")
    else:
        sec.charts.append((name, charts.figure(kind, tl, findings)))


#: the one time a report gives each charge, said in every table that shows it
TIME_HEADER = "sent (UTC)"
TIME_NOTE = (
    "Times: each charge is shown at the time its terminal sent the request (its start when nothing was sent), "
    "in UTC after correcting the terminal's clock against the host (where a terminal log was given); host lines "
    "at the host's time; a cleared item at its capture time, moved to the request it clears where the capture "
    "time would put it before that request (the row itself shows the time as filed)."
)


def _confidence(f: Any) -> str:
    """``0.87``; ``0.43, tied`` when another cause is as strong; ``0.35, low`` below ``render.LOW_CONFIDENCE``."""
    if render.tied(f):
        return f"{f.confidence:.2f}, tied"
    return f"{f.confidence:.2f}, low" if f.confidence < render.LOW_CONFIDENCE else f"{f.confidence:.2f}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _where(tl: Timeline) -> str:
    """Where the transactions were: terminals with a log, and terminals known only by the TID the host log
    or a clearing file gives."""
    rebuilt = tl.transactions.filter(pl.col("rebuilt_from") != "terminal")["tid"].drop_nulls().n_unique()
    logged = f"on {plural(tl.devices.height, 'terminal')}"
    if not rebuilt:
        return logged
    known = "known only by TID from the host log or clearing file"
    if not tl.devices.height:
        return f"on {plural(rebuilt, 'terminal')} {known}"
    return f"{logged} with a log and {rebuilt} more {known}"


def sections(result: Diagnosis, run: Custody | None = None) -> list[Section]:
    """The report's content, independent of the output format; ``run`` says who made it, when and
    how (default: now, from a library call)."""
    tl = result.timeline
    doc = result.document()
    out: list[Section] = []
    summary = Section("Summary")
    n = len(result.findings)
    cov = coverage(tl)
    files = plural(len(doc["inputs"]), "input file")
    covering = f"covering {plural(tl.transactions.height, 'transaction attempt')} {_where(tl)}"
    if len(cov.empty) == cov.inputs.height:
        summary.paragraphs.append(
            f"Nothing was checked: no input yielded an event, so no faulty charge can be found or ruled out "
            f"from {files}."
        )
    elif n:
        summary.paragraphs.append(f"{plural(n, 'faulty charge')} found in {files} {covering}.")
    else:
        summary.paragraphs.append(f"No faulty charge found in {files} {covering}.")
    summary.paragraphs.append(cov.sentence())
    if n:
        summary.paragraphs.append(TIME_NOTE)
        notes = [f"{f.id}: {render.confidence_note(f)}." for f in result.findings if render.confidence_note(f)]
        summary.paragraphs += notes
    summary.paragraphs += [
        f"Warning: {Path(path).name}: {line.split('; warning: ', 1)[-1]}."
        for path, line, parsed in zip(cov.inputs["path"], cov.input_lines(), cov.inputs["parsed"], strict=True)
        if not parsed
    ]
    if n:
        summary.tables.append(
            (
                ["id", "finding", "cause", "contributing", "confidence", "amount", "card", "devices"],
                [
                    [
                        f.id,
                        kinds()[f.kind].title,
                        f.cause,
                        _cell(f.contributing),
                        _confidence(f),
                        f"{f.amount} {f.currency or ''}",
                        f"****{f.card[-4:]}" if f.card else "-",
                        _cell(f.devices),
                    ]
                    for f in result.findings
                ],
            )
        )
    out.append(summary)
    for f in result.findings:
        sec = Section(render.heading(f))
        sec.paragraphs.append(f"{f.summary}.")
        sec.paragraphs.append(render.action(f))
        sec.paragraphs.append(" ".join(p for p in (render.cause(f), render.rules(f)) if p))
        sec.paragraphs += render.caveats(f)
        sec.paragraphs.append(render.disputes(f))
        if f.disputes:
            sec.tables.append(
                (
                    ["network", "code", "dispute category", "evidence it asks for"],
                    [[d.network, d.code, d.title, "; ".join(d.evidence)] for d in f.disputes],
                )
            )
        sec.tables.append(
            (
                ["device", "TID", "STAN", "invoice", "RRN", "auth", TIME_HEADER],
                [[_cell(v) for v in (t.device, t.tid, t.stan, t.inv, t.rrn, t.auth, t.ts)] for t in f.transactions],
            )
        )
        sec.pre.append("\n".join(render.evidence(e) for e in f.evidence))
        _chart(sec, f"{f.id.lower()}-swimlane", "swimlane", tl, [f])
        out.append(sec)
    devices = Section("Devices and clocks")
    if tl.devices.height:
        devices.tables.append(
            (
                [
                    "device",
                    "TID",
                    "MID",
                    "app",
                    "first seen (UTC)",
                    "last seen (UTC)",
                    "role",
                    "counter resets",
                    "skew (s)",
                    "host pairs",
                ],
                [
                    [
                        _cell(d["device"]),
                        _cell(d["tid"]),
                        _cell(d["mid"]),
                        _cell(d["app_version"]),
                        str(d["first_seen"])[:19],
                        str(d["last_seen"])[:19],
                        _cell(d["role"]),
                        _cell(d["counter_resets"]),
                        f"{d['skew_s']:+.2f}" if d["skew_s"] is not None and d["clock_matches"] else "unknown",
                        _cell(d["clock_matches"]),
                    ]
                    for d in tl.devices.iter_rows(named=True)
                ],
            )
        )
    devices.tables.append(
        (
            ["device", "segment", "lines", "skew (s)", "spread (s)", "pairs", "source"],
            [
                [
                    _cell(c["device"]),
                    "-" if c["segment"] is None else str(c["segment"]),
                    f"{c['from_line']}-{c['to_line']}",
                    "unknown (none applied)" if c["source"].startswith("none") else f"{c['skew_s']:+.2f}",
                    f"{c['spread_s']:.2f}" if c["spread_s"] is not None else "-",
                    str(c["matches"]),
                    c["source"],
                ]
                for c in tl.clocks.iter_rows(named=True)
            ],
        )
    )
    for d in tl.devices.filter(pl.col("zone_hint").is_not_null()).iter_rows(named=True) if tl.devices.height else []:
        devices.paragraphs.append(f"Note: {d['device']}: {d['zone_hint']}.")
    devices.paragraphs.append(
        "Skew is the terminal clock minus the host clock, estimated from matched request/response "
        "pairs per clock segment (segments start at clock steps, reboots and log dividers)."
        + (
            " A host log's row (no segment) is its offset from UTC: the log gave no zone, and the clearing "
            "file's capture times of the online items (pairs) showed it; its times were moved to UTC by it."
            if tl.clocks["segment"].null_count()
            else ""
        )
    )
    for kind in CHARTS[1:]:
        _chart(devices, kind, kind, tl, result.findings)
    out.append(devices)
    compliance = Section("Compliance: card data in clear")
    if doc["compliance"]:
        compliance.paragraphs.append(
            f"{len(doc['compliance'])} sighting(s) of full card numbers, track data or PIN "
            "blocks in the inputs (masked on ingest; shown masked here)."
        )
        compliance.tables.append(
            (
                ["kind", "file", "line", "field", "masked"],
                [[c["kind"], Path(c["path"]).name, str(c["line"]), c["field"], c["masked"]] for c in doc["compliance"]],
            )
        )
    else:
        compliance.paragraphs.append("No full card number, track data or PIN block was found in the inputs.")
    out.append(compliance)
    custody = Section("Chain of custody")
    custody.tables.append((["what", "value"], (run or Custody()).rows()))
    when = pdf_date(result)
    custody.paragraphs.append(
        f"The PDF is dated {when:%Y-%m-%d %H:%M:%S} UTC, the latest event in the inputs, not the time it was "
        "made (above), so that the same inputs give the same file."
        if when
        else "The PDF is dated 2000-01-01, a fixed date: no input had a time to date it by."
    )
    custody.tables.append(
        (
            [
                "input (absolute path)",
                "bytes",
                "SHA-256",
                "lines",
                "parsed",
                "unparsed",
                "format",
                "time zone",
                "notes",
            ],
            [
                [
                    str(Path(r["path"]).absolute()),
                    str(r["bytes"]),
                    r["sha256"],
                    str(r["lines"]),
                    str(r["parsed"]),
                    str(r["unparsed"]),
                    _cell(r["format"]),
                    f"{r['tz']}{' (assumed)' if r['tz_assumed'] else ''}",
                    _cell(r["notes"]),
                ]
                for r in tl.loaded.inputs.iter_rows(named=True)
            ],
        )
    )
    out.append(custody)
    return out


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


#: a token this long or shorter (an id, a code, a time) is never broken; a longer one (a hash, a path) may be
_TOKEN = 40
#: a number with its unit ("25.28 CNY", "2026-01-14 23:13:47", "0.43, tied") this short keeps on one line
_NUMBER = re.compile(r"^[-+*]?\d[^ ]*( [^ ]+){0,2}$")


def _class(cell: str) -> str:
    """The HTML class of a table cell: ``n`` (one line) for one token or a number with its unit, ``long``
    (may break anywhere) for a token too long to keep whole (a hash, a path), ``text`` (wraps at spaces)."""
    if (" " not in cell and len(cell) <= _TOKEN) or (len(cell) <= 30 and _NUMBER.match(cell)):
        return " class='n'"
    return " class='long'" if " " not in cell else " class='text'"


def write_html(secs: list[Section], path: Path, title: str) -> Path:
    """One self-contained HTML file (images inline, no external resources)."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    for sec in secs:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in sec.paragraphs]
        for header, rows in sec.tables:
            parts.append(
                "<div class='scroll'><table><tr>"
                + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td{_class(c)}>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
                )
                + "</table></div>"
            )
        parts += [f"<pre>{html.escape(p)}</pre>" for p in sec.pre]
        for name, fig in sec.charts:
            data = base64.b64encode(_png(fig)).decode()
            parts.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'></figure>")
    parts.append("</body></html>")
    return write_text(path, "\n".join(parts))


# inline marks that act anywhere (emphasis, code, links and images through [ ], table cells, strikes)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
# a block mark opening the text: heading, list item, rule or setext line (only when a space or the end follows)
_MD_LINE_START = re.compile(r"^(\s*)(\d+(?=[.)])|)([#+\-=*_]+|[.)])(?=\s|$)")


def md_escape(text: str) -> str:
    """``text`` (log text, file and device names) as inert Markdown: HTML's ``& < >`` as
    entities, Markdown's inline control characters backslash-escaped, line breaks as spaces and
    a leading heading, list or rule mark escaped."""
    text = html.escape(text.replace("\r", " ").replace("\n", " "), quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: m.group(1) + m.group(2) + "\\" + m.group(3), text)


def _fence(text: str) -> str:
    """A code fence longer than any backtick run in ``text`` (which then cannot close it)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def write_markdown(secs: list[Section], path: Path, title: str) -> Path:
    """Markdown with the charts as PNG files beside it; text from the logs is escaped."""
    lines = [f"# {md_escape(title)}", ""]
    for sec in secs:
        lines += [f"## {md_escape(sec.title)}", ""]
        lines += [md_escape(p) + "\n" for p in sec.paragraphs]
        for header, rows in sec.tables:
            lines.append("| " + " | ".join(md_escape(h) for h in header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
            lines.append("")
        for p in sec.pre:
            fence = _fence(p)
            lines += [fence, p, fence, ""]
        for name, fig in sec.charts:
            image = path.parent / f"{name}.png"
            write_bytes(image, _png(fig))
            lines += [f"![{name}]({image.name})", ""]
    return write_text(path, "\n".join(lines))


def write(result: Diagnosis, out_dir: str | Path, fmt: str = "html", run: Custody | None = None) -> Path:
    """Write the report in ``fmt`` into ``out_dir`` (created); returns the report file."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    secs = sections(result, run)
    target = folder / f"report.{fmt}"
    if fmt == "pdf":
        return write_pdf(secs, target, report_title(result, run), pdf_date(result))
    return {"html": write_html, "md": write_markdown}[fmt](secs, target, report_title(result, run))


def report_title(result: Diagnosis, run: Custody | None = None) -> str:
    """``Incident report CASE-7``: the case id when given (a report is filed under it), else the kinds found."""
    if run is not None and run.case_id:
        return f"Incident report {run.case_id}"
    kinds = sorted({f.kind for f in result.findings})
    return "Incident report: " + (", ".join(kinds) if kinds else "no faulty charge found")


def pdf_date(result: Diagnosis) -> datetime | None:
    """The PDF's creation date: the latest event's time (UTC), so that the same inputs give the same bytes."""
    return result.timeline.events["ts_utc"].max() if result.timeline.events.height else None
