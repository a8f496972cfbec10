"""The incident report as a PDF laid out like the HTML one: headings, wrapped paragraphs, tables
whose cells wrap and whose header repeats on each page, evidence in a monospace block, charts
inline under their section, and "page N of M" with the title at the foot of every page.

Text is set in DejaVu Sans (shipped with matplotlib), so log text in any script prints as
logged. Its creation date is not the clock's but one the caller derives from the inputs (the report
uses the latest event's time; without one, reportlab's fixed 2000-01-01), and it has no random id: the
same report gives the same bytes.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import matplotlib
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from forensics.outputs import written_aside

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from forensics.report.section import Section

_PAGE = landscape(A4)
_MARGIN = 14 * mm
_WIDTH = _PAGE[0] - 2 * _MARGIN
_FONTS = {
    "Sans": "DejaVuSans.ttf",
    "Sans-Bold": "DejaVuSans-Bold.ttf",
    "Mono": "DejaVuSansMono.ttf",
}


def _register_fonts() -> None:
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name, file in _FONTS.items():
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily("Sans", normal="Sans", bold="Sans-Bold", italic="Sans", boldItalic="Sans-Bold")


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName="Sans", fontSize=9, leading=12, spaceAfter=4)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName="Sans-Bold", fontSize=16, leading=20),
        "h2": ParagraphStyle(
            "h2", parent=base["Heading2"], fontName="Sans-Bold", fontSize=12, leading=15, textColor="#0072B2"
        ),
        "body": body,
        "cell": ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9.5, spaceAfter=0),
        "head": ParagraphStyle("head", parent=body, fontName="Sans-Bold", fontSize=7.5, leading=9.5, spaceAfter=0),
        "mono": ParagraphStyle("mono", parent=body, fontName="Mono", fontSize=7, leading=9, backColor="#f7f7f7"),
    }


def _text(value: str) -> str:
    """Log text as inert Paragraph markup: entities escaped, line breaks kept."""
    return escape(value).replace("\n", "<br/>")


def _widths(header: list[str], rows: list[list[str]]) -> list[float]:
    """Column widths that fill the page: each column at least as wide as its header's longest word
    and its short unbreakable values (numbers, codes), the rest shared by typical length."""
    pad = 7.0
    least, wanted = [], []
    for i, h in enumerate(header):
        cells = [r[i] for r in rows if i < len(r)]
        whole = [pdfmetrics.stringWidth(w, "Sans-Bold", 7.5) for w in h.split()]
        whole += [pdfmetrics.stringWidth(c, "Sans", 7.5) for c in cells if " " not in c and len(c) <= 16]
        sizes = sorted(pdfmetrics.stringWidth(c[:60], "Sans", 7.5) for c in cells) or [0.0]
        least.append(max(whole, default=0.0) + pad)
        wanted.append(max(sizes[int(0.9 * (len(sizes) - 1))] + pad, least[-1]))
    if sum(wanted) <= _WIDTH:
        return [w * _WIDTH / sum(wanted) for w in wanted]
    spare = max(_WIDTH - sum(least), 0.0)
    extra = [w - m for w, m in zip(wanted, least, strict=True)]
    return [m + spare * e / (sum(extra) or 1.0) for m, e in zip(least, extra, strict=True)]


def _table(header: list[str], rows: list[list[str]], st: dict[str, ParagraphStyle]) -> Table:
    data = [[Paragraph(_text(h), st["head"]) for h in header]]
    data += [[Paragraph(_text(c), st["cell"]) for c in row] for row in rows]
    table = Table(data, colWidths=_widths(header, rows), repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#cccccc")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f2f2f2")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _chart(fig: Figure) -> Image:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150, metadata={"Software": None})
    buffer.seek(0)
    width, height = fig.get_size_inches()
    scale = min(_WIDTH / (width * 72), (_PAGE[1] - 2 * _MARGIN - 30 * mm) / (height * 72), 1.0)
    return Image(buffer, width=width * 72 * scale, height=height * 72 * scale, hAlign="LEFT")


def _numbered(title: str, created: datetime | None = None) -> type[Canvas]:
    """A canvas that writes "page N of M" and the title at the foot of every page, and dates the file
    ``created`` (UTC) when given."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []
            if created is not None:
                stamp = created.strftime("D:%Y%m%d%H%M%S+00'00'")
                self._doc.setDateFormatter(lambda *_: stamp)

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Sans", 7)
                self.setFillColor(colors.HexColor("#666666"))
                self.drawString(_MARGIN, 8 * mm, title[:140])
                self.drawRightString(_PAGE[0] - _MARGIN, 8 * mm, f"page {self._pageNumber} of {len(self._pages)}")
                super().showPage()
            super().save()

    return NumberedCanvas


def write_pdf(secs: list[Section], path: Path, title: str, created: datetime | None = None) -> Path:
    """The report as a PDF at ``path`` (written aside, then renamed), dated ``created`` (see the module
    docstring)."""
    _register_fonts()
    st = _styles()
    story: list[Any] = [Paragraph(_text(title), st["title"])]
    for sec in secs:
        block: list[Any] = [Paragraph(_text(sec.title), st["h2"])]
        block += [Paragraph(_text(p), st["body"]) for p in sec.paragraphs]
        story.append(KeepTogether(block[:2]) if len(block) > 1 else block[0])
        story += block[2:]
        for header, rows in sec.tables:
            story += [_table(header, rows, st), Spacer(1, 4)]
        story += [Paragraph(_text(p), st["mono"]) for p in sec.pre]
        story += [_chart(fig) for _, fig in sec.charts]
    invariant = rl_config.invariant
    rl_config.invariant = 1  # no creation time or random document id: same report, same bytes
    try:
        with written_aside(path) as partial:
            doc = SimpleDocTemplate(
                str(partial),
                pagesize=_PAGE,
                leftMargin=_MARGIN,
                rightMargin=_MARGIN,
                topMargin=_MARGIN,
                bottomMargin=_MARGIN + 4 * mm,
                title=title,
                author="forensics",
                creator="forensics",
            )
            doc.build(story, canvasmaker=_numbered(title, created))
    finally:
        rl_config.invariant = invariant
    return path
