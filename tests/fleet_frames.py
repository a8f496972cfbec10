"""A sweep's frames (``findings``, ``devices``, ``inputs``: the schemas of ``forensics.fleet.sweep`` and
``OUTDIR/*.parquet``) built from per-case ``diagnose`` output, one group per case: what the fleet summary
and charts are tested on."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

import forensics
from forensics.diagnosis import diagnose_timeline
from forensics.fleet.sweep import INPUTS_SCHEMA, group_frames
from forensics.timeline import build


def case_frames(group: str, paths: list[Path], tz: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(findings, devices, inputs) of one case diagnosed alone, as group ``group`` of a sweep."""
    loaded = forensics.load([str(p) for p in paths], tz=tz)
    tl = build(loaded)
    result = diagnose_timeline(tl)
    findings, devices, _ = group_frames(group, loaded.events, tl, result)
    inputs = loaded.inputs.select(
        "path",
        "sha256",
        pl.col("bytes").alias("size"),
        "format",
        "role",
        "lines",
        "parsed",
        "unparsed",
        pl.lit(None, pl.String).alias("error"),
        pl.lit(0.0).alias("seconds"),
        pl.lit([group]).alias("groups"),
    ).cast(dict(INPUTS_SCHEMA))
    return findings, devices, inputs


def case_dirs_frames(folders: dict[str, Path]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The frames of several simulated case folders (each with its truth.json), one group per case."""
    parts = []
    for group, folder in folders.items():
        truth = json.loads((folder / "truth.json").read_text())
        tz = {str(folder / d["file"]): d["tz"] for d in truth["devices"]}
        parts.append(case_frames(group, [folder / name for name in truth["inputs"]], tz))
    return tuple(pl.concat([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
