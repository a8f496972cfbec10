"""Command line: a thin layer over the library API.

Exit codes (the same for every command; docs/cli-contract.md): 0 done; 2 bad usage, an input that
cannot be read or an output that cannot be written (one line on stderr saying which and why); 3 the
command ran but an input yielded no event (an empty file, a binary, not a log), so its output covers
less than was given, or a chart does not apply; 1 an unexpected internal error; 130 and 143
interrupted (Ctrl-C, SIGTERM), with temporary files removed and no partial output file. Every
command that reads logs says on stderr, per input, its format and its parsed and unparsed lines
(the timeline's text view says it at its top).
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import polars as pl

from forensics import __version__
from forensics.coverage import coverage, input_lines, no_event_reason, plural
from forensics.errors import ForensicsError
from forensics.ingest import load, write_parquet
from forensics.ingest.cards import mask_text
from forensics.ingest.dialect import dialect_sources, environment_dialects
from forensics.ingest.formats import registry_for
from forensics.outputs import check_outputs, csv_safe, remove_scratch, write_text, written_aside
from forensics.progress import Bar
from forensics.report import CHART_HELP, CHARTS
from forensics.simulate.vendors import VENDORS
from forensics.timeline import Timeline

if TYPE_CHECKING:
    from forensics.diagnosis import Diagnosis, RuleSet

_FORMATS = ("parquet", "jsonl", "csv")
_WORKERS = os.cpu_count() or 1  # batches parsed at once: one per core


def _output_format(path: str, given: str | None) -> str:
    if given:
        return given
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"parquet": "parquet", "jsonl": "jsonl", "ndjson": "jsonl", "json": "jsonl", "csv": "csv"}.get(
        suffix, "parquet"
    )


def write_frame(frame: pl.DataFrame, path: str, fmt: str, csv_raw: bool = False) -> None:
    """Write a frame as parquet, JSON lines or CSV; ``-`` is stdout (not for parquet). CSV text
    cells that a spreadsheet would run as a formula get a leading ``'`` unless ``csv_raw``."""
    if fmt == "csv" and not csv_raw:
        frame = csv_safe(frame)
    if path == "-":
        if fmt == "parquet":
            raise click.UsageError("parquet cannot be written to stdout; give -o FILE")
        out = sys.stdout
        if fmt == "jsonl":
            out.write(frame.write_ndjson())
        else:
            out.write(frame.write_csv())
        return
    with written_aside(path) as partial:
        if fmt == "parquet":
            frame.write_parquet(partial)
        elif fmt == "jsonl":
            frame.write_ndjson(partial)
        else:
            frame.write_csv(partial)


def _output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An output file's path, checked before any work is done: its folder exists and is writable."""
    if value is None or value == "-":
        return value
    path = Path(value)
    folder = path.parent
    if path.is_dir():
        raise click.BadParameter(f"{value} is a folder")
    if not folder.is_dir():
        raise click.BadParameter(f"no such folder: {folder}")
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(f"cannot write in {folder}")
    return value


