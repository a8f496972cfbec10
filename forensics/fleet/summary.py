"""The fleet summary: findings by kind, cause, day, app version and terminal model; inputs by format and outcome.

``summarize(findings, devices, inputs)`` takes a sweep's frames (``findings``, ``devices`` and
``inputs`` as ``OUTDIR/*.parquet``, eager or lazy) and returns small tables, each a Polars frame:

- ``overview``: one row: groups, terminals, findings, terminals with a finding, inputs, inputs failed and
  the terminals' events;
- ``kind_cause``: findings per kind, cause and currency, with the terminals they touch and the sum of
  their amounts (minor units; ``amount_unknown`` counts findings whose amount no input gave);
- ``day_cause``: findings per day and cause, every day the fleet's terminals logged (the days on
  which fewer than half the terminals seem to log, their clocks far off, left out) and every day a
  finding fell on, quiet days at 0;
- ``app_version`` and ``model``: per app version (terminal model) the terminals, the findings and the
  terminals with a finding, and findings per 100 terminals; a finding counts once for each version
  (model) among its devices (a migration's old and new terminal may differ); a null version (model)
  is a terminal whose log never said it, kept as null (unknown), not merged into another;
- ``inputs``: input files per format, role and outcome (``parsed``, ``partly unparsed``, ``no events``,
  ``failed``), with their lines, parsed and unparsed lines and bytes.

``device_models(events)`` reads each terminal's model from its TMS identity line (``model=A920``, an
attribute the reference dialect keeps in ``attrs``), for the ``devices`` frame's ``model`` column.
``write_tables`` writes the tables as Parquet.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from forensics.outputs import written_aside

__all__ = ["OUTCOMES", "TABLES", "device_models", "summarize", "write_tables"]

#: The tables ``summarize`` returns, in order.
TABLES = ("overview", "kind_cause", "day_cause", "app_version", "model", "inputs")
#: An input's outcome, from best to worst.
OUTCOMES = ("parsed", "partly unparsed", "no events", "failed")
_PER = 100  # findings per this many terminals
_SPAN_SHARE = 0.5  # the day table spans the days on which at least this share of the terminals logged
_OVERVIEW = ("groups", "terminals", "findings", "terminals_with_findings", "inputs", "inputs_failed", "terminal_events")


def _eager(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def device_models(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """device, model: the model each terminal's identity line names last (devices that never say are absent)."""
    return (
        events.lazy()
        .filter(pl.col("role") == "terminal", pl.col("kind") == "tms.device", pl.col("attrs").is_not_null())
        .select("device", "path", "line", model=pl.col("attrs").str.json_path_match("$.model"))
        .filter(pl.col("model").is_not_null())
        .sort("device", "path", "line")
        .group_by("device", maintain_order=True)
        .agg(pl.col("model").last())
        .collect()
    )


