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
from pathlib import Path
from typing import Any

import polars as pl
from matplotlib.figure import Figure

from forensics.diagnosis import Diagnosis, render
from forensics.diagnosis.kinds import kinds
from forensics.outputs import write_bytes, write_text
from forensics.report import CHARTS, charts
from forensics.report.custody import Custody
from forensics.report.pdf import write_pdf
from forensics.report.section import Section

FORMATS = ("html", "md", "pdf")
_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;"
    "max-width:1100px;margin:2em auto;color:#111;line-height:1.45}"
    "table{border-collapse:collapse;margin:.6em 0;font-size:.88em}"
    "th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top;overflow-wrap:anywhere}"
    "th{background:#f2f2f2}"
    "code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}"
    "pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere}"
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


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def sections(result: Diagnosis, run: Custody | None = None) -> list[Section]:
    """The report's content, independent of the output format; ``run`` says who made it, when and
    how (default: now, from a library call)."""
    tl = result.timeline
    doc = result.document()
    out: list[Section] = []
    summary = Section("Summary")
    n = len(result.findings)
    summary.paragraphs.append(
        f"{n} faulty charge(s) found in {len(doc['inputs'])} input file(s) covering {tl.transactions.height} "
        f"transaction attempts on {tl.devices.height} terminal(s)."
        if n
        else f"No faulty charge found in {len(doc['inputs'])} input file(s) covering "
        f"{tl.transactions.height} transaction attempts on {tl.devices.height} terminal(s)."
    )
    if n:
        summary.tables.append(
            (
                ["id", "finding", "cause", "contributing", "confidence", "amount", "card", "devices", "summary"],
                [
                    [
                        f.id,
                        kinds()[f.kind].title,
                        f.cause,
                        _cell(f.contributing),
                        f"{f.confidence:.2f}",
                        f"{f.amount} {f.currency or ''}",
                        f"****{f.card[-4:]}" if f.card else "-",
                        _cell(f.devices),
                        f.summary,
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
        sec.tables.append(
            (
                ["device", "TID", "STAN", "invoice", "RRN", "auth", "time (UTC)"],
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
                    str(c["segment"]),
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
                "<table><tr>"
                + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
                + "</table>"
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
    kinds = sorted({f.kind for f in result.findings})
    title = "Incident report: " + (", ".join(kinds) if kinds else "no faulty charge found")
    secs = sections(result, run)
    writer = {"html": write_html, "md": write_markdown, "pdf": write_pdf}[fmt]
    return writer(secs, folder / f"report.{fmt}", title)
