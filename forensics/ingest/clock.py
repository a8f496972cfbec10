"""Timestamps: ``ts_raw`` to UTC, with years for year-less stamps and zones for local ones.

Works on whole columns. A year-less stamp (BSD syslog, logcat) takes its year from the
nearest anchored time: a year-bearing stamp in the same file, else in the other inputs of the
load (jPOS ``at``, settlement capture times, ``-v year`` lines), else ``--year``, else the
file's mtime; the year then rolls over at every Dec -> Jan step that is not a clock reset
(``Months.step``). A stamp without a zone is local time in ``--tz``; without one, UTC is assumed and
the input says so.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from forensics.errors import ClockError
from forensics.events import UTC_US

_MONTHS = {
    m: i
    for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)
}


def _zone_table() -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """The zone abbreviations of ``forensics/data/zones.toml``: (one offset, in minutes east of
    UTC, by abbreviation; the zones each ambiguous abbreviation may name)."""
    table = tomllib.loads(files("forensics").joinpath("data/zones.toml").read_text(encoding="utf-8"))
    return dict(table["offsets"]), {name: tuple(zones) for name, zones in table["ambiguous"].items()}


_ABBREVIATIONS, AMBIGUOUS = _zone_table()
_GROUPS = ("year", "yy", "mon", "day", "H", "M", "S", "frac", "ms", "zone", "zabbr", "epoch")
#: A month step back by more than this between stamps is a new year (Dec -> Jan)...
ROLLOVER_MONTHS = 6
#: ...when the stamps came to November or December from this month or later (or began there).
LATE_FROM = 9


@dataclass(frozen=True)
class Months:
    """Where an input's stamps stand, carried from batch to batch: the month of the last stamp, of the last
    stamp before November (a new year's January and February counted once left), and whether every stamp
    since the last new year lies in January or February."""

    last: int | None = None
    early: int | None = None
    new: bool = False

    def step(self, month: int) -> tuple[int, Months]:
        """(how the year steps at a stamp of ``month`` after these: +1, -1 or 0; where the stamps stand then).

        +1: a step from November or December back to January or February, when the stamps reached November
        or December from September or later (or began there). Other steps back are a clock reset to its
        default date (an RTC that lost power restarts on 01-01), not a year passing: the next time set
        corrects them. So is a jump from earlier in the year into December: an RTC restarting on 01-01 00:00
        UTC writes 31 December in a zone west of UTC, and its first minutes after midnight then step to
        January. -1: a step from January or February forward by more than half a year, while every stamp
        since the new year lies in January or February: a reset in November or December, set right again.
        Both readings take a jump of over half a year for a reset, not for a device silent that long.
        """
        step = 0
        if self.last is not None:
            came_late = self.early is None or self.early >= LATE_FROM
            if self.last - month > ROLLOVER_MONTHS and self.last >= 11 and month <= 2 and came_late:
                step = 1
            elif month - self.last > ROLLOVER_MONTHS and self.last <= 2 and self.new:
                step = -1
        new = step == 1 or (step == 0 and self.new and month <= 2)
        # the months of a new year not yet left are no months before November: a reset's January set right
        # to December must not hide that December came from October
        return step, Months(month, month if month < 11 and not new else self.early, new)


def year_steps(months: pl.Series, before: Months = Months()) -> tuple[pl.Series, Months]:
    """Per stamp (``months``: its month, null where it has none), how the year steps at it (``Months.step``;
    ``before``: where the stamps stood before these), and where the stamps stand after them. Read once per
    run of stamps in one month, so a batch costs a pass over its months and a loop over its few runs."""
    frame = months.to_frame("_month").with_row_index("_i").with_columns(_n=pl.lit(0, pl.Int32))
    steps, after, _ = _input_steps(frame, [before])
    return steps, after[0]


def month_steps(months: pl.Series, before: Months = Months()) -> tuple[int, Months]:
    """(how many years the stamps of ``months`` step in all, where they stand after them): ``year_steps``
    summed."""
    steps, after = year_steps(months, before)
    return int(steps.sum()), after


#: Where a year-less stamp's year came from (``Years.base``), as the input's notes say it.
_YEAR_WHY = {
    "same file": "from the file's own dated stamps",
    "other inputs": "from the dated inputs read with it",
    "--year": "given by --year",
    "file mtime": "assumed from the file's modification time, nothing dated being read with it (give --year if wrong)",
}


@dataclass
class TimeInfo:
    """How one input's times were resolved."""

    tz: str
    tz_assumed: bool
    year_source: str | None
    unreadable: int
    zone_names: tuple[str, ...] = ()  # zone abbreviations the stamps write but no one offset has
    refused: int = 0  # stamps left without a time: their zone name has no one offset and no --tz decides
    year: int | None = None  # the year given to the first year-less stamp

    def notes(self) -> list[str]:
        """What the input's notes say about these times."""
        notes = []
        if self.unreadable:
            notes.append(f"{self.unreadable} timestamps could not be read")
        if self.zone_names:
            named = ", ".join(
                f"{n} ({' or '.join(AMBIGUOUS[n])})" if n in AMBIGUOUS else f"{n} (unknown)" for n in self.zone_names
            )
            if self.refused:
                notes.append(f"zone name {named} has no one offset: {self.refused} times left unset (give --tz)")
            else:
                notes.append(f"zone name {named} has no one offset: read as local time in {self.tz} (--tz)")
        if self.year_source is not None and self.year is not None:
            notes.append(f"year-less stamps: year {self.year} {_YEAR_WHY.get(self.year_source, self.year_source)}")
        if self.tz_assumed:
            notes.append("no time zone in the log: assumed UTC (use --tz)")
        return notes


#: Years a --year may give; a log from outside them is a typo, not a case.
YEARS = (1970, 2100)


def check_year(year: int | None) -> None:
    """Refuse a year no payment log is from (ClockError)."""
    if year is not None and not YEARS[0] <= year <= YEARS[1]:
        raise ClockError(f"year {year} is out of range ({YEARS[0]} to {YEARS[1]})")


def check_zone(name: str) -> str:
    """Validate an IANA zone name or a fixed offset (+08:00); returns it."""
    if _offset_minutes(name) is not None:
        return name
    if _OFFSET.fullmatch(name.strip()):
        raise ClockError(f"time zone offset {name!r} is out of range (-14:00 to +14:00)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ClockError(f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai or +08:00)") from exc
    return name


#: A fixed UTC offset as logs and --tz write it: +08:00 or +0800.
_OFFSET = re.compile(r"[+-][0-9]{2}:?[0-9]{2}")


def _offset_minutes(text: str) -> int | None:
    """Minutes east of UTC of ``Z``, ``UTC`` or a fixed offset; None for anything else, and for
    an offset no zone has (beyond 14 hours, or minutes over 59)."""
    t = text.strip()
    if t in ("Z", "UTC"):
        return 0
    if not _OFFSET.fullmatch(t):
        return None
    hours, minutes = int(t[1:3]), int(t[-2:])
    if minutes > 59 or hours * 60 + minutes > 14 * 60:
        return None
    return (-1 if t[0] == "-" else 1) * (hours * 60 + minutes)


def _components(ts_raw: pl.Expr, patterns: list[str]) -> list[pl.Expr]:
    """One expression per group, coalesced over the format's timestamp shapes."""
    extracted = [ts_raw.str.extract_groups(p) for p in patterns]
    out = []
    for group in _GROUPS:
        have = [e.struct.field(group) for e, p in zip(extracted, patterns, strict=False) if f"(?P<{group}>" in p]
        out.append((pl.coalesce(have) if have else pl.lit(None, pl.String)).alias(f"_{group}"))
    return out


@dataclass
class Years:
    """What one input's stamps say about years (gathered batch by batch when streaming)."""

    first: tuple[int, int] | None = None  # (month, day) of the first year-less stamp
    own: int | None = None  # year of the first stamp that has one
    rollovers: int = 0  # years stepped (Dec -> Jan, less resets set right) between year-less stamps
    months: Months = Months()  # where the year-less stamps stand

    def add(self, parts: pl.DataFrame) -> None:
        """Take in one batch's stamp parts (from ``stamp_parts``)."""
        _add_years(parts.with_columns(_n=pl.lit(0, pl.Int32)), [self])

    def base(self, anchors: list[datetime], year: int | None, mtime: float) -> tuple[int, str]:
        """The year of the first year-less stamp, and where it came from."""
        if self.own is not None:
            return self.own, "same file"
        month, day = self.first or (1, 1)
        if anchors:
            best = min(
                (abs((_safe_date(y, month, day) - a).total_seconds()), y)
                for a in anchors
                for y in (a.year - 1, a.year, a.year + 1)
            )
            return best[1], "other inputs"
        if year is not None:
            return year, "--year"
        when = datetime.fromtimestamp(mtime, tz=UTC)
        return when.year - self.rollovers - (1 if (self.months.last or 0) > when.month else 0), "file mtime"


def stamp_parts(frame: pl.DataFrame, patterns: list[str]) -> pl.DataFrame:
    """Year, month, day, time and zone parts of each ``ts_raw`` (columns ``_yr``, ``_month``, ...)."""
    parts = frame.select(_components(pl.col("ts_raw"), patterns))
    month = (
        pl.when(pl.col("_mon").str.len_chars() == 3)
        .then(pl.col("_mon").replace_strict(_MONTHS, default=None, return_dtype=pl.Int32))
        .otherwise(pl.col("_mon").cast(pl.Int32, strict=False))
    )
    return parts.with_columns(
        _month=month,
        _yr=pl.coalesce(
            pl.col("_year").cast(pl.Int32, strict=False), pl.col("_yy").cast(pl.Int32, strict=False) + 2000
        ),
        _us=pl.coalesce(
            pl.col("_frac").str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64, strict=False),
            pl.col("_ms").cast(pl.Int64, strict=False) * 1000,
            pl.lit(0, pl.Int64),
        ),
    )


