"""Evidence packs: per finding, the files an analyst attaches to a dispute response.

``write(result, folder, run)`` writes ``<folder>/<F1>/`` for each finding:

- ``finding.json``: the finding as in spec/findings.md, with the dispute categories it supports and the
  evidence each asks for (``disputes``);
- ``lines.txt``: the cited log lines (role, ``file:line``, their time in UTC after clock correction, the
  line as logged, card numbers masked as everywhere);
- ``transactions.csv``: the finding's transactions from the timeline (amounts in minor units, as the
  column names say; spreadsheet formulas neutralised);
- ``swimlane.png``: the finding's transactions across terminal, host and settlement (left out, with the
  reason in the manifest, when it does not apply);
- ``manifest.json``: the case, the tool, the command, the inputs with their SHA-256 and size, and the
  SHA-256 and size of every other file of the pack, so that each can be checked after it is sent.

Everything comes from the masked tables: no full card number can reach a pack.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from forensics.diagnosis import Diagnosis, render
from forensics.diagnosis.finding import Finding
from forensics.outputs import csv_safe, write_text
from forensics.report import charts
from forensics.report.custody import Custody
from forensics.report.text import finding_marks
from forensics.timeline import TRANSACTION_COLUMNS

#: the transactions table's amount columns, in the currency's minor unit (the CSV header says so)
_MINOR = tuple(
    c for c, (dtype, _) in TRANSACTION_COLUMNS.items() if ("amount" in c or c == "tip") and dtype == pl.Int64()
)
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while piece := handle.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """A transactions table for CSV: list columns joined by ``;``, amount columns renamed ``<name>_minor``
    (a CSV has no types: the name says 2528 is 25.28 in a two-decimal currency; ``exponent`` gives it)."""
    return frame.with_columns(
        [pl.col(c).list.join(";") for c, d in frame.schema.items() if d == pl.List(pl.String)]
    ).rename({c: f"{c}_minor" for c in _MINOR if c in frame.columns})


def transactions_csv(frame: pl.DataFrame) -> str:
    """A transactions table as CSV (``csv_ready``), formulas neutralised (``csv_safe``)."""
    return csv_safe(csv_ready(frame)).write_csv()


def _lines(f: Finding) -> str:
    """The finding's cited lines, each with its UTC time beside the line as logged (``render.evidence``)."""
    head = [
        render.heading(f),
        "Cited lines: [role] file:line (its time in UTC as placed on the timeline: terminal lines after clock "
        "correction, host lines by the host's clock, a cleared item at or after the request it clears, which may "
        "differ from the capture time in its row): the line as logged, card numbers "
        "masked.",
        "",
    ]
    return "\n".join(head + [render.evidence(e) for e in f.evidence]) + "\n"


def write(result: Diagnosis, folder: str | Path, run: Custody | None = None) -> list[Path]:
    """An evidence pack per finding in ``folder`` (created): returns the manifest of each pack."""
    tl = result.timeline
    marks = finding_marks(tl, result.findings)
    manifests = []
    for f in result.findings:
        where = Path(folder) / f.id
        where.mkdir(parents=True, exist_ok=True)
        files = [
            write_text(where / "finding.json", json.dumps(f.to_dict(), indent=2, ensure_ascii=False) + "\n"),
            write_text(where / "lines.txt", _lines(f)),
            write_text(
                where / "transactions.csv",
                transactions_csv(
                    tl.transactions.filter(pl.col("txn").is_in([t for t, ids in marks.items() if f.id in ids]))
                ),
            ),
        ]
        reason = charts.why_not("swimlane", tl, [f])
        if reason is None:
            files.append(charts.save(charts.figure("swimlane", tl, [f]), where / "swimlane.png"))
        manifests.append(_manifest(result, f, where, files, reason, run))
    return manifests


def _manifest(
    result: Diagnosis, f: Finding, where: Path, files: list[Path], chart_reason: str | None, run: Custody | None
) -> Path:
    inputs = [
        {"path": r["path"], "sha256": r["sha256"], "bytes": r["bytes"]}
        for r in result.timeline.loaded.inputs.iter_rows(named=True)
    ]
    doc: dict[str, Any] = {
        "finding": f.id,
        "kind": f.kind,
        "cause": f.cause,
        "disputes": [f"{d.network} {d.code}" for d in f.disputes],
        "custody": dict((run or Custody()).rows()),
        "inputs": inputs,
        "files": [{"name": p.name, "sha256": _sha256(p), "bytes": p.stat().st_size} for p in files],
    }
    if chart_reason:
        doc["left_out"] = {"swimlane.png": chart_reason}
    return write_text(where / MANIFEST, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