def _by_device(findings: pl.DataFrame, devices: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per value of the devices' ``column``: terminals, findings, terminals with a finding, findings per 100."""
    terminals = devices.group_by(column).agg(pl.col("device").n_unique().alias("terminals"))
    touched = (
        findings.select("group", "id", pl.col("devices").alias("device"))
        .explode("device")
        .join(devices.select("group", "device", column), on=["group", "device"], how="left")
        .group_by(column)
        .agg(
            pl.col("id").n_unique().alias("findings"),
            pl.col("device").filter(pl.col("device").is_not_null()).n_unique().alias("terminals_with_findings"),
        )
    )
    return (
        terminals.join(touched, on=column, how="full", coalesce=True, nulls_equal=True)
        .with_columns(
            pl.col("terminals").fill_null(0).cast(pl.Int64),
            pl.col("findings").fill_null(0).cast(pl.Int64),
            pl.col("terminals_with_findings").fill_null(0).cast(pl.Int64),
        )
        .with_columns(
            # null (not 0) where no terminal of that value is known: the rate is unknown
            findings_per_100_terminals=pl.when(pl.col("terminals") > 0).then(
                pl.col("findings") * _PER / pl.col("terminals")
            )
        )
        .sort(pl.col(column).is_null(), column)
    )


def _span(devices: pl.DataFrame) -> pl.DataFrame:
    """day: the first and last day on which at least ``_SPAN_SHARE`` of the most terminals ever logging at
    once were logging (each logs from its first to its last day): a clock far off on a few terminals (an
    RTC reset read in another year) does not stretch the fleet's span."""
    one_day = pl.duration(days=1)
    changes = (
        pl.concat(
            [
                devices.select(pl.col("first_ts").dt.date().alias("day"), pl.lit(1).alias("step")),
                devices.select((pl.col("last_ts").dt.date() + one_day).alias("day"), pl.lit(-1).alias("step")),
            ]
        )
        .drop_nulls()
        .group_by("day")
        .agg(pl.col("step").sum())
        .sort("day")
        .with_columns(active=pl.col("step").cum_sum(), until=pl.col("day").shift(-1) - one_day)
    )
    if changes.is_empty():
        return pl.DataFrame(schema={"day": pl.Date})
    busy = changes.filter(pl.col("active") >= _SPAN_SHARE * changes["active"].max())
    return pl.DataFrame({"day": [busy["day"].min(), busy["until"].max()]}, schema={"day": pl.Date})


def _days(findings: pl.DataFrame, devices: pl.DataFrame) -> pl.DataFrame:
    """Findings per day and cause over every day the terminals logged (and every day a finding fell on)."""
    counts = findings.group_by("day", "cause").agg(pl.len().cast(pl.Int64).alias("findings"))
    seen = pl.concat([_span(devices), findings.select("day")]).drop_nulls()
    if seen.is_empty():
        return pl.DataFrame(schema={"day": pl.Date, "cause": pl.String, "findings": pl.Int64})
    span = pl.DataFrame({"day": pl.date_range(seen["day"].min(), seen["day"].max(), eager=True)})
    causes = counts.select("cause").unique()
    if causes.is_empty():
        return span.with_columns(cause=pl.lit(None, pl.String), findings=pl.lit(0, pl.Int64))
    return (
        span.join(causes, how="cross")
        .join(counts, on=["day", "cause"], how="left", nulls_equal=True)
        .with_columns(pl.col("findings").fill_null(0))
        .sort("day", "cause")
    )


def _inputs(inputs: pl.DataFrame) -> pl.DataFrame:
    outcome = (
        pl.when(pl.col("error").is_not_null())
        .then(pl.lit("failed"))
        .when(pl.col("parsed").fill_null(0) == 0)
        .then(pl.lit("no events"))
        .when(pl.col("unparsed").fill_null(0) > 0)
        .then(pl.lit("partly unparsed"))
        .otherwise(pl.lit("parsed"))
    )
    rank = {name: i for i, name in enumerate(OUTCOMES)}
    return (
        inputs.with_columns(outcome=outcome)
        .group_by("format", "role", "outcome")
        .agg(
            pl.len().cast(pl.Int64).alias("files"),
            pl.col("lines").sum().cast(pl.Int64),
            pl.col("parsed").sum().cast(pl.Int64),
            pl.col("unparsed").sum().cast(pl.Int64),
            pl.col("size").sum().cast(pl.Int64).alias("bytes"),
        )
        .sort(pl.col("format").is_null(), "format", pl.col("outcome").replace_strict(rank, return_dtype=pl.Int8))
    )


def summarize(
    findings: pl.DataFrame | pl.LazyFrame, devices: pl.DataFrame | pl.LazyFrame, inputs: pl.DataFrame | pl.LazyFrame
) -> dict[str, pl.DataFrame]:
    """The fleet summary tables (``TABLES``) of a sweep's ``findings``, ``devices`` and ``inputs`` frames."""
    f, d, i = _eager(findings), _eager(devices), _eager(inputs)
    touched = f.select("group", pl.col("devices").alias("device")).explode("device").drop_nulls().unique()
    kind_cause = (
        f.group_by("kind", "cause", "currency")
        .agg(
            pl.len().cast(pl.Int64).alias("findings"),
            pl.col("devices").explode().drop_nulls().n_unique().cast(pl.Int64).alias("terminals"),
            # a sum over no known amount is unknown, not 0
            pl.when(pl.col("amount").is_not_null().any()).then(pl.col("amount").sum()).alias("amount"),
            pl.col("exponent").drop_nulls().first().alias("exponent"),
            pl.col("amount").is_null().sum().cast(pl.Int64).alias("amount_unknown"),
        )
        .sort(["findings", "kind", "cause", "currency"], descending=[True, False, False, False], nulls_last=True)
    )
    overview = pl.DataFrame(
        {
            "groups": [d["group"].n_unique()],
            "terminals": [d["device"].n_unique()],
            "findings": [f.height],
            "terminals_with_findings": [touched.height],
            "inputs": [i.height],
            "inputs_failed": [i.filter(pl.col("error").is_not_null()).height],
            "terminal_events": [int(d["events"].sum())],
        },
        schema={name: pl.Int64 for name in _OVERVIEW},
    )
    return {
        "overview": overview,
        "kind_cause": kind_cause,
        "day_cause": _days(f, d),
        "app_version": _by_device(f, d, "app_version"),
        "model": _by_device(f, d, "model"),
        "inputs": _inputs(i),
    }


def write_tables(tables: dict[str, pl.DataFrame], folder: str | Path) -> list[Path]:
    """Each table as ``<folder>/<name>.parquet`` (written aside, then renamed); returns the paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        path = out / f"{name}.parquet"
        with written_aside(path) as partial:
            table.write_parquet(partial)
        paths.append(path)
    return paths
