"""Field accuracy of ingest on real public logs (issue 24): per file of benchmarks/real_corpus.toml.

The logs are third-party: none is shipped. Fetch each file the manifest names (repo, commit,
path) and save it as ``FOLDER/<name>``; the benchmark fetches nothing and reads only that folder.
Per file it prints the format detected, the share of its non-blank lines read into events (the
lines the manifest lists as no record of the format excluded), the share of events with a time,
and the spot checks of the manifest: fields right out of fields checked. A line the manifest
lists as ``unparsed`` must be in the unparsed table with a reason and in no event. A missing
file is listed as such. Exit 1 when a present file's format, spot checks or unparsed lines are
wrong, or when fewer than 99% of its lines are read.

    python benchmarks/real_corpus.py FOLDER [--manifest benchmarks/real_corpus.toml]
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

import forensics

TARGET = 0.99


def score(folder: Path, entry: dict[str, Any]) -> dict[str, Any] | None:
    """One file's figures, or None when it is not in ``folder``."""
    path = folder / entry["name"]
    if not path.is_file():
        return None
    loaded = forensics.load([path], year=entry.get("year"))
    row = loaded.inputs.row(0, named=True)
    events, unparsed = loaded.events, loaded.unparsed
    meant_unparsed = set(entry.get("unparsed", []))
    covered = {n for first, last in events.select("line", "line_end").iter_rows() for n in range(first, last + 1)}
    stray = {n for n in meant_unparsed if n in covered}
    missed = meant_unparsed - set(unparsed["line"].to_list()) - stray
    blank = sum(1 for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if not line.strip())
    records = row["lines"] - blank - len(meant_unparsed)
    read = len(covered - meant_unparsed)
    right = checked = 0
    wrong: list[str] = []
    by_line = {r["line"]: r for r in events.iter_rows(named=True)}
    for check in entry.get("expect", []):
        got = by_line.get(check["line"], {})
        for field, want in check.items():
            if field == "line":
                continue
            checked += 1
            have = got.get(field)
            if have == (None if want == "" else want):
                right += 1
            else:
                wrong.append(f"line {check['line']} {field}: {have!r}, expected {want!r}")
    return {
        "name": entry["name"],
        "format": row["format"],
        "format_ok": row["format"] == entry["format"],
        "read": read / records if records else 1.0,
        "timed": events["ts"].is_not_null().mean() if events.height else 0.0,
        "fields": right / checked if checked else 1.0,
        "checked": checked,
        "wrong": wrong,
        "unparsed_ok": not stray and not missed,
        "reasons": sorted(set(unparsed["reason"].to_list())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--manifest", type=Path, default=Path(__file__).with_name("real_corpus.toml"))
    args = parser.parse_args()
    manifest = tomllib.loads(args.manifest.read_text(encoding="utf-8"))
    failed = False
    print(f"{'file':48} {'format':8} {'read':>7} {'timed':>7} {'fields':>7} {'checks':>6}")
    for entry in manifest["file"]:
        result = score(args.folder, entry)
        if result is None:
            print(f"{entry['name']:48} missing: fetch {entry['repo']}@{entry['commit'][:10]}:{entry['path']}")
            continue
        bad = not result["format_ok"] or result["fields"] < 1.0 or result["read"] < TARGET or not result["unparsed_ok"]
        failed |= bad
        print(
            f"{result['name']:48} {result['format'] or '-':8} {result['read']:7.1%} {result['timed']:7.1%} "
            f"{result['fields']:7.1%} {result['checked']:6}" + ("  FAIL" if bad else "")
        )
        for line in result["wrong"]:
            print(f"    {line}")
        if result["reasons"]:
            print(f"    unparsed: {'; '.join(result['reasons'])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