def _log_files(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """LOGS as given; a folder is a usage error that names the command for folders (``forensics sweep``)."""
    for path in value:
        if Path(path).is_dir():
            raise click.BadParameter(
                f"{path} is a folder: give its log files ({Path(path) / '*'}), or read the whole folder with "
                f"forensics sweep {path} -o OUTDIR",
                param_hint="LOGS",
            )
    return value


def _per_input(values: tuple[str, ...], logs: tuple[str, ...], hint: str) -> str | dict[str, str] | None:
    """VALUE or FILE=VALUE option values (``--tz``, ``--log-format``) as ``load`` takes them; a FILE
    naming no input is a usage error."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    names = set(logs) | {Path(p).name for p in logs}
    by_path: dict[str, str] = {}
    for value in values:
        path, sep, setting = value.rpartition("=")
        if sep and path not in names:
            raise click.BadParameter(f"{path} is not one of the inputs", param_hint=hint)
        by_path[path if sep else "*"] = setting
    return by_path


def _tz_option(values: tuple[str, ...], logs: tuple[str, ...]) -> str | dict[str, str] | None:
    """``--tz`` values as ``load`` takes them."""
    return _per_input(values, logs, "--tz")


def _loading(
    logs: tuple[str, ...],
    year: int | None,
    tz: tuple[str, ...],
    device: str | None,
    card_key: str | None,
    dialects: tuple[str, ...],
    log_formats: tuple[str, ...],
) -> dict[str, Any]:
    """The values of ``_load_options`` as ``load`` takes them."""
    return {
        "year": year,
        "tz": _tz_option(tz, logs),
        "device": device,
        "card_key": card_key,
        "dialects": _dialects(dialects),
        "formats": _format_option(log_formats, logs),
    }


def _format_option(values: tuple[str, ...], logs: tuple[str, ...]) -> str | dict[str, str] | None:
    """``--log-format`` values as ``load`` takes them (``formats``); an unknown format is a usage error."""
    named = _per_input(values, logs, "--log-format")
    known = registry_for(None).formats
    for name in named.values() if isinstance(named, dict) else [named] if named else []:
        if name not in known:
            raise click.BadParameter(
                f"unknown format {name!r} (formats: {', '.join(known)})", param_hint="--log-format"
            )
    return named


def _stdout_parquet(fmt: str | None, output: str, others: str) -> None:
    """Refuse parquet to stdout before any work, naming the formats stdout takes."""
    if fmt == "parquet" and output == "-":
        raise click.UsageError(f"parquet needs a file: give -o FILE, or --format {others} for stdout")


def _say_coverage(tl: Timeline, *, inputs: bool = True) -> list[str]:
    """Per input its format and counts on stderr (unless ``inputs`` is False), and a warning for
    each input that yielded no event; returns the paths of those."""
    cov = coverage(tl)
    if inputs:
        for line in cov.input_lines():
            click.echo(f"forensics: {line}", err=True)
    else:
        for line, parsed in zip(cov.input_lines(), cov.inputs["parsed"], strict=True):
            if parsed == 0:
                click.echo(f"forensics: {line}", err=True)
    return cov.empty


def _done(empty: list[str]) -> None:
    """Exit 3 when an input yielded no event: the output was written but covers only the others."""
    if empty:
        raise click.exceptions.Exit(3)


_QUIET = click.option(
    "-q", "--quiet", is_flag=True, help="No progress line and no per-input lines on stderr (warnings still show)."
)


_DIALECT = click.option(
    "--dialect",
    "dialects",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="A dialect file (a vendor's phrasing, docs/dialects.md) read on top of the installed ones "
    "(repeatable). Default: the files $FORENSICS_DIALECTS names (separated by "
    f"{os.pathsep!r}).",
)


def _dialects(values: tuple[str, ...]) -> list[str] | None:
    """``--dialect`` values as ``load`` takes them: None (then $FORENSICS_DIALECTS) when none given."""
    return list(values) or None


def _load_options(f):  # type: ignore[no-untyped-def]
    f = _DIALECT(f)
    f = click.option(
        "--card-key", envvar="FORENSICS_CARD_KEY", help="Secret keying card_id (default: random per run)."
    )(f)
    f = click.option("--device-name", "device", help="Device name for logs that do not name one.")(f)
    f = click.option(
        "--tz",
        "tz",
        multiple=True,
        metavar="ZONE|FILE=ZONE",
        help="Zone of local timestamps (IANA name or +08:00); repeat as FILE=ZONE per input.",
    )(f)
    f = click.option("--year", type=int, help="Year for year-less timestamps when no input holds a dated one.")(f)
    f = click.option(
        "--log-format",
        "log_formats",
        multiple=True,
        metavar="FORMAT|FILE=FORMAT",
        help="Read the inputs as this format (a folder of grammars/) instead of detecting it; repeat as "
        "FILE=FORMAT per input. The only way to a format detection never chooses (logcat_raw).",
    )(f)
    return f


_CSV_RAW = click.option(
    "--csv-raw",
    is_flag=True,
    help="CSV: write text cells as they are. By default a cell starting with = + - @, tab or "
    "CR gets a leading ' so a spreadsheet does not run it as a formula (OWASP).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forensics")
def cli() -> None:
    """Forensic analysis of payment terminal, host and settlement logs.

    Exit codes: 0 done; 2 bad usage, an unreadable input or an output that cannot be written
    (one line on stderr); 3 done but an input yielded no event (or a chart that does not apply); 1 an
    internal error; 130 or 143 interrupted.
    """


@cli.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(), callback=_log_files)
@click.option(
    "-o", "--output", default="-", show_default=True, callback=_output_file, help="Events file (- for stdout)."
)
@click.option("--format", "fmt", type=click.Choice(_FORMATS), help="Output format (default: from the file name).")
@click.option(
    "--unparsed",
    "unparsed_path",
    callback=_output_file,
    help="Also write the unparsed lines (path, line, text, reason).",
)
@click.option("--compliance", "compliance_path", callback=_output_file, help="Also write the card-data sightings.")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=_WORKERS,
    show_default=True,
    help="Batches parsed at once (threads; worker processes for formats without a fast path).",
)
@_CSV_RAW
@_load_options
def parse(
    logs: tuple[str, ...],
    output: str,
    fmt: str | None,
    unparsed_path: str | None,
    compliance_path: str | None,
    quiet: bool,
    workers: int,
    csv_raw: bool,
    year: int | None,
    tz: tuple[str, ...],
    device: str | None,
    card_key: str | None,
    dialects: tuple[str, ...],
    log_formats: tuple[str, ...],
) -> None:
    """Parse LOGS into one events table (Parquet, JSON lines or CSV).

    To a Parquet file the logs stream through in batches, so memory stays bounded whatever
    their size.
    """
    check_outputs(logs, [output, unparsed_path, compliance_path])
    _stdout_parquet(fmt, output, "jsonl|csv")
    out_fmt = _output_format(output, fmt)
    options = {**_loading(logs, year, tz, device, card_key, dialects, log_formats), "workers": workers}
    if out_fmt == "parquet" and output != "-":
        loaded = write_parquet(list(logs), output, **options)
    else:
        loaded = load(list(logs), **options)
        write_frame(loaded.events, output, out_fmt, csv_raw)
    if unparsed_path:
        write_frame(loaded.unparsed, unparsed_path, _output_format(unparsed_path, fmt), csv_raw)
    if compliance_path:
        write_frame(loaded.compliance, compliance_path, _output_format(compliance_path, fmt), csv_raw)
    for line, parsed in zip(input_lines(loaded.inputs), loaded.inputs["parsed"], strict=True):
        if not quiet or parsed == 0:  # a warning shows even when quiet
            click.echo(f"forensics: {line}", err=True)
    if loaded.compliance.height and not quiet:
        click.echo(f"card data found and masked: {loaded.compliance.height} sightings (see --compliance)", err=True)
    _done(loaded.inputs.filter(pl.col("parsed") == 0)["path"].to_list())


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (2026-03-14T10:00)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@cli.command("timeline")
@click.argument("logs", nargs=-1, required=True, type=click.Path(), callback=_log_files)
@click.option("--tid", help="Only this terminal ID.")
@click.option("--stan", help="Only this STAN.")
@click.option("--inv", help="Only this invoice number.")
@click.option("--card", help="Only this card (last 4 digits, masked PAN or card_id).")
@click.option("--device", "device_filter", help="Only this device serial.")
@click.option("--since", help="Only transactions from this UTC time (ISO 8601).")
@click.option("--until", help="Only transactions up to this UTC time (ISO 8601).")
@click.option("--all", "show_all", is_flag=True, help="List unflagged transactions too.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv", "parquet", "timesketch"]),
    default="text",
    show_default=True,
    help="text view, the transactions table, or Timesketch JSON lines of the events.",
)
@click.option(
    "-o", "--output", default="-", callback=_output_file, help="Output file (- for stdout; parquet needs a file)."
)
@_CSV_RAW
@_QUIET
@_load_options
def timeline_command(
    logs: tuple[str, ...],
    tid: str | None,
    stan: str | None,
    inv: str | None,
    card: str | None,
    device_filter: str | None,
    since: str | None,
    until: str | None,
    show_all: bool,
    fmt: str,
    output: str,
    csv_raw: bool,
    year: int | None,
    tz: tuple[str, ...],
    device: str | None,
    card_key: str | None,
    dialects: tuple[str, ...],
    log_formats: tuple[str, ...],
    quiet: bool,
) -> None:
    """Rebuild each transaction's lifecycle across terminal logs, the host log and settlement.

    The text view marks every transaction of a diagnosis finding (F1, F2...) and shows it with
    its terminal, host and settlement lines in time order; it opens with what was read (per
    input: format, parsed and unparsed lines) and what could not be checked.
    """
    from forensics.report import text, timesketch

    check_outputs(logs, [output])
    _stdout_parquet(fmt, output, "text|json|csv|timesketch")
    result = _diagnosed(
        logs,
        quiet,
        **_loading(logs, year, tz, device, card_key, dialects, log_formats),
    )
    whole = result.timeline
    empty = _say_coverage(whole, inputs=fmt != "text" and not quiet)
    tl = whole.filter(
        tid=tid, stan=stan, inv=inv, card=card, device=device_filter, since=_since(since), until=_since(until)
    )
    if fmt == "text":
        findings = result.findings
        _emit(text.render(whole, findings=findings, transactions=tl.transactions, show_all=show_all), output)
    elif fmt == "timesketch":
        filtered = any(v is not None for v in (tid, stan, inv, card, device_filter, since, until))
        _emit(timesketch.write(whole, tl.transactions if filtered else None), output)
    else:
        from forensics.report.pack import csv_ready

        table = csv_ready(tl.transactions) if fmt == "csv" else tl.transactions
        write_frame(table, output, "jsonl" if fmt == "json" else fmt, csv_raw)
    _done(empty)


@cli.command("diagnose")
@click.argument("logs", nargs=-1, required=True, type=click.Path(), callback=_log_files)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="An analyst's summary, or the JSON document of spec/findings.md.",
)
@click.option("-o", "--output", default="-", callback=_output_file, help="Output file (- for stdout).")
@click.option(
    "--rules",
    "rule_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Use these rule files instead of the installed ones (repeatable).",
)
@_QUIET
@_load_options
def diagnose_command(
    logs: tuple[str, ...],
    fmt: str,
    output: str,
    rule_files: tuple[str, ...],
    year: int | None,
    tz: tuple[str, ...],
    device: str | None,
    card_key: str | None,
    dialects: tuple[str, ...],
    log_formats: tuple[str, ...],
    quiet: bool,
) -> None:
    """Find every faulty charge in LOGS and name its cause, with the log lines as evidence.

    Says on stderr, per input, its format and parsed and unparsed lines. Exit code 3 when an
    input yielded no event (empty, binary, not a log): the answer covers only the others, and
    "no faulty charge found" names what was checked and what was not.
    """
    from forensics.diagnosis import RuleSet

    check_outputs(logs, [output])
    rules = RuleSet.from_files(list(rule_files)) if rule_files else None
    result = _diagnosed(
        logs,
        quiet,
        rules,
        False,
        **_loading(logs, year, tz, device, card_key, dialects, log_formats),
    )
    empty = _say_coverage(result.timeline, inputs=not quiet)
    _emit(result.to_json() if fmt == "json" else result.to_text(), output)
    _done(empty)


@cli.command("report")
@click.argument("logs", nargs=-1, required=True, type=click.Path(), callback=_log_files)
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder for the report.")
@click.option(
    "--format",
    "fmts",
    type=click.Choice(["html", "md", "pdf"]),
    multiple=True,
    help="Report format(s) (default html; repeat for several).",
)
@click.option("--analyst", help="Who made the report (chain of custody).")
@click.option("--case-id", help="The incident or dispute reference (chain of custody; the report's title).")
@click.option(
    "--pack",
    is_flag=True,
    help="Also write an evidence pack per finding into OUTPUT/evidence/F1/...: the cited lines, the "
    "transactions (CSV), the chart, the finding with its dispute categories, and a manifest with the SHA-256 "
    "of the inputs and of every file of the pack (docs/disputes.md).",
)
@_QUIET
@_load_options
def report_command(
    logs: tuple[str, ...],
    output: str,
    fmts: tuple[str, ...],
    year: int | None,
    tz: tuple[str, ...],
    device: str | None,
    card_key: str | None,
    dialects: tuple[str, ...],
    log_formats: tuple[str, ...],
    analyst: str | None,
    case_id: str | None,
    pack: bool,
    quiet: bool,
) -> None:
    """Write an incident report: findings, evidence, charts, devices, compliance, chain of custody; with
    --pack, an evidence pack per finding for a dispute response."""
    from forensics.report import incident
    from forensics.report.custody import Custody

    check_outputs(logs, folder=output)
    zones = _tz_option(tz, logs)
    result = _diagnosed(
        logs,
        quiet,
        **_loading(logs, year, tz, device, card_key, dialects, log_formats),
    )
    empty = _say_coverage(result.timeline, inputs=not quiet)
    read = list(dialects) or environment_dialects()  # the vendor dialect files read, for the record
    options = {"tz": zones, "year": year, "device_name": device, "card_key": card_key, "dialects": read}
    run = Custody(command=["forensics", *sys.argv[1:]], analyst=analyst, case_id=case_id, options=options)
    for fmt in fmts or ("html",):
        click.echo(str(incident.write(result, output, fmt, run)), err=True)
    if pack:
        from forensics.report import pack as evidence

        for manifest in evidence.write(result, Path(output) / "evidence", run):
            click.echo(str(manifest), err=True)
    _done(empty)


@cli.command(
    "chart",
    epilog="\b\nWhat each --kind shows:\n"
    + "\n".join(
        textwrap.fill(f"{shows}.", 79, initial_indent=f"  {kind:<10} ", subsequent_indent=" " * 13)
        for kind, shows in CHART_HELP.items()
    ),
)
@click.argument("logs", nargs=-1, required=True, type=click.Path(), callback=_log_files)
@click.option(
    "--kind",
    type=click.Choice(CHARTS),
    default="swimlane",
    show_default=True,
    help="Which chart (what each shows: below).",
)
@click.option("-o", "--output", required=True, callback=_output_file, help="Image file: .png, .svg or .pdf.")
@_QUIET
@_load_options
def chart_command(
    logs: tuple[str, ...],
    kind: str,
    output: str,
    year: int | None,
    tz: tuple[str, ...],
    device: str | None,
    card_key: str | None,
    dialects: tuple[str, ...],
    log_formats: tuple[str, ...],
    quiet: bool,
) -> None:
    """Draw one chart of LOGS (faulty charges labelled). A chart that does not apply to LOGS (no device
    swap, no host pairs, no data) is not written: one line says why, exit code 3."""
    from forensics.report import charts

    if Path(output).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise click.UsageError(f"{output}: use a .png, .svg or .pdf file name")
    check_outputs(logs, [output])
    result = _diagnosed(
        logs,
        quiet,
        **_loading(logs, year, tz, device, card_key, dialects, log_formats),
    )
    empty = _say_coverage(result.timeline, inputs=False)  # warnings only: a chart's stderr is one line when drawn
    reason = charts.why_not(kind, result.timeline, result.findings)
    if reason:
        click.echo(f"forensics: {kind} chart not drawn, nothing written: {reason}", err=True)
        raise click.exceptions.Exit(3)
    charts.save(charts.figure(kind, result.timeline, result.findings), output)
    _done(empty)


def _bar(quiet: bool) -> Bar | None:
    """A progress line on stderr for work that lasts, unless ``quiet`` or stderr is not a terminal."""
    return None if quiet or not sys.stderr.isatty() else Bar()


def _diagnosed(
    logs: tuple[str, ...], quiet: bool, rules: RuleSet | None = None, events: bool = True, **load_options: Any
) -> Diagnosis:
    """LOGS loaded, their timeline rebuilt and diagnosed, with progress on stderr for long work (``events``:
    False when only the findings and the timeline's tables are shown: ``diagnose_by_group``); a big input's
    events wait in a temporary Parquet file (``forensics.analysis.ingested``)."""
    from forensics.analysis import diagnose_by_group, diagnose_parquet, ingested

    bar = _bar(quiet)
    try:
        with ingested(list(logs), workers=_WORKERS, progress=bar, **load_options) as (loaded, source):
            if source is None:
                if bar is not None:
                    bar.stage(f"rebuilding and diagnosing the transactions of {loaded.events.height:,} events")
                return diagnose_by_group(loaded, rules=rules, events=events)
            if bar is not None:
                bar.stage("rebuilding and diagnosing the transactions, one group of terminals at a time")
            return diagnose_parquet(source, loaded, rules=rules, events=events)
    finally:
        if bar is not None:
            bar.close()


def _emit(text: str, output: str) -> None:
    """Write ``text`` ending in one newline: the same bytes to stdout as to a file."""
    if output == "-":
        click.echo(text, nl=not text.endswith("\n"))
    else:
        write_text(output, text if text.endswith("\n") else text + "\n")


@cli.command("sweep")
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output folder of the sweep.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes of the local cluster (default: cores).")
@click.option(
    "--scheduler",
    envvar="DASK_SCHEDULER_ADDRESS",
    metavar="tcp://HOST:PORT",
    help="A running Dask scheduler to use instead of a local cluster.",
)
@click.option("--card-key", envvar="FORENSICS_CARD_KEY", help="Secret keying card_id (default: OUTDIR/card.key).")
@click.option("--tz", "tz", help="Zone of local timestamps for every input (IANA name or +08:00).")
@click.option("--year", type=int, help="Year for year-less timestamps when no dated log of their group says.")
@_DIALECT
@_QUIET
def sweep_command(
    paths: tuple[str, ...],
    output: str,
    workers: int | None,
    scheduler: str | None,
    card_key: str | None,
    tz: str | None,
    year: int | None,
    dialects: tuple[str, ...],
    quiet: bool,
) -> None:
    """Parse, group and diagnose a fleet: every log under PATHS (files, folders, globs; compressed or
    not; terminal, host or clearing file by content) into OUTDIR: events by group (Parquet), inputs,
    groups, devices, findings (Parquet and JSON) and run.json. Runs on a local Dask cluster, or on
    --scheduler. A second run on OUTDIR parses only the inputs it has not parsed yet."""
    from forensics.fleet.sweep import discover, sweep

    def say(text: str) -> None:
        if not quiet:
            click.echo(f"forensics sweep: {text}", err=True)

    done = sweep(
        list(paths),
        output,
        workers=workers,
        scheduler=scheduler,
        tz=tz,
        year=year,
        card_key=card_key,
        dialects=_dialects(dialects),
        progress=say,
    )
    failed = done.inputs.filter(pl.col("error").is_not_null())
    for path, error in failed.select("path", "error").iter_rows():
        click.echo(f"forensics sweep: {path}: not parsed: {error}", err=True)
    sources = {mask_text(str(p)): str(p) for p in discover(paths)}  # the files as given, by their recorded path
    empty = done.inputs.filter(pl.col("error").is_null(), pl.col("parsed") == 0)
    for row in empty.iter_rows(named=True):
        what = no_event_reason(sources.get(row["path"], row["path"]), row["size"], row["lines"])
        click.echo(
            f"forensics sweep: {row['path']}: warning: no events in it: {what}; nothing checked from it", err=True
        )
    run = done.run
    say(
        f"{plural(run['inputs'], 'input')} ({run['parsed_now']} parsed now), {run['events']:,} events, "
        f"{plural(run['groups'], 'group')}, {plural(run['findings'], 'finding')} in {run['wall_s']:.1f} s on "
        f"{plural(run['workers'], 'worker')} -> {done.outdir}"
    )
    _done(failed["path"].to_list() + empty["path"].to_list())


@cli.command()
@_DIALECT
@click.option(
    "--vocabulary",
    is_flag=True,
    help="Instead: the event kinds, the columns a dialect fills and the canonical words a value map may give, "
    "with what each means and which parts of the tool read it (docs/dialects.md).",
)
def formats(dialects: tuple[str, ...], vocabulary: bool) -> None:
    """List the input formats and dialects, with their sample lines (a dialect file given is
    loaded and its samples checked first)."""
    if vocabulary:
        from forensics.vocabulary import render

        click.echo(render(120))
        return
    reg = registry_for(tuple(dialect_sources(_dialects(dialects))))
    click.echo("Formats (grammars/<name>/format.toml):")
    for fmt in reg.formats.values():
        fast = reg.fast_format(fmt)
        path = f"fast path: {', '.join(a.name for a in fast.regex.alternatives)}" if fast else "Lark only"
        click.echo(f"\n  {fmt.name:<11} {fmt.title}   [{fmt.grammar}; {path}]")
        for sample in fmt.samples:
            click.echo("    " + sample["line"].splitlines()[0])
    click.echo("\nDialects (forensics/dialects/):")
    for name in reg.dialects.names:
        click.echo(f"\n  {name:<11} {reg.dialects.titles[name]}")
        for sample in reg.dialects.samples[name]:
            click.echo("    " + sample.get("message", f"{sample['tag']}: {sample.get('line')}"))


@cli.command("simulate")
@click.option("--list", "list_families", is_flag=True, help="List the scenario families and exit.")
@click.option("--family", help="Scenario family to simulate (see --list).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed: same seed, same bytes.")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Folder to write the case into.")
@click.option("--lines", type=int, help="Volume mode: one terminal log of this many lines (benchmarks).")
@click.option(
    "--terminal",
    type=click.Choice(["logcat", "syslog"]),
    help="Log format of the volume-mode terminal (default: the vendor's home platform; the reference's is logcat).",
)
@click.option(
    "--style",
    type=click.Choice(["threadtime", "year", "bsd", "bsd_pri", "bsd_program"]),
    help="Volume mode: the terminal's log style (default: drawn from the seed).",
)
@click.option(
    "--library",
    type=click.Path(file_okay=False, exists=True),
    help="Rebuild the sample library in this folder from its catalog.toml.",
)
@click.option(
    "--inputs",
    "inputs",
    help="Inputs besides the terminal logs: all, seeded, or roles joined by commas (host,settlement; "
    "terminal for none). Default: the family's own policy.",
)
@click.option(
    "--wide/--narrow",
    "wide",
    default=None,
    help="Wider timings and the noise of real shops (default: the family's own setting).",
)
@click.option(
    "--vendor",
    type=click.Choice(list(VENDORS)),
    default="reference",
    show_default=True,
    help="The terminal app's logging style: the same case, its app lines phrased as this vendor's app logs them "
    "(orbit: JSON on Android; quill: sentences on Linux). Not --style, the log envelope's style.",
)
@click.option("--fleet", type=int, help="Fleet mode: this many merchants, several lanes each, one host log.")
@click.option("--days", type=int, default=7, show_default=True, help="Fleet mode: trading days.")
@click.option("--incidents", type=int, help="Fleet mode: merchants with an injected incident (default 1 in 40).")
@click.option("--workers", type=int, default=1, show_default=True, help="Fleet mode: processes (same bytes).")
def simulate_command(
    list_families: bool,
    family: str | None,
    seed: int,
    output: str | None,
    lines: int | None,
    terminal: str | None,
    style: str | None,
    library: str | None,
    inputs: str | None,
    wide: bool | None,
    vendor: str,
    fleet: int | None,
    days: int,
    incidents: int | None,
    workers: int,
) -> None:
    """Simulate a realistic case (logs, settlement, truth.json, README) from a seed, or a fleet of them."""
    from forensics.simulate import FAMILIES, build_library, simulate, simulate_volume

    if library:
        for folder in build_library(library):
            click.echo(str(folder), err=True)
        return
    if list_families:
        width = max(len(name) for name in FAMILIES)
        for fam in FAMILIES.values():
            verdict = f"{fam.kind} / {fam.cause}" if fam.kind else "negative (no finding)"
            click.echo(f"{fam.name:<{width}} {verdict:<44} {fam.summary}")
        return
    if output is None:
        raise click.UsageError("give -o DIR (or --list)")
    if fleet is not None:
        if vendor != "reference":
            raise click.UsageError("--vendor applies to a case or --lines, not to --fleet")
        _simulate_fleet(output, fleet, seed, days, incidents, workers)
        return
    if lines is not None:
        if lines <= 0:
            raise click.UsageError("--lines must be positive")
        terminal = terminal or VENDORS[vendor].platform
        android = terminal == "logcat"
        if style and (style in ("threadtime", "year")) != android:
            raise click.UsageError(f"--style {style} does not fit --terminal {terminal}")
        case = simulate_volume(lines, seed, android=android, style=style, vendor=vendor)
    elif family is None:
        raise click.UsageError("give --family NAME (see --list) or --lines N")
    elif family not in FAMILIES:
        raise click.UsageError(f"unknown family {family!r}; see forensics simulate --list")
    else:
        chosen = inputs if inputs in (None, "all", "seeded") else inputs.split(",")
        try:
            case = simulate(family, seed, inputs=chosen, wide=wide, vendor=vendor)
        except ValueError as err:
            raise click.UsageError(f"--inputs: {err}") from None
    for path in case.write(output):
        click.echo(str(path), err=True)


@cli.group("dialect")
def dialect_group() -> None:
    """Work on a dialect file (how a terminal app's lines map to event kinds)."""


@dialect_group.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("logs", nargs=-1, required=True, type=click.Path(), callback=_log_files)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--top", type=int, default=20, show_default=True, help="Text: rows per list (JSON lists every row).")
def dialect_check_command(file: str, logs: tuple[str, ...], fmt: str, top: int) -> None:
    """Load a dialect FILE (its samples checked) and report its coverage of LOGS.

    With the installed dialects (FILE replaces one of the same file or dialect name): per tag, the
    lines each kind got; lines of its tags no rule matched, grouped by shape, most frequent first,
    with an example (card data masked); values outside its value maps; tags no dialect owns.
    Exit 0 when it ran, 2 for a file that does not load (one line saying why) or an unreadable log.
    """
    from forensics.ingest.dialect_check import check_dialect

    report = check_dialect(file, list(logs))
    click.echo(report.to_json() if fmt == "json" else report.to_text(top=top), nl=False)


def _simulate_fleet(output: str, merchants: int, seed: int, days: int, incidents: int | None, workers: int) -> None:
    """Write a simulated fleet into ``output``; one line on stderr says what it holds."""
    from forensics.simulate.fleet import simulate_fleet

    if workers < 1:
        raise click.UsageError("--workers must be at least 1")
    try:
        truth = simulate_fleet(output, merchants, seed, days=days, incidents=incidents, workers=workers)
    except (ValueError, FileExistsError) as err:
        raise click.UsageError(str(err)) from None
    f = truth["fleet"]
    click.echo(
        f"{output}: {f['merchants']} merchants, {f['terminals']} terminals, {f['days']} days, "
        f"{f['records']:,} records, {len(truth['findings'])} injected finding(s)",
        err=True,
    )


class _Terminated(SystemExit):
    """The exit SIGTERM asks for: it unwinds, so temporary files and partial outputs are removed."""


#: Seconds the unwinding after SIGTERM gets before the watcher ends the process itself.
_UNWIND_SECONDS = 5.0


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated(128 + signum)


def _watch_for_sigterm() -> None:
    """End the process, temporary files and partial outputs removed, when SIGTERM's unwinding has not ended
    it within ``_UNWIND_SECONDS``. The unwinding cannot always happen: the signal may reach a thread other than
    the main one while that one waits on a pipe nobody writes to, or land in a finaliser that drops the
    exception. The interpreter writes each signal's number to the wake-up pipe from whichever thread got it."""
    if hasattr(signal, "pthread_sigmask"):  # a parent may have blocked it (threads started below inherit this)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        while signal.SIGTERM not in os.read(read_end, 64):
            pass
        time.sleep(_UNWIND_SECONDS)
        remove_scratch()
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="forensics-sigterm", daemon=True).start()


def main() -> None:
    """Entry point: run the CLI, turning known errors into one clear line and exit code 2."""
    signal.signal(signal.SIGTERM, _terminated)
    _watch_for_sigterm()
    try:
        _main()
    except _Terminated as exc:
        # Unwound: temporary files and partial outputs are gone. End now rather than wait for reader threads
        # still blocked on an input that may never end (a pipe nobody closes), as a normal exit would.
        sys.stderr.flush()
        os._exit(int(exc.code or 0))


def _main() -> None:
    try:
        code = cli(prog_name="forensics", standalone_mode=False)  # a ctx.exit(n) returns n here
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("forensics: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # one line, as every error (a file name may hold a card number)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if isinstance(exc, click.UsageError) and ctx else ""
        click.echo(f"forensics: error: {mask_text(exc.format_message())}{hint}", err=True)
        sys.exit(exc.exit_code)
    except ForensicsError as exc:
        click.echo(f"forensics: error: {mask_text(str(exc))}", err=True)
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:  # an output that cannot be written after all (disk full, removed folder)
        click.echo(f"forensics: error: {mask_text(_os_error(exc))}", err=True)
        sys.exit(2)


def _os_error(exc: OSError) -> str:
    """``out.json: no space left on device``: the file and the reason, without Python's errno."""
    reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    return f"{exc.filename}: {reason}" if exc.filename else reason


if __name__ == "__main__":
    main()
