"""The incident report as its writers lay it out: a list of sections (``incident.sections``), each written as
HTML or Markdown (``incident``) or PDF (``pdf``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from matplotlib.figure import Figure


@dataclass
class Section:
    """A report section: a heading, paragraphs, tables (header, rows) and charts (name, figure)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    charts: list[tuple[str, Figure]] = field(default_factory=list)
    pre: list[str] = field(default_factory=list)
