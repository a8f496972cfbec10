"""Finishing: what an input's rows get once all of it (and of the other inputs) has been read:
times (years for year-less stamps, anchored once here for both ``load`` and ``write_parquet``),
device names, card ids, and the input's row of the inputs table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from forensics.ingest import clock
from forensics.ingest.cards import CardGuard, mask_name
from forensics.ingest.formats import Format
from forensics.ingest.read import Reader


@dataclass
class Serials:
    """TMS serials seen in an input: the first per host (of formats that name devices by host)
    and the first overall."""

    by_host: dict[str | None, str] = field(default_factory=dict)
    first: str | None = None

    def add(self, events: pl.DataFrame) -> None:
        """Note the serials of ``events``, in order."""
        for host, serial in _serials(events).select("host", "serial").iter_rows():
            self.note(host, serial)

    def note(self, host: str | None, serial: str) -> None:
        """Note one serial, seen on ``host``."""
        self.by_host.setdefault(host, serial)
        self.first = self.first or serial


def _serials(events: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``events`` that give a TMS serial."""
    return events.filter(pl.col("kind") == "tms.device", pl.col("serial").is_not_null())


@dataclass
class Times:
    """What one input's stamps say, batch by batch in the first pass (``take``); the year each
    batch starts in once every input is read (``starts``)."""

    fmt: Format | None
    zone: str | None
    year: int | None
    mtime: float
    months: list[tuple[clock.Months, int]] = field(default_factory=list)  # per batch: where it starts, new years
    at: clock.Months = clock.Months()  # where the stamps stand after the batches taken
    years: clock.Years = field(default_factory=clock.Years)
    anchors: list[datetime] = field(default_factory=list)  # first and last time, if every stamp has a year
    resolved: dict[int, clock.TimeInfo] = field(default_factory=dict)  # batch -> times already final
    parts: dict[int, pl.DataFrame] = field(default_factory=dict)  # batch -> its stamp parts, while kept for resolve

    def take(self, events: pl.DataFrame) -> pl.DataFrame:
        """Note one batch's stamps; its times are resolved now when every stamp has its year."""
        before, steps = self.at, 0
        if self.fmt is not None and self.fmt.time and events.height:
            parts = clock.stamp_parts(events, self.fmt.time)
            self.years.add(parts)
            steps, self.at = clock.month_steps(parts["_month"], before)
            if not (parts["_yr"].is_null() & parts["_month"].is_not_null()).any():
                events, info = clock.resolve(
                    events, self.fmt.time, tz=self.zone, anchors=[], year=self.year, mtime=self.mtime, parts=parts
                )
                self.resolved[len(self.months)] = info
                ts = events["ts"].drop_nulls()
                if self.years.first is None and ts.len():
                    self.anchors = [min([*self.anchors, ts.min()]), max([*self.anchors, ts.max()])]
            else:
                self.parts[len(self.months)] = parts
        self.months.append((before, steps))
        return events

    def forget(self, k: int) -> None:
        """Let batch ``k``'s stamp parts go (``resolve`` reads them again from its events)."""
        self.parts.pop(k, None)

    @property
    def dated(self) -> bool:
        """True when every stamp of the input has its year (its times anchor the other inputs)."""
        return self.years.first is None

    def base(self, anchors: list[datetime]) -> tuple[int, str] | None:
        """The year of the first year-less stamp and where it came from (None: there is none)."""
        return self.years.base(anchors, self.year, self.mtime) if not self.dated else None

    def resolve(
        self, k: int, events: pl.DataFrame, starts: list[tuple[tuple[int, str] | None, clock.Months]]
    ) -> tuple[pl.DataFrame, clock.TimeInfo | None]:
        """Batch ``k``'s times (``starts``: from ``starts``); the TimeInfo of a batch that has stamps."""
        info = self.resolved.get(k)
        if self.fmt is None or info is not None:
            return events, info
        start, before = starts[k]
        return clock.resolve(
            events,
            self.fmt.time,
            tz=self.zone,
            anchors=[],
            year=self.year,
            mtime=self.mtime,
            base=start,
            before=before,
            parts=self.parts.pop(k, None),
        )

    def starts(self, base: tuple[int, str] | None) -> list[tuple[tuple[int, str] | None, clock.Months]]:
        """Each batch's start year (the base plus the new years before it) and where its stamps stood before it."""
        starts, rolled = [], 0
        for before, drops in self.months:
            starts.append(((base[0] + rolled, base[1]) if base else None, before))
            rolled += drops
        return starts


def anchors_for(n: int, times: Sequence[Times]) -> list[datetime]:
    """The anchors input ``n``'s year-less stamps take from the other inputs: the first and last
    time of each input whose stamps all have their year."""
    return [a for j, other in enumerate(times) if j != n and other.dated for a in other.anchors]


def device(events: pl.DataFrame, fmt: Format | None, path: str, name: str | None, serials: Serials) -> pl.DataFrame:
    """device: TMS serial (per host, where the format names devices by host), else the host,
    else --device (``name``), else the file stem."""
    one = events.with_columns(_n=pl.lit(0, pl.Int32))
    return _devices(one, fmt, [mask_name(name) if name else _stem(path)], [serials]).drop("_n")


