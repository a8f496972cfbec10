"""What an analyst's notebook needs beside the library's analysis (notebooks/*.ipynb use these): the
inputs named by folder or file, time zones by file name, amounts in words, a finding's headline and
evidence, "no finding" said in words, and tables shown whole (no quoted strings, no cut lines)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from matplotlib.figure import Figure

from forensics.coverage import coverage
from forensics.diagnosis import Diagnosis, render
from forensics.diagnosis.finding import Finding
from forensics.money import amount_text
from forensics.report import charts
from forensics.timeline import Timeline

#: Files a case folder holds that are not logs: its notes and its answers.
NOT_LOGS = (".md", ".json", ".txt", ".ipynb")


def inputs(paths: str | Path | Sequence[str | Path], root: str | Path) -> list[str]:
    """The input files ``paths`` names, sorted within each folder: a path is absolute or relative to ``root``
    (the repository's root in the notebooks); a folder stands for its files, READMEs and answer files
    (``NOT_LOGS``) left out. A path that does not exist is an error naming it."""
    listed = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[str] = []
    for given in listed:
        path = Path(given) if Path(given).is_absolute() else Path(root) / given
        if path.is_dir():
            files += [str(p) for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() not in NOT_LOGS]
        elif path.is_file():
            files.append(str(path))
        else:
            raise FileNotFoundError(f"{given}: no such file or folder (relative paths start at {root})")
    return files


def zones(tz: str | dict[str, str] | None, files: Sequence[str]) -> str | dict[str, str] | None:
    """``tz`` as ``forensics.load`` takes it: one zone for every input, or {file name or path: zone} turned
    into {path: zone} for ``files`` (a name that matches none of them is an error)."""
    if tz is None or isinstance(tz, str):
        return tz
    out: dict[str, str] = {}
    for name, zone in tz.items():
        matches = [f for f in files if f == name or Path(f).name == name or Path(f) == Path(name)]
        if not matches:
            raise ValueError(f"time zone for {name}: no input of that name")
        out |= {f: zone for f in matches}
    return out


def amount(column: str = "amount_entered") -> pl.Expr:
    """A transactions table's minor-unit ``column`` as people read it (``45.99 USD``; ``?`` when unknown),
    with the row's ``exponent`` and ``currency``, named ``amount``."""
    return (
        pl.struct(column, "exponent", "currency")
        .map_elements(lambda r: amount_text(r[column], r["exponent"], r["currency"]), return_dtype=pl.String)
        .alias("amount")
    )


def headline(f: Finding) -> str:
    """A finding in Markdown: its heading, summary, cause with confidence and what to do."""
    return f"**{render.heading(f)}**: {f.summary}.  \n{render.cause(f)}  \n{render.action(f)}"


def evidence(f: Finding) -> pl.DataFrame:
    """A finding's evidence as a table: what the line shows, file:line and the line as logged."""
    rows = [{"role": e.role, "where": f"{Path(e.path).name}:{e.line}", "line": e.text or ""} for e in f.evidence]
    return pl.DataFrame(rows, schema={"role": pl.String, "where": pl.String, "line": pl.String})


def transactions(f: Finding) -> pl.DataFrame:
    """A finding's transactions: device, TID, STAN, invoice, RRN, approval code and time (UTC)."""
    columns = ("device", "tid", "stan", "inv", "rrn", "auth", "ts")
    rows = [{c: getattr(t, c) for c in columns} for t in f.transactions]
    return pl.DataFrame(rows, schema={c: pl.String for c in columns})


def first_finding(result: Diagnosis) -> Finding | None:
    """The first finding (F1), or None on a clean case (``no_finding`` says so in words)."""
    return result.findings[0] if result.findings else None


def no_finding(result: Diagnosis) -> str:
    """What a case without finding means: nothing faulty among the transactions read, and what was (not)
    checked, in Markdown."""
    tl = result.timeline
    return (
        f"**No finding**: no faulty charge among {tl.transactions.height} transaction attempt(s). "
        + coverage(tl).sentence()
    )


@dataclass(frozen=True)
class Note:
    """A sentence a notebook shows in italics (Markdown) in place of something it cannot show."""

    text: str

    def _repr_markdown_(self) -> str:
        return f"*{self.text}*"

    def __str__(self) -> str:
        return self.text


def chart(kind: str, tl: Timeline, findings: Sequence[Finding] | None = None) -> Figure | Note:
    """The chart ``kind`` of ``tl`` (``charts.figure``), or a ``Note`` saying why it does not apply."""
    listed = list(findings) if findings is not None else None
    why = charts.why_not(kind, tl, listed)
    return Note(f"No {kind} chart: {why}.") if why else charts.figure(kind, tl, listed)


@dataclass(frozen=True)
class Table:
    """A frame shown whole: every row, strings as logged (no quotes, never cut), nulls as blanks."""

    frame: pl.DataFrame

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.frame.columns)
        rows = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
            for row in self.frame.iter_rows()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"

    def __str__(self) -> str:
        cells = [list(self.frame.columns), *[[_cell(v) for v in row] for row in self.frame.iter_rows()]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.frame.columns))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells)

    def __repr__(self) -> str:
        return str(self)


def table(frame: pl.DataFrame) -> Table:
    """``frame`` to display whole in a notebook (``Table``)."""
    return Table(frame)


def _cell(value: Any) -> str:
    """A cell as text: lists joined with commas, None blank, a float to 6 significant digits (no binary noise
    such as ``-0.7177229999999999``), anything else as ``str`` gives it."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)