def resolve(
    frame: pl.DataFrame,
    patterns: list[str],
    *,
    tz: str | None,
    anchors: list[datetime],
    year: int | None,
    mtime: float,
    base: tuple[int, str] | None = None,
    before: Months = Months(),
    parts: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, TimeInfo]:
    """Fill ``ts`` (UTC) from ``ts_raw`` for one input's events.

    A batch of a longer input passes the input's ``base`` year (``Years.base``, plus the
    rollovers before the batch) and where its stamps stood before the batch (``before``);
    ``parts`` are its ``stamp_parts`` when the caller has them already.
    """
    if frame.is_empty() or not patterns:
        return frame, TimeInfo(tz or "UTC", False, None, 0)
    if parts is None:
        parts = stamp_parts(frame, patterns)
    yearless = parts["_yr"].is_null() & parts["_month"].is_not_null()
    year_source = None
    if yearless.any():
        if base is None:
            years = Years()
            years.add(parts)
            base = years.base(anchors, year, mtime)
        start, year_source = base
        steps, _ = year_steps(parts["_month"], before)
        parts = parts.with_columns(
            _yr=pl.when(pl.col("_yr").is_null() & pl.col("_month").is_not_null())
            .then(pl.lit(start, pl.Int32) + pl.lit(steps.cum_sum()))
            .otherwise(pl.col("_yr"))
        )
    parts = _stamped(parts, tz)
    counts = _counts(parts.with_columns(_n=pl.lit(0, pl.Int32), ts_raw=frame["ts_raw"]), tz).row(0, named=True)
    info = TimeInfo(
        tz or "UTC",
        counts["needs_zone"] and tz is None,
        year_source,
        counts["unreadable"],
        tuple(counts["names"]),
        counts["refused"],
    )
    info.year = base[0] if yearless.any() and base is not None else None
    return frame.with_columns(ts=parts["ts"]), info


