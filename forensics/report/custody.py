"""Chain of custody: who produced a report, when, with which tool build and which command.

A report that goes into an incident file must say how it can be produced again: the time it
was generated (UTC), the command line as typed (card numbers masked), the tool's version and
the source commit it ran from, the analyst and case, and the options in words.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forensics import __version__
from forensics.ingest.cards import mask_text


def tool_commit() -> str:
    """The git commit this package runs from ("+ local changes" when the checkout differs from it),
    or "not a git checkout" for an installed release."""
    source = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            stdin=subprocess.DEVNULL,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"{head} + local changes" if dirty else head


@dataclass
class Custody:
    """The facts of one report run that are not in the inputs."""

    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    command: list[str] | None = None
    analyst: str | None = None
    case_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    commit: str = field(default_factory=tool_commit)

    def rows(self) -> list[list[str]]:
        """The custody facts as (what, value) rows, in words; card numbers masked."""
        opts = self.options
        zones = opts.get("tz")
        rows = [
            ["generated", self.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")],
            ["case", self.case_id or "-"],
            ["analyst", self.analyst or "-"],
            ["tool", f"forensics {self.version} (commit {self.commit})"],
            ["command", shlex.join(self.command) if self.command else "- (library call)"],
            ["time zone", _zones(zones)],
            ["year", str(opts["year"]) if opts.get("year") else "from the logs"],
            ["device name", opts.get("device_name") or "from the logs"],
            ["card key", "given by the analyst" if opts.get("card_key") else "random per run (card ids differ)"],
        ]
        if opts.get("dialects"):  # a vendor's dialect files: what they were when the report was made
            rows.append(["dialect files", "; ".join(f"{p} (sha256 {_sha256(p)})" for p in opts["dialects"])])
        return [[what, mask_text(value)] for what, value in rows]


def _sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"


def _zones(zones: Any) -> str:
    if not zones:
        return "from the logs; UTC where a log gives none"
    if isinstance(zones, dict):
        return "; ".join(f"{'other inputs' if k == '*' else k}: {v}" for k, v in zones.items())
    return str(zones)
