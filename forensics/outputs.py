"""Writing outputs safely: never over evidence, never half-written, never live in a spreadsheet.

Every output is written to a temporary file beside its target and renamed onto it only once
complete (``written_aside``): a failed or interrupted write (disk full, ``ulimit -f``, Ctrl-C)
leaves no partial file and an older file as it was. Temporary folders come from ``scratch_folder``;
while they and partial outputs exist they are known, so that an exit that cannot unwind (the
CLI's SIGTERM watcher) still removes them (``remove_scratch``). ``check_outputs`` refuses, before any work,
an output that is an input (the same file, a hard link or a symbolic link to it) and a report
folder that holds an input. ``csv_safe`` neutralises spreadsheet formulas in CSV cells.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from forensics.errors import OutputError

#: A CSV cell starting with one of these is run as a formula by spreadsheets (OWASP CSV injection).
FORMULA_STARTS = "=+-@\t\r"

#: The temporary folders and partial outputs that exist now (``scratch_folder``, ``written_aside``).
_SCRATCH: set[Path] = set()
_SCRATCH_LOCK = threading.Lock()


def _scratch(path: Path, kept: bool) -> None:
    with _SCRATCH_LOCK:
        if kept:
            _SCRATCH.add(path)
        else:
            _SCRATCH.discard(path)


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A new temporary folder named ``prefix``... in the system's temporary folder (``TMPDIR``), removed
    with its contents when the block ends (or by ``remove_scratch``)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _scratch(folder, True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        _scratch(folder, False)


def remove_scratch() -> None:
    """Remove every temporary folder and partial output that exists now: for an exit that cannot wait
    for the blocks that made them to end."""
    with _SCRATCH_LOCK:
        paths = list(_SCRATCH)
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@contextmanager
def written_aside(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write into; renamed onto ``path`` when the block ends
    without error, removed when it fails or is interrupted."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _scratch(partial, True)
    try:
        yield partial
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        _scratch(partial, False)


def write_text(path: str | Path, text: str) -> Path:
    """``text`` written to ``path`` as UTF-8, aside then renamed."""
    with written_aside(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """``data`` written to ``path``, aside then renamed."""
    with written_aside(path) as partial:
        partial.write_bytes(data)
    return Path(path)


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell that starts with ``= + - @``, a tab or a carriage return
    prefixed with ``'`` (the OWASP rule), so a spreadsheet shows it instead of running it.
    Numeric columns are numbers, not formulas (a negative amount stays a number)."""
    starts = "^[" + FORMULA_STARTS.replace("-", "\\-") + "]"
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(starts)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def check_outputs(
    inputs: Iterable[str | Path], files: Iterable[str | Path | None] = (), folder: str | Path | None = None
) -> None:
    """Raise OutputError when an output file is an input (same file, hard or symbolic link) or
    when ``folder`` (a report folder) holds an input. ``None`` and ``-`` (stdout) are skipped."""
    ins = [Path(p) for p in inputs]
    for out in files:
        if out is None or str(out) == "-":
            continue
        for given in ins:
            if _same(Path(out), given):
                raise OutputError(f"{out} is the input {given}: refusing to write over evidence")
    if folder is None:
        return
    where = Path(folder)
    places = {where, where.resolve()}
    for given in ins:
        spots = {given.parent, given.resolve().parent}
        if any(_inside(spot, place) for spot in spots for place in places):
            raise OutputError(f"{folder} holds the input {given}: write the report to another folder")
    if where.is_dir():
        for entry in where.iterdir():
            for given in ins:
                if _same(entry, given):
                    raise OutputError(
                        f"{folder} holds {entry.name}, the input {given}: write the report to another folder"
                    )
