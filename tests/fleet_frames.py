"""A sweep's frames (``findings``, ``devices``, ``inputs``: the schemas of ``forensics.fleet.sweep`` and
``OUTDIR/*.parquet``) built from per-case ``diagnose`` output, one group per case: what the fleet summary
and charts are tested on."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

import forensics
from forensics.diagnosis import diagnose_timeline
from forensics.fleet.summary import device_models
from forensics.fleet.sweep import DEVICES_SCHEMA, FINDINGS_SCHEMA, INPUTS_SCHEMA
from forensics.timeline import build

FINDINGS, DEVICES, INPUTS = FINDINGS_SCHEMA, DEVICES_SCHEMA, INPUTS_SCHEMA


def case_frames(group: str, paths: list[Path], tz: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(findings, devices, inputs) of one case diagnosed alone, as group ``group`` of a sweep."""
    loaded = forensics.load([str(p) for p in paths], tz=tz)
    tl = build(loaded)
    result = diagnose_timeline(tl)
    mids = dict(zip(tl.devices["device"].to_list(), tl.devices["mid"].to_list(), strict=True))
    rows = []
    for f in result.findings:
        obj = {**f.to_dict(), "id": f"{group}/{f.id}", "group": group}
        rows.append(
            {
                "group": group,
                "id": obj["id"],
                "kind": f.kind,
                "cause": f.cause,
                "confidence": f.confidence,
                "amount": f.amount_minor,
                "exponent": f.exponent,
                "currency": f.currency,
                "first_ts": f.first_ts,
                "day": f.first_ts.date(),
                "devices": f.devices,
                "tids": sorted({t.tid for t in f.transactions if t.tid}),
                "mids": sorted({mids[d] for d in f.devices if mids.get(d)}),
                "summary": f.summary,
                "finding": json.dumps(obj),
            }
        )
    serials = loaded.events.filter(pl.col("serial").is_not_null()).group_by("device").agg(pl.col("serial").first())
    devices = (
        tl.devices.join(serials, on="device", how="left")
        .join(device_models(loaded.events), on="device", how="left")
        .select(
            pl.lit(group).alias("group"),
            "device",
            "serial",
            "tid",
            "mid",
            "app_version",
            "model",
            "events",
            pl.col("first_seen").alias("first_ts"),
            pl.col("last_seen").alias("last_ts"),
        )
        .cast(dict(DEVICES))
    )
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
    ).cast(dict(INPUTS))
    return pl.DataFrame(rows, schema=FINDINGS), devices, inputs


def case_dirs_frames(folders: dict[str, Path]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The frames of several simulated case folders (each with its truth.json), one group per case."""
    parts = []
    for group, folder in folders.items():
        truth = json.loads((folder / "truth.json").read_text())
        tz = {str(folder / d["file"]): d["tz"] for d in truth["devices"]}
        parts.append(case_frames(group, [folder / name for name in truth["inputs"]], tz))
    return tuple(pl.concat([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
