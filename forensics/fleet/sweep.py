"""``forensics sweep``: a fleet's logs, parsed, grouped and diagnosed on a Dask cluster into one folder.

Stages, each a set of Dask tasks the client waits for:

1. parse: each input (any compression the readers take; its role found from its content) into
   ``OUTDIR/work/<key>.parquet`` by ``forensics.ingest.write_many`` (streamed: memory bounded by the
   batch; small inputs several to a task, their lines through the fast path together), with
   ``<key>.json`` (its inputs row, its links of devices, TIDs and MIDs, its time anchors) written
   last. ``<key>`` hashes the input's path, SHA-256 and the options: a second sweep on the same OUTDIR
   finds the ``.json`` and parses nothing again. An input that fails is recorded with its error.
2. group: the client joins the links into connected groups (``forensics.analysis.groups``). A log whose
   stamps have no year takes its year from the dated logs of its own groups (as ``load`` takes it from
   the other inputs of one case); when that year differs from the one it was read with, it is parsed
   again with those anchors.
3. route: each input's rows go to ``OUTDIR/events/group=<gid>/part-*.parquet`` (hive partitions).
4. diagnose: each group's timeline is built and diagnosed (``timeline.build`` told whether the fleet
   has a host log and a clearing file), giving findings ``<gid>/F1``... and the group's devices (their
   model from their identity lines: ``forensics.fleet.summary.device_models``).
5. summarize: the fleet summary tables and charts (``forensics.fleet.summary``, ``forensics.report.fleet``)
   into ``OUTDIR/summary/``.

Every file is written beside its name and renamed when complete, and tasks are deterministic, so a task
run again after its worker died writes the same files; the events folder of a run is assembled aside
and swapped in at the end. ``OUTDIR/run.json`` says where it ran, how long and how much memory it took.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from forensics.analysis import given
from forensics.analysis.groups import UNATTACHED, connect, identifiers, labels, members, one_site, site_mids
from forensics.coverage import plural
from forensics.diagnosis import Diagnosis
from forensics.errors import ForensicsError
from forensics.events import EVENTS_SCHEMA
from forensics.fleet.summary import device_models, summarize, write_tables
from forensics.ingest.cards import mask_name
from forensics.ingest.dialect import dialect_sources
from forensics.outputs import written_aside
from forensics.timeline import Timeline

#: Rows of one input routed to the groups at once (a huge host log is routed in pieces). Routing the
#: 3.6M-block host log of a 2,116-terminal fleet to its 650 groups peaked at 1,008 MiB with 200k rows
#: (11k part files) and 2,051 MiB with 500k. (Read in PyArrow record batches, reading alone kept 1.7 GiB.)
_ROUTE_ROWS = 200_000
#: Slices whose rows are held and written to their groups together: that host log in 3,900 part files
#: instead of 11,700, 30 s instead of 68 s (one thread), peak 1.3 GiB.
_ROUTE_SLICES_HELD = 3
_GLOB = set("*?[")

INPUTS_SCHEMA = pl.Schema(
    {
        "path": pl.String,
        "sha256": pl.String,
        "size": pl.Int64,
        "format": pl.String,
        "role": pl.String,
        "lines": pl.Int64,
        "parsed": pl.Int64,
        "unparsed": pl.Int64,
        "error": pl.String,
        "seconds": pl.Float64,
        "groups": pl.List(pl.String),
    }
)
FINDINGS_SCHEMA = pl.Schema(
    {
        "group": pl.String,
        "id": pl.String,
        "kind": pl.String,
        "cause": pl.String,
        "confidence": pl.Float64,
        "amount": pl.Int64,
        "exponent": pl.Int8,
        "currency": pl.String,
        "first_ts": pl.Datetime("us", "UTC"),
        "day": pl.Date,
        "devices": pl.List(pl.String),
        "tids": pl.List(pl.String),
        "mids": pl.List(pl.String),
        "summary": pl.String,
        "finding": pl.String,
    }
)
DEVICES_SCHEMA = pl.Schema(
    {
        "group": pl.String,
        "device": pl.String,
        "serial": pl.String,
        "tid": pl.String,
        "mid": pl.String,
        "app_version": pl.String,
        "model": pl.String,
        "events": pl.Int64,
        "first_ts": pl.Datetime("us", "UTC"),
        "last_ts": pl.Datetime("us", "UTC"),
    }
)


class SweepError(ForensicsError):
    """A sweep that cannot start: no input found, an output folder that cannot be used."""


@dataclass(frozen=True)
class Options:
    """How inputs are read (as ``forensics.load``'s options); part of each input's key."""

    tz: str | dict[str, str] | None = None
    year: int | None = None
    #: the dialect files as (file name, text), the installed ones first: sent to the workers with each
    #: task, so a worker on another machine needs no copy of a vendor's file
    dialects: tuple[tuple[str, str], ...] | None = None

    def token(self) -> str:
        return json.dumps({"tz": self.tz, "year": self.year, "dialects": self.dialects}, sort_keys=True)


@dataclass
class Sweep:
    """What ``sweep`` returns: the frames it wrote into ``outdir`` and the run's figures."""

    outdir: Path
    inputs: pl.DataFrame
    groups: pl.DataFrame
    findings: pl.DataFrame
    devices: pl.DataFrame
    run: dict[str, Any]


# -- inputs -------------------------------------------------------------------------------


def discover(paths: Sequence[str | Path]) -> list[Path]:
    """The files under ``paths`` (files, folders walked to any depth, glob patterns), absolute, sorted,
    each once; hidden files and folders (``.name``) inside a folder are left out. SweepError when a path
    matches nothing."""
    found: set[Path] = set()
    for given_path in paths:
        text = str(given_path)
        matches = [Path(m) for m in glob.glob(text, recursive=True)] if _GLOB & set(text) else [Path(text)]
        if not matches or not all(m.exists() for m in matches):
            raise SweepError(f"{text}: no such file or folder")
        for match in matches:
            if match.is_dir():
                for root, dirs, files in os.walk(match):
                    dirs[:] = [d for d in dirs if not d.startswith(".")]
                    found.update(Path(root, f).absolute() for f in files if not f.startswith("."))
            else:
                found.add(match.absolute())
    if not found:
        raise SweepError("no input file found in " + ", ".join(map(str, paths)))
    return sorted(found)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while piece := handle.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def _key(path: Path, sha: str, options: Options, anchors: Sequence[str]) -> str:
    text = "\0".join([str(path), sha, options.token(), *anchors])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# -- stage 1: parse (a task) -------------------------------------------------------------

#: Inputs of at least this many bytes are parsed alone, one to a task; smaller ones share tasks
#: (``parse_inputs``) and go through the fast path together (``forensics.ingest.write_many``).
_SMALL_BYTES = 8 << 20
#: Bytes of small inputs in one parse task at most (fewer for a small fleet: each worker gets four tasks).
_TASK_BYTES = 32 << 20


def plan(jobs: Sequence[tuple[str, Sequence[str]]], workers: int) -> list[list[tuple[str, Sequence[str]]]]:
    """The parse tasks of ``jobs`` ((path, anchors) in order): consecutive small inputs together, up to
    ``_TASK_BYTES`` (or the small inputs' bytes over four tasks per worker, when less), each big one alone."""
    sizes = [_size(path) for path, _ in jobs]
    small = sum(s for s in sizes if s < _SMALL_BYTES)
    budget = max(1, min(_TASK_BYTES, small // (4 * max(1, workers))))
    tasks: list[list[tuple[str, Sequence[str]]]] = []
    current: list[tuple[str, Sequence[str]]] = []
    held = 0
    for job, size in zip(jobs, sizes, strict=True):
        if size >= _SMALL_BYTES:
            tasks += [current, [job]] if current else [[job]]
            current, held = [], 0
            continue
        if current and held + size > budget:
            tasks.append(current)
            current, held = [], 0
        current.append(job)
        held += size
    return tasks + [current] if current else tasks


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def parse_inputs(
    jobs: Sequence[tuple[str, Sequence[str]]], work: str, options: Options, card_key: bytes
) -> list[dict[str, Any]]:
    """Parse each (path, anchors) of ``jobs`` into ``work/<key>.parquet`` (once: a later call finds its
    ``<key>.json``), the inputs not yet parsed as one stream (``forensics.ingest.write_many``).

    Returns their records, in order: the inputs row, ``key``, ``links`` (device, tid, mid rows),
    ``site_mids``, ``dated`` (every stamp has its year), ``span`` (first and last time, ISO),
    ``first_stamp`` (month, day and the year it was read in, of its first year-less stamp), ``given``
    (it holds a host request, a cleared item), ``parsed_now`` (False when found done). An input's
    ``seconds`` is its share of the stream's time plus its own record's.
    """
    from forensics.ingest import write_many
    from forensics.ingest.formats import registry_for

    started = time.perf_counter()
    records: list[dict[str, Any] | None] = [None] * len(jobs)
    todo: list[tuple[int, str, str, Path]] = []  # (place, sha, key, events file)
    for n, (path, anchors) in enumerate(jobs):
        source = Path(path)
        try:
            sha = _sha256(source)
        except OSError as exc:
            records[n] = _failed(path, None, 0, f"cannot read: {exc.strerror or exc}", started)
            continue
        key = _key(source, sha, options, anchors)
        done = Path(work) / f"{key}.json"
        if done.exists():
            records[n] = {**json.loads(done.read_text()), "source": path, "parsed_now": False}
        else:
            todo.append((n, sha, key, Path(work) / f"{key}.parquet"))
    loaded = write_many(
        [
            (Path(jobs[n][0]), events_file, [datetime.fromisoformat(a) for a in jobs[n][1]])
            for n, _, _, events_file in todo
        ],
        tz=options.tz,
        year=options.year,
        card_key=card_key,
        dialects=registry_for(options.dialects).dialects,
    )
    share = (time.perf_counter() - started) / len(todo) if todo else 0.0
    for (n, sha, key, events_file), result in zip(todo, loaded, strict=True):
        path, anchors = jobs[n]
        mine = time.perf_counter() - share
        if isinstance(result, Exception):
            size = Path(path).stat().st_size if Path(path).exists() else 0
            records[n] = _failed(path, sha, size, str(result), mine)
        else:
            records[n] = _record(path, sha, key, events_file, result.inputs.row(0, named=True), anchors, mine, work)
    return [r for r in records if r is not None]


def _record(
    path: str,
    sha: str,
    key: str,
    events_file: Path,
    row: dict[str, Any],
    anchors: Sequence[str],
    started: float,
    work: str,
) -> dict[str, Any]:
    """The record of an input parsed into ``events_file`` (``row``: its inputs row), kept as ``<key>.json``."""
    from forensics.ingest.clock import stamp_parts
    from forensics.ingest.formats import registry

    events = pl.scan_parquet(events_file)
    if row["parsed"] <= _READ_ONCE:  # a small input: its file read once for the five questions below, not five times
        events = events.select(_RECORD_COLUMNS).collect().lazy()
    links = identifiers(events)
    mids = site_mids(events)
    times = events.select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")).collect()
    first_stamp = None
    if row["year_source"] in ("file mtime", "--year") and row["format"]:
        raw = events.filter(pl.col("ts_raw").is_not_null()).select("ts_raw", "ts").head(2000).collect()
        parts = pl.concat([stamp_parts(raw, registry().formats[row["format"]].time), raw], how="horizontal")
        yearless = parts.filter(pl.col("_yr").is_null() & pl.col("_month").is_not_null())
        if yearless.height:  # its month and day, and the year it was read in
            read = yearless["ts"][0]
            first_stamp = [int(yearless["_month"][0]), int(yearless["_day"][0]), read.year if read else None]
    record = {
        "key": key,
        "source": path,
        "row": {
            "path": mask_name(path),
            "sha256": sha,
            "size": row["bytes"],
            "format": row["format"],
            "role": row["role"],
            "lines": row["lines"],
            "parsed": row["parsed"],
            "unparsed": row["unparsed"],
            "error": None,
            "seconds": round(time.perf_counter() - started, 3),
        },
        "links": links.rows(),
        "site_mids": mids.rows(),
        "dated": row["year_source"] is None,
        "year_source": row["year_source"],
        "span": [t.isoformat() if t else None for t in times.row(0)],
        "given": list(given(events)),  # a host request, a cleared item: what every group must know of the fleet
        "first_stamp": first_stamp,
        "anchors": list(anchors),
    }
    with written_aside(Path(work) / f"{key}.json") as partial:
        partial.write_text(json.dumps(record))
    return {**record, "parsed_now": True}


#: The columns of an input's events its record reads (``_record``).
_RECORD_COLUMNS = ("role", "device", "tid", "mid", "kind", "mti", "ts", "ts_raw")
#: Inputs of at most this many events are read once into memory for their record; bigger ones are scanned.
_READ_ONCE = 200_000


def _failed(path: str, sha: str | None, size: int, error: str, started: float) -> dict[str, Any]:
    """The record of an input that could not be parsed (not kept: a later sweep tries it again)."""
    row = {
        "path": mask_name(path),
        "sha256": sha,
        "size": size,
        "format": None,
        "role": None,
        "lines": 0,
        "parsed": 0,
        "unparsed": 0,
        "error": mask_name(error),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return {
        "key": None,
        "source": path,
        "row": row,
        "links": [],
        "dated": False,
        "span": [None, None],
        "parsed_now": True,
    }


# -- stage 2: years of year-less logs (client) --------------------------------------------


def year_anchors(records: list[dict[str, Any]], groups: pl.DataFrame) -> dict[int, list[str]]:
    """Per year-less input (by its place in ``records``), the anchors it takes from the dated inputs of its
    groups, when they give its first stamp another year than it was read with (the others need no second parse)."""
    from forensics.ingest.clock import Years

    lookup = {(k, v): g for k, v, g in groups.select("key", "value", "group").iter_rows()}
    member = [_groups_of(r, lookup) for r in records]
    spans: dict[str, set[str]] = {}  # per group, the first and last times of its dated inputs
    for r, mine in zip(records, member, strict=True):
        if r["dated"] and r["key"]:
            for gid in mine:
                spans.setdefault(gid, set()).update(a for a in r["span"] if a)
    again: dict[int, list[str]] = {}
    for n, (r, mine) in enumerate(zip(records, member, strict=True)):
        if r["key"] is None or r.get("first_stamp") is None:
            continue
        anchors = sorted(set().union(*(spans.get(gid, set()) for gid in mine)))
        if not anchors or anchors == r["anchors"]:
            continue
        month, day, read = r["first_stamp"]
        wanted, _ = Years(first=(month, day)).base([datetime.fromisoformat(a) for a in anchors], None, 0.0)
        if read != wanted:
            again[n] = anchors
    return again


def _groups_of(record: dict[str, Any], lookup: dict[tuple[str, str], str]) -> set[str]:
    """The groups an input's rows go to (from its links; ``lookup``: (key, value) -> group)."""
    return {
        lookup[(key, value)]
        for link in record["links"]
        for key, value in zip(("device", "tid", "mid"), link, strict=True)
        if value is not None and (key, value) in lookup
    }


# -- stage 3: route (a task) ---------------------------------------------------------------


def route_input(key: str, order: int, work: str, events_dir: str, groups: pl.DataFrame) -> dict[str, int]:
    """Write one parsed input's rows into ``events_dir/group=<gid>/part-<order>-<k>.parquet``; rows per group."""
    counts: dict[str, int] = {}
    source = Path(work) / f"{key}.parquet"
    # every row's group read over the whole input (a row naming nothing goes with the next named row of its
    # file, which may be in the next slice), 8 bytes a row; then the rows a slice at a time
    group = labels(pl.scan_parquet(source), groups)
    if group.len() and group.n_unique() == 1:  # one group (most terminals' logs): the parsed file is its part
        gid = str(group[0])
        with written_aside(_part(events_dir, gid, order, 0)) as partial:
            try:
                os.link(source, partial)  # the work folder keeps the file for the next sweep; it is never rewritten
            except OSError:  # another file system, or no links
                shutil.copyfile(source, partial)
        return {gid: group.len()}
    # each group's rows of a few slices written together: a file costs about the same for 300 rows as for 3,000
    held: dict[str, list[pl.DataFrame]] = {}
    for k, start in enumerate(range(0, group.len(), _ROUTE_ROWS)):
        frame = pl.scan_parquet(source).slice(start, _ROUTE_ROWS).collect()
        frame = frame.with_columns(group.slice(start, frame.height))
        for (gid,), part in frame.partition_by("group", as_dict=True, maintain_order=True).items():
            held.setdefault(str(gid), []).append(part.drop("group"))
            counts[str(gid)] = counts.get(str(gid), 0) + part.height
        del frame
        if (k + 1) % _ROUTE_SLICES_HELD == 0 or start + _ROUTE_ROWS >= group.len():
            for gid, parts in held.items():
                with written_aside(_part(events_dir, gid, order, k // _ROUTE_SLICES_HELD)) as partial:
                    pl.concat(parts).write_parquet(partial)
            held.clear()
    return counts


def _part(events_dir: str, gid: str, order: int, k: int) -> Path:
    """The ``k``-th part file of input number ``order`` in group ``gid``'s folder (made if need be)."""
    folder = Path(events_dir) / f"group={gid}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"part-{order:06d}-{k:05d}.parquet"


# -- stage 4: diagnose a group (a task) ---------------------------------------------------


def diagnose_group(gid: str, events_dir: str, flags: tuple[bool, bool]) -> tuple[pl.DataFrame, pl.DataFrame, list]:
    """One group's findings (frame ``findings`` and their JSON objects) and devices."""
    from forensics.diagnosis import diagnose_timeline
    from forensics.ingest import Loaded
    from forensics.timeline import build

    files = sorted((Path(events_dir) / f"group={gid}").glob("part-*.parquet"))
    events = pl.read_parquet(files, hive_partitioning=False) if files else pl.DataFrame(schema=EVENTS_SCHEMA)
    empty = pl.DataFrame()
    inputs = pl.DataFrame({"path": [], "format": [], "tz": [], "tz_assumed": [], "notes": []})
    tl = build(Loaded(events.select(EVENTS_SCHEMA.names()), empty, empty, inputs), flags)
    result = diagnose_timeline(tl)
    return group_frames(gid, events, tl, result)


def group_frames(
    gid: str, events: pl.DataFrame, tl: Timeline, result: Diagnosis
) -> tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]]:
    """A group's rows of the sweep's ``findings`` and ``devices`` frames, and its findings' JSON objects, from
    its events, timeline and diagnosis."""
    mids = dict(zip(tl.devices["device"].to_list(), tl.devices["mid"].to_list(), strict=True))
    rows, objects = [], []
    for f in result.findings:
        fid = f"{gid}/{f.id}"
        obj = {**f.to_dict(), "id": fid, "group": gid}
        objects.append(obj)
        rows.append(
            {
                "group": gid,
                "id": fid,
                "kind": f.kind,
                "cause": f.cause,
                "confidence": f.confidence,
                "amount": f.amount_minor,
                "exponent": f.exponent,
                "currency": f.currency,
                "first_ts": f.first_ts,
                "day": f.first_ts.date() if f.first_ts else None,
                "devices": f.devices,
                "tids": sorted({t.tid for t in f.transactions if t.tid}),
                "mids": sorted({mids[d] for d in f.devices if mids.get(d)}),
                "summary": f.summary,
                "finding": json.dumps(obj, ensure_ascii=False),
            }
        )
    serials = (
        events.filter(pl.col("role") == "terminal", pl.col("serial").is_not_null())
        .group_by("device")
        .agg(pl.col("serial").first())
    )
    devices = (
        tl.devices.join(serials, on="device", how="left")
        .join(device_models(events), on="device", how="left")
        .select(
            pl.lit(gid).alias("group"),
            "device",
            "serial",
            "tid",
            "mid",
            "app_version",
            "model",
            pl.col("events").cast(pl.Int64),
            pl.col("first_seen").alias("first_ts"),
            pl.col("last_seen").alias("last_ts"),
        )
        .cast(dict(DEVICES_SCHEMA))
    )
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA), devices, objects


# -- the sweep ------------------------------------------------------------------------------


def sweep(
    paths: Sequence[str | Path],
    outdir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    tz: str | dict[str, str] | None = None,
    year: int | None = None,
    card_key: bytes | str | None = None,
    dialects: Sequence[str | Path] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Sweep:
    """Parse, group and diagnose every log under ``paths`` into ``outdir`` (see the module docstring).

    Runs on the Dask scheduler at ``scheduler`` (else $DASK_SCHEDULER_ADDRESS), else on a local cluster
    of ``workers`` processes (default: the cores). ``card_key`` keys card ids (else $FORENSICS_CARD_KEY,
    else a random key kept in ``outdir/card.key``, readable by its owner only, so that a resumed sweep
    keys cards alike). ``dialects``: vendor dialect files read on top of the installed ones (None: the
    files $FORENSICS_DIALECTS names), as for ``forensics.load``. Raises SweepError when no input is
    found or ``outdir`` holds an input.
    """
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    say = progress or (lambda _: None)
    files = discover(paths)
    out = Path(outdir).absolute()
    if any(f.is_relative_to(out) for f in files):
        raise SweepError(f"{outdir} holds inputs: write the sweep to another folder")
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".events-*"):  # the events folder of a run that was interrupted
        shutil.rmtree(stale, ignore_errors=True)
    _drop_partials(work)
    key = _card_key(out, card_key)
    options = Options(tz=tz, year=year, dialects=tuple(dialect_sources(dialects)))
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    events_dir = out / f".events-{os.getpid()}-{int(time.time())}"
    cluster = None
    if address:
        client = Client(address)
    else:
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = Client(cluster)
        address = cluster.scheduler_address
    try:
        say(f"parsing {plural(len(files), 'input')} on {plural(len(client.scheduler_info()['workers']), 'worker')}")
        stages: dict[str, float] = {}
        mark = time.perf_counter()
        n_workers = len(client.scheduler_info()["workers"])
        records = parse_stage(client, [(str(f), ()) for f in files], work, options, key, n_workers)
        groups = connect(_all_links(records), _one_site(records))
        again = year_anchors(records, groups)
        if again:
            say(f"parsing {plural(len(again), 'input')} again with the years of their groups' dated logs")
            jobs = [(records[n].get("source", records[n]["row"]["path"]), a) for n, a in again.items()]
            for n, record in zip(again, parse_stage(client, jobs, work, options, key, n_workers), strict=True):
                records[n] = record
        stages["parse"], mark = round(time.perf_counter() - mark, 3), time.perf_counter()
        reparsed = sum(1 for n in again if records[n]["parsed_now"])
        parsed_now = sum(1 for r in records if r["parsed_now"] and r["key"])
        done = [(n, r) for n, r in enumerate(records) if r["key"]]
        say(f"routing the rows of {plural(len(done), 'input')} to {plural(groups['group'].n_unique(), 'group')}")
        shared = client.scatter(groups, broadcast=True)
        counts = client.gather(
            [client.submit(route_input, r["key"], n, str(work), str(events_dir), shared) for n, r in done]
        )
        stages["route"], mark = round(time.perf_counter() - mark, 3), time.perf_counter()
        flags = (any(r["given"][0] for _, r in done), any(r["given"][1] for _, r in done))
        gids = sorted({g for c in counts for g in c} - {UNATTACHED})
        say(f"diagnosing {plural(len(gids), 'group')}")
        results = client.gather([client.submit(diagnose_group, g, str(events_dir), flags) for g in gids])
        stages["diagnose"], mark = round(time.perf_counter() - mark, 3), time.perf_counter()
        worker_rss = client.run(_peak_rss)
    except BaseException:
        # interrupted or failed: the workers stop, nothing half-written stays (parsed inputs do, for the next run)
        _close(client, cluster)
        shutil.rmtree(events_dir, ignore_errors=True)
        _drop_partials(work)
        raise
    _close(client, cluster)
    _drop_partials(events_dir)
    inputs = _inputs_frame(records, _groups_by_input(done, counts, len(records)))
    group_rows = _groups_frame(groups, records, done, counts)
    findings, devices, objects = _collect(results)
    _write(out, events_dir, inputs, group_rows, findings, devices, objects)
    _drop_partials(work)
    stages["write"] = round(time.perf_counter() - mark, 3)
    wall = time.perf_counter() - started
    events = int(group_rows["events"].sum()) if group_rows.height else 0
    run = {
        "workers": len(worker_rss),
        "scheduler": address,
        "local_cluster": cluster is not None,
        "wall_s": round(wall, 3),
        "inputs": len(records),
        "parsed_now": parsed_now,
        "parsed_again_for_years": reparsed,
        "events": events,
        "events_per_s": round(events / wall, 1) if wall else None,
        "stages_s": stages,
        "groups": len(gids),
        "findings": findings.height,
        "peak_rss_client": _peak_rss(),
        "peak_rss_workers": worker_rss,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with written_aside(out / "run.json") as partial:
        partial.write_text(json.dumps(run, indent=2) + "\n")
    return Sweep(out, inputs, group_rows, findings, devices, run)


def parse_stage(
    client: Any, jobs: Sequence[tuple[str, Sequence[str]]], work: Path, options: Options, card_key: bytes, workers: int
) -> list[dict[str, Any]]:
    """The records of ``jobs`` ((path, anchors)), in order, parsed on ``client``'s workers in the tasks
    ``plan`` gives."""
    tasks = plan(jobs, workers)
    futures = client.map(parse_inputs, tasks, work=str(work), options=options, card_key=card_key)
    return [record for records in client.gather(futures) for record in records]


def _close(client: Any, cluster: Any) -> None:
    """Let go of the cluster: a local one is shut down, a running scheduler keeps its workers."""
    if cluster is not None:
        try:  # its workers outlive the scheduler for a moment: their failed heartbeats are not news
            client.run(_quiet)
        except Exception:  # a worker already gone has nothing to say either
            pass
    client.close()
    if cluster is not None:
        cluster.close()


def _quiet() -> None:
    """Silence this worker's Dask logs (it is being shut down)."""
    import logging

    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def _peak_rss() -> int:
    """Peak resident memory of this process, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _card_key(out: Path, given_key: bytes | str | None) -> bytes:
    """The key card ids are keyed with in this sweep (see ``sweep``)."""
    if given_key is not None:
        return given_key.encode() if isinstance(given_key, str) else given_key
    if os.environ.get("FORENSICS_CARD_KEY"):
        return os.environ["FORENSICS_CARD_KEY"].encode()
    path = out / "card.key"
    if not path.exists():
        with written_aside(path) as partial:
            partial.touch(mode=0o600)
            partial.write_bytes(os.urandom(32).hex().encode())
    return path.read_bytes()


def _one_site(records: list[dict[str, Any]]) -> list[str]:
    """The terminals of a fleet that is one site's (``groups.one_site``): they are one group. Else none."""
    rows = [tuple(row) for r in records for row in r.get("site_mids", [])]
    mids = pl.DataFrame(rows, schema={"device": pl.String, "mid": pl.String, "rows": pl.Int64}, orient="row")
    mids = mids.group_by("device", "mid").agg(pl.col("rows").sum())
    devices = {tuple(link)[0] for r in records for link in r["links"]} - {None}
    return sorted(devices) if one_site(mids) else []  # type: ignore[type-var]


def _all_links(records: list[dict[str, Any]]) -> pl.DataFrame:
    rows = [tuple(link) for r in records for link in r["links"]]
    return pl.DataFrame(rows, schema={"device": pl.String, "tid": pl.String, "mid": pl.String}, orient="row")


def _groups_by_input(done: list[tuple[int, dict[str, Any]]], counts: list[dict[str, int]], n: int) -> list[list[str]]:
    """Per input (in order), the groups its rows went to."""
    out: list[list[str]] = [[] for _ in range(n)]
    for (k, _), routed in zip(done, counts, strict=True):
        out[k] = sorted(routed)
    return out


def _inputs_frame(records: list[dict[str, Any]], groups: list[list[str]]) -> pl.DataFrame:
    rows = [{**r["row"], "groups": g} for r, g in zip(records, groups, strict=True)]
    return pl.DataFrame(rows, schema=INPUTS_SCHEMA)


def _groups_frame(
    groups: pl.DataFrame, records: list[dict[str, Any]], done: list[tuple[int, dict[str, Any]]], counts: list
) -> pl.DataFrame:
    inputs: dict[str, list[str]] = {}
    events: dict[str, int] = {}
    for (k, _), routed in zip(done, counts, strict=True):
        for gid, rows in routed.items():
            inputs.setdefault(gid, []).append(records[k]["row"]["path"])
            events[gid] = events.get(gid, 0) + rows
    table = members(groups)
    if UNATTACHED in events:
        table = pl.concat([table, pl.DataFrame({"group": [UNATTACHED]}).cast({"group": pl.String})], how="diagonal")
    return table.with_columns(
        pl.col("devices", "tids", "mids").fill_null([]),
        inputs=pl.col("group").replace_strict(inputs, default=[], return_dtype=pl.List(pl.String)),
        events=pl.col("group").replace_strict(events, default=0, return_dtype=pl.Int64),
    ).select("group", "devices", "tids", "mids", "inputs", "events")


def _collect(results: list[tuple[pl.DataFrame, pl.DataFrame, list]]) -> tuple[pl.DataFrame, pl.DataFrame, list]:
    findings = pl.concat([r[0] for r in results]) if results else pl.DataFrame(schema=FINDINGS_SCHEMA)
    devices = pl.concat([r[1] for r in results]) if results else pl.DataFrame(schema=DEVICES_SCHEMA)
    objects = [o for r in results for o in r[2]]
    return findings, devices, objects


def _write(
    out: Path,
    events_dir: Path,
    inputs: pl.DataFrame,
    groups: pl.DataFrame,
    findings: pl.DataFrame,
    devices: pl.DataFrame,
    objects: list,
) -> None:
    """The fleet outputs, each written aside and renamed; the run's events folder swapped in."""
    for name, frame in (("inputs", inputs), ("groups", groups), ("findings", findings), ("devices", devices)):
        with written_aside(out / f"{name}.parquet") as partial:
            frame.write_parquet(partial)
    with written_aside(out / "findings.json") as partial:
        partial.write_text(json.dumps({"findings": objects}, indent=2, ensure_ascii=False, default=str) + "\n")
    from forensics.report.fleet import write_charts  # Matplotlib, for the client only

    tables = summarize(findings, devices, inputs)
    write_tables(tables, out / "summary")
    write_charts(tables, out / "summary")
    final = out / "events"
    old = out / f".events-old-{os.getpid()}"
    if final.exists():
        final.rename(old)
    events_dir.mkdir(exist_ok=True)
    events_dir.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _drop_partials(folder: Path) -> None:
    """Remove what a worker killed while writing left behind (``written_aside``'s temporary files)."""
    if folder.exists():
        for stale in folder.rglob(".*.partial-*"):
            stale.unlink(missing_ok=True)