@dataclass(frozen=True)
class Stamped:
    """What an input's stamps gave (``resolve_inputs``, or its batches' ``TimeInfo`` added up)."""

    unreadable: int = 0
    refused: int = 0
    tz_assumed: bool = False
    zone_names: tuple[str, ...] = ()

    def plus(self, info: TimeInfo) -> Stamped:
        """These and one more batch's stamps."""
        return Stamped(
            self.unreadable + info.unreadable,
            self.refused + info.refused,
            self.tz_assumed or info.tz_assumed,
            tuple(sorted({*self.zone_names, *info.zone_names})),
        )

    def info(self, zone: str | None, base: tuple[int, str] | None) -> TimeInfo:
        """The input's ``TimeInfo`` (``zone``: its zone, None for UTC; ``base``: its first year-less stamp's year and
        where it came from, ``Years.base``)."""
        return TimeInfo(
            zone or "UTC",
            self.tz_assumed,
            base[1] if base else None,
            self.unreadable,
            zone_names=self.zone_names,
            refused=self.refused,
            year=base[0] if base else None,
        )


def resolve_inputs(
    frame: pl.DataFrame,
    parts: pl.DataFrame,
    tz: str | None,
    bases: Sequence[tuple[int, str] | None],
) -> tuple[pl.DataFrame, list[Stamped]]:
    """``resolve`` of several inputs' rows at once, each input one batch: ``frame`` with ``_n`` (each row's input,
    0 to len(bases) - 1, an input's rows together and in order), ``parts`` its ``stamp_parts`` with ``_n``,
    ``bases`` each input's base year (``Years.base``; None for an input without year-less stamps). Returns
    ``frame`` with ``ts`` and what each input's stamps gave."""
    if frame.is_empty():
        return frame, [Stamped() for _ in bases]
    yearless = pl.col("_yr").is_null() & pl.col("_month").is_not_null()
    starts = {n: base[0] for n, base in enumerate(bases) if base is not None}
    if starts:
        steps, _, _ = _input_steps(parts.select("_n", "_month").with_row_index("_i"), [Months()] * len(bases))
        parts = parts.with_columns(_step=steps)
        start = pl.col("_n").replace_strict(starts, default=None, return_dtype=pl.Int32)
        parts = parts.with_columns(
            _yr=pl.when(yearless).then(start + pl.col("_step").cum_sum().over("_n")).otherwise(pl.col("_yr"))
        )
    parts = _stamped(parts, tz)
    counts = _counts(parts.with_columns(ts_raw=frame["ts_raw"]), tz)
    stamped = [Stamped() for _ in bases]
    for row in counts.iter_rows(named=True):
        stamped[row["_n"]] = Stamped(
            row["unreadable"], row["refused"], row["needs_zone"] and tz is None, tuple(row["names"])
        )
    return frame.with_columns(ts=parts["ts"]), stamped


