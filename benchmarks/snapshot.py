"""Hashes of what the CLI writes on every sample, to show a refactoring changed no output byte.

For each case folder under sample_logs/ (the top level, wide/ and tour/): its log files together
(README and truth.json left out), each terminal log with its time zone from truth.json
(``--tz FILE=ZONE``) and a fixed card key (``FORENSICS_CARD_KEY``: without one, ``card_id`` is keyed anew on
each run), through ``forensics timeline``, ``forensics timeline --format json``,
``forensics diagnose --format json`` and ``forensics diagnose`` (text). Each run's exit code,
stdout and stderr are hashed (SHA-256); the table is written as JSON.

    python benchmarks/snapshot.py -o before.json      # on the old code
    python benchmarks/snapshot.py -o after.json --compare before.json   # exit 1 on any difference
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
COMMANDS = {
    "timeline": ["timeline"],
    "timeline-json": ["timeline", "--format", "json"],
    "diagnose-json": ["diagnose", "--format", "json"],
    "diagnose-text": ["diagnose"],
}


def cases() -> list[Path]:
    """The case folders of the sample library: each holds its logs and a README."""
    return sorted(p.parent for p in SAMPLES.rglob("README.md") if p.parent != SAMPLES and any(p.parent.glob("*.log")))


def arguments(folder: Path) -> list[str]:
    """The inputs of ``folder`` (relative to the repository root) and their ``--tz`` options."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name not in ("README.md", "truth.json"))
    args = [p.relative_to(ROOT).as_posix() for p in files]
    truth = folder / "truth.json"
    if truth.exists():
        for device in json.loads(truth.read_text(encoding="utf-8")).get("devices", []):
            if device.get("tz") and (folder / device["file"]).exists():
                args += ["--tz", f"{(folder / device['file']).relative_to(ROOT).as_posix()}={device['tz']}"]
    return args


def run(forensics: str, command: list[str], args: list[str]) -> dict[str, str | int]:
    """Exit code and the SHA-256 of stdout and stderr of one CLI run from the repository root."""
    env = {**os.environ, "FORENSICS_CARD_KEY": "snapshot"}
    done = subprocess.run([forensics, *command, *args], cwd=ROOT, capture_output=True, timeout=600, env=env)
    return {
        "rc": done.returncode,
        "stdout": hashlib.sha256(done.stdout).hexdigest(),
        "stderr": hashlib.sha256(done.stderr).hexdigest(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write the hashes (JSON)")
    parser.add_argument("--compare", type=Path, help="a former output: list the differences, exit 1 if any")
    parser.add_argument("--forensics", default=str(Path(sys.executable).parent / "forensics"), help="the CLI to run")
    options = parser.parse_args()
    table = {}
    for folder in cases():
        args = arguments(folder)
        for name, command in COMMANDS.items():
            key = f"{folder.relative_to(SAMPLES).as_posix()} {name}"
            table[key] = run(options.forensics, command, args)
            print(key, table[key]["rc"], table[key]["stdout"][:12], file=sys.stderr)
    options.output.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if options.compare is None:
        return 0
    former = json.loads(options.compare.read_text(encoding="utf-8"))
    differ = sorted(k for k in set(former) | set(table) if former.get(k) != table.get(k))
    for key in differ:
        print(f"differs: {key}: {former.get(key)} -> {table.get(key)}")
    print(f"{len(table)} runs, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