def _stem(path: str) -> str:
    """The name a device takes from its log's file name (``path`` as recorded: card numbers masked already)."""
    return Path(path).name.split(".")[0]


def _devices(events: pl.DataFrame, fmt: Format | None, fallbacks: list[str], serials: list[Serials]) -> pl.DataFrame:
    """``device`` of the rows of several inputs (``_n``: each row's input): its TMS serial (per host, where the format
    names devices by host), else the host, else ``fallbacks[_n]``."""
    fallback = pl.col("_n").replace_strict(dict(enumerate(fallbacks)), return_dtype=pl.String)
    if fmt is not None and fmt.device_from_host:
        mapping = pl.DataFrame(
            [(k, h, v) for k, s in enumerate(serials) for h, v in s.by_host.items() if h is not None],
            schema={"_n": pl.Int32, "host": pl.String, "_serial": pl.String},
            orient="row",
        )
        joined = events.join(mapping, on=["_n", "host"], how="left", maintain_order="left")
        return joined.with_columns(device=pl.coalesce("_serial", "host", fallback)).drop("_serial")
    first = {k: s.first for k, s in enumerate(serials) if s.first}
    return events.with_columns(
        device=pl.coalesce(pl.col("_n").replace_strict(first, default=None, return_dtype=pl.String), fallback)
    )


@dataclass
class Together:
    """Several inputs of one format and zone, each read whole as one batch, finished at once: their rows in one
    frame with ``_n`` (each row's input, an input's rows together and in order)."""

    events: pl.DataFrame
    times: list[Times]
    paths: list[str]  # as recorded (card numbers masked)
    anchors: list[list[datetime]]  # each input's times of other inputs (``write_parquet``'s ``anchors``)
    serials: list[Serials] = field(init=False)
    bases: list[tuple[int, str] | None] = field(init=False)

    def __post_init__(self) -> None:
        self.serials = [Serials() for _ in self.paths]
        for k, host, serial in _serials(self.events).select("_n", "host", "serial").iter_rows():
            self.serials[k].note(host, serial)
        self.bases = [None] * len(self.paths)

    def resolve(self) -> list[clock.Stamped]:
        """Every row's time, as ``Times.take`` then ``Times.resolve`` give each input's (``bases``: each input's
        base year)."""
        fmt, zone = self.times[0].fmt, self.times[0].zone
        if fmt is None or not fmt.time or self.events.is_empty():
            return [clock.Stamped() for _ in self.paths]
        parts = clock.stamp_parts(self.events, fmt.time).with_columns(_n=self.events["_n"])
        years = clock.input_years(parts, len(self.paths))
        self.bases = [
            replace(times, years=mine).base(anchors)
            for times, mine, anchors in zip(self.times, years, self.anchors, strict=True)
        ]
        self.events, stamped = clock.resolve_inputs(self.events, parts, zone, self.bases)
        return stamped

    def devices(self) -> None:
        """Every row's ``device``, as ``device`` gives each input's (no --device)."""
        self.events = _devices(self.events, self.times[0].fmt, [_stem(p) for p in self.paths], self.serials)


def card_ids(events: pl.DataFrame, guard: CardGuard) -> pl.DataFrame:
    """``card_id``: each masked card's keyed id."""
    cards = events["card"].drop_nulls().unique()
    ids = {card: guard.card_id(card) for card in cards.to_list()}
    return events.with_columns(card_id=pl.col("card").replace_strict(ids, default=None, return_dtype=pl.String))


def zone_for(tz: str | dict[str, str] | None, path: str) -> str | None:
    """The zone of ``path``'s local times: ``tz``, or its entry for the path, its name or "*"."""
    return setting_for(tz, path)


def setting_for(setting: str | dict[str, str] | None, path: str) -> str | None:
    """A per-input setting of ``path`` (a zone, a format name): one for all, or its entry for the
    path, its file name or "*"."""
    if isinstance(setting, dict):  # ``path`` is as recorded (card numbers masked): so are the keys
        values = {mask_name(k): v for k, v in setting.items()}
        return values.get(path) or values.get(Path(path).name) or values.get("*")
    return setting


def input_row(
    reader: Reader, fmt: Format | None, info: clock.TimeInfo, covered: int, uncovered: int, devices: list[str]
) -> dict[str, Any]:
    """One input's row of the inputs table."""
    notes = list(reader.notes) + info.notes()
    return {
        "path": reader.path,
        "sha256": reader.sha256,
        "bytes": reader.size,
        "lines": reader.lines,
        "parsed": covered,
        "unparsed": uncovered,
        "format": fmt.name if fmt else None,
        "role": fmt.role if fmt else None,
        "device": ",".join(devices) if devices else None,
        "tz": info.tz,
        "tz_assumed": info.tz_assumed,
        "year_source": info.year_source,
        "notes": "; ".join(notes) if notes else None,
    }