def input_years(parts: pl.DataFrame, n: int) -> list[Years]:
    """Each input's ``Years`` (``parts``: ``stamp_parts`` with ``_n``, as for ``resolve_inputs``), as ``Years.add``
    of its parts alone gives."""
    years = [Years() for _ in range(n)]
    _add_years(parts, years)
    return years


def _add_years(parts: pl.DataFrame, years: list[Years]) -> None:
    """Take each input's stamp parts (``parts`` with ``_n``: the input of each row, in order) into ``years[_n]``."""
    for k, yr in parts.filter(pl.col("_yr").is_not_null()).group_by("_n").agg(pl.col("_yr").first()).iter_rows():
        years[k].own = years[k].own if years[k].own is not None else int(yr)
    yearless = parts.filter(pl.col("_yr").is_null() & pl.col("_month").is_not_null())
    for k, month, day in yearless.group_by("_n").agg(pl.col("_month").first(), pl.col("_day").first()).iter_rows():
        years[k].first = years[k].first or (int(month), int(day))
    _, after, rolled = _input_steps(yearless.select("_n", "_month").with_row_index("_i"), [y.months for y in years])
    for y, months, steps in zip(years, after, rolled, strict=True):
        y.months, y.rollovers = months, y.rollovers + steps


def _input_steps(months: pl.DataFrame, before: list[Months]) -> tuple[pl.Series, list[Months], list[int]]:
    """Per row of ``months`` (``_i``, ``_n``, ``_month``: each input's rows in order), how the year steps at it,
    each input's stamps from where ``before[_n]`` says they stood; where each input's stamps stand after them,
    and how many years they stepped in all. Read once per run of stamps in one month."""
    runs = months.drop_nulls("_month").filter(pl.col("_month").ne_missing(pl.col("_month").shift(1).over("_n")))
    at, rolled, steps = list(before), [0] * len(before), []
    for k, month in runs.select("_n", "_month").iter_rows():
        step, at[k] = at[k].step(int(month))
        rolled[k] += step
        steps.append(step)
    out = pl.zeros(months.height, pl.Int32, eager=True)
    return (out.scatter(runs["_i"], pl.Series(steps, dtype=pl.Int32)) if runs.height else out), at, rolled


