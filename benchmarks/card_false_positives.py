"""False positives of the card guard: digit runs masked as card numbers that are not cards.

Reads every log of the Loghub corpus (../shared/corpus/loghub, no card data in it),
sample_logs/ and the labelled cases (../shared/cases, whose truth.json lists the lines where a
terminal logged a full card number) with ``forensics.load`` and compares the compliance
sightings with the truth: in Loghub every sighting is false; in the cases and samples a sighting
is true when truth.json lists its file and line. Prints, per corpus, the lines read, the digit
runs that could be card numbers by length (13-19 digits, maybe split by single spaces or
dashes), the sightings by field and the false ones, with each false sighting's line.

    python benchmarks/card_false_positives.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import polars as pl

import forensics

ROOT = Path(__file__).resolve().parent.parent
# a run of 13 or more digits, maybe split by single spaces or dashes (what a card could look like)
_LONG_RUN = re.compile(r"(?<![0-9])\d(?:[ -]?\d){12,}(?![0-9])")


def _inputs(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix in (".log", ".csv", ".gz")
        and "structured" not in p.name
        and "templates" not in p.name
    )


def _truth(folder: Path) -> set[tuple[str, int]]:
    truth = folder / "truth.json"
    if not truth.exists():
        return set()
    return {(c["path"], c["line"]) for c in json.loads(truth.read_text()).get("compliance", [])}


def measure(name: str, groups: list[tuple[list[Path], set[tuple[str, int]]]]) -> dict[str, object]:
    """Figures for one corpus: groups of inputs loaded together, with their true sightings."""
    lines = runs = 0
    sightings: list[dict[str, object]] = []
    false: list[str] = []
    for paths, truth in groups:
        if not paths:
            continue
        loaded = forensics.load(paths, card_key="fp")
        for path in paths:
            text = path.read_bytes().decode("utf-8", "replace").splitlines()
            lines += len(text)
            runs += sum(len(_LONG_RUN.findall(line)) for line in text)
        rows = loaded.compliance.to_dicts()
        sightings += rows
        for row in rows:
            if (Path(row["path"]).name, row["line"]) in truth:
                continue
            source = next(p for p in paths if str(p) == row["path"])
            raw = source.read_bytes().decode("utf-8", "replace").splitlines()[row["line"] - 1]
            false.append(f"{source.name}:{row['line']} {row['field']} {row['masked']}  | {raw[:140]}")
    by_field = pl.DataFrame(sightings, schema=forensics.load([]).compliance.schema).group_by("field").len()
    return {
        "corpus": name,
        "lines": lines,
        "long_runs": runs,
        "sightings": len(sightings),
        "by_field": dict(by_field.sort("field").rows()),
        "false": false,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    loghub = args.shared / "corpus" / "loghub"
    cases = args.shared / "cases"
    corpora = [
        ("loghub", [([p], set()) for p in _inputs(loghub)]),
        ("sample_logs", [(_inputs(d), _truth(d)) for d in sorted((ROOT / "sample_logs").iterdir()) if d.is_dir()]),
        ("cases", [(_inputs(d), _truth(d)) for d in sorted(cases.iterdir()) if d.is_dir()]),
    ]
    for name, groups in corpora:
        figures = measure(name, groups)
        rate = len(figures["false"]) / figures["long_runs"] if figures["long_runs"] else 0.0  # type: ignore[arg-type]
        print(
            f"{name}: {figures['lines']} lines, {figures['long_runs']} digit runs of 13+ digits, "
            f"{figures['sightings']} sightings {figures['by_field']}, {len(figures['false'])} false "
            f"({rate:.3%} of the long runs)"
        )
        for line in figures["false"]:  # type: ignore[union-attr]
            print("   ", line)


if __name__ == "__main__":
    main()