def _stamped(parts: pl.DataFrame, tz: str | None) -> pl.DataFrame:
    """``parts`` (stamp parts, years filled) with ``ts`` (UTC), ``_naive`` and ``_offset``."""
    text = pl.format(
        "{}-{}-{} {}:{}:{}.{}",
        pl.col("_yr").cast(pl.String).str.pad_start(4, "0"),
        pl.col("_month").cast(pl.String).str.pad_start(2, "0"),
        pl.col("_day").str.pad_start(2, "0"),
        pl.col("_H"),
        pl.col("_M"),
        pl.col("_S").fill_null("00"),  # LocalDateTime leaves out zero seconds
        pl.col("_us").cast(pl.String).str.pad_start(6, "0"),
    )
    naive = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)
    offset = pl.coalesce(
        pl.col("_zone").map_elements(_offset_minutes, return_dtype=pl.Int32, skip_nulls=True),
        pl.col("_zabbr").replace_strict(_ABBREVIATIONS, default=None, return_dtype=pl.Int32),
    )
    parts = parts.with_columns(_naive=naive, _offset=offset)
    zone = tz or "UTC"
    fixed = _offset_minutes(zone)
    if fixed is not None:
        local = (pl.col("_naive") - pl.duration(minutes=fixed)).dt.replace_time_zone("UTC")
    else:
        local = pl.col("_naive").dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    # a zone the line writes but no zone has is not a time to guess; a zone name of several
    # offsets (CST) or none known is local time only when --tz says which zone the log is from
    local_ok = pl.col("_zone").is_null() & (pl.col("_zabbr").is_null() | pl.lit(tz is not None))
    ts = (
        pl.when(pl.col("_offset").is_not_null())
        .then((pl.col("_naive") - pl.duration(minutes=pl.col("_offset"))).dt.replace_time_zone("UTC"))
        .when(local_ok)
        .then(local.dt.convert_time_zone("UTC"))
        .cast(UTC_US)
    )
    epoch = pl.col("_epoch")  # seconds since 1970 (logcat -v epoch): the time itself
    since = epoch.str.extract(r"^(\d+)", 1).cast(pl.Int64, strict=False) * 1_000_000 + epoch.str.extract(
        r"\.(\d+)$", 1
    ).str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64, strict=False)
    return parts.with_columns(ts=pl.when(epoch.is_not_null()).then(since.cast(UTC_US)).otherwise(ts))


def _counts(parts: pl.DataFrame, tz: str | None) -> pl.DataFrame:
    """Per input (``_n``) of stamped ``parts`` (with ``ts_raw``): ``needs_zone`` (a local stamp without any zone
    name), ``names`` (zone names of local stamps that no one offset has, sorted), ``refused`` (stamps left
    without a time for such a name: all of them unless ``tz`` is given) and ``unreadable`` (other stamps
    without a time)."""
    local_only = pl.col("_offset").is_null() & pl.col("_zone").is_null() & pl.col("_naive").is_not_null()
    named = local_only & pl.col("_zabbr").is_not_null()
    refused = named.sum() if tz is None else pl.lit(0, pl.UInt32)
    return parts.group_by("_n", maintain_order=True).agg(
        needs_zone=(local_only & pl.col("_zabbr").is_null()).any(),
        names=pl.col("_zabbr").filter(named).unique().sort(),
        refused=refused.cast(pl.Int64),
        unreadable=(pl.col("ts").is_null() & pl.col("ts_raw").is_not_null()).sum().cast(pl.Int64)
        - refused.cast(pl.Int64),
    )


def _safe_date(y: int, month: int, day: int) -> datetime:
    try:
        return datetime(y, month, day, tzinfo=UTC)
    except ValueError:
        return datetime(y, month, 28, tzinfo=UTC)
