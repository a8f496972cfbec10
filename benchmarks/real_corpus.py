"""Field accuracy of ingest on real public logs (issue 24): per file of benchmarks/real_corpus.toml.

The logs are third-party: none is shipped. Fetch each file the manifest names (repo, commit,
path) and save it as ``FOLDER/<name>``; the benchmark fetches nothing and reads only that folder.
Per file it prints the format detected, the share of its non-blank lines read into events (the
lines the manifest lists as no record of the format excluded), the share of events with a time,
and the spot checks of the manifest: fields right out of fields checked. A line the manifest
lists as ``unparsed`` must be in the unparsed table with a reason and in no event. Every line
must be in an event or in the unparsed table with a reason (``lost`` counts those that are in
neither).

For a jPOS file (format ``jpos``) it also finds the message blocks itself (a ``<log ...>`` block
holding an ``<isomsg>``, up to its ``</log>`` or the next ``<log``) and prints the share read with
time and MTI: an event starting at the block's line, with a time, whose MTI is the block's field 0.
Every message block's STAN, RRN, RC and TID (fields 11, 37, 39, 41 of its outer isomsg, trimmed of
jPOS's padding) are compared with its event's: ``wrong`` counts the blocks where an event says
otherwise. A block format is judged on its blocks (its lines outside blocks are unparsed with a
reason: ``<?xml ...?>`` and ``<logger>`` headers, a program's own output between blocks).

A jPOS file's ``--- data ---`` hexdumps (bytes jPOS could not unpack) must each be decoded into
the block's event (``attrs.decoded``) or say why not (``attrs.undecoded``, pyiso8583's reason). No
card number of a file (a jPOS field 2, a pretty-print's PAN line: 13-19 digits, Luhn-valid) may be written
whole in any table (``leaks``).

A missing file is listed as such. Exit 1 when a present file's format, spot checks or unparsed
lines are wrong, when a line is lost, when a message block's event is wrong, when a dump says
nothing, when a card number leaks, or when fewer than 99% of its lines (of its message blocks,
for jPOS) are read. The last lines give the totals.

    python benchmarks/real_corpus.py FOLDER [--manifest benchmarks/real_corpus.toml]
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import polars as pl

import forensics
from forensics.ingest.pan import is_pan

TARGET = 0.99
#: jPOS block shapes the benchmark finds on its own, to judge ingest by
_LOG_OPEN = re.compile(r'^[^<]*<log\b[^>]*\bat="[^"]*"[^>]*>')
_FIELD = re.compile(r'\s*<field id="([^"]*)" value="([^"]*)"')
#: outer-isomsg field -> event column
_CHECKED = {"0": "mti", "11": "stan", "37": "rrn", "39": "rc", "41": "tid"}
#: a card number as a file writes it: a jPOS field 2, a pretty-print's PAN line
_PAN = re.compile(r'<field id="2" value="(\d{13,19})"|^2 {3}.{0,60}?: b?\'(\d{13,19})\'', re.M)


def message_blocks(lines: list[str]) -> list[dict[str, Any]]:
    """The jPOS message blocks of a file: first line (1-based) and the outer isomsg's checked fields."""
    blocks: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    depth = 0
    for number, line in enumerate(lines, 1):
        if _LOG_OPEN.search(line):
            current = {"line": number, "iso": False, "fields": {}}
            blocks.append(current)
            depth = 0
            continue
        if current is None:
            continue
        if "</log>" in line:
            current = None
            continue
        if line.lstrip().startswith("<isomsg"):
            current["iso"] = True
            depth += 0 if line.rstrip().endswith("/>") else 1
        field = _FIELD.match(line)
        if field and depth == 1 and field.group(1) in _CHECKED:
            current["fields"].setdefault(_CHECKED[field.group(1)], field.group(2).strip(" "))
        if line.lstrip().startswith("</isomsg>"):
            depth -= 1
    return [block for block in blocks if block["iso"]]


def judge_blocks(lines: list[str], by_line: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Message blocks found, read with time and MTI, and those whose event says a field wrongly."""
    blocks = message_blocks(lines)
    read = wrong = 0
    wrongs: list[str] = []
    for block in blocks:
        event = by_line.get(block["line"])
        if event is None:
            continue
        want = block["fields"]
        if event["ts"] is not None and event["mti"] == want.get("mti"):  # a message without field 0: none
            read += 1
        bad = [f"{col} {event[col]!r} != {value!r}" for col, value in want.items() if event[col] not in (None, value)]
        if bad:
            wrong += 1
            wrongs.append(f"block at line {block['line']}: " + ", ".join(bad))
    return {"blocks": len(blocks), "blocks_read": read, "blocks_wrong": wrong, "block_errors": wrongs[:5]}


def judge_data(lines: list[str], by_line: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The ``--- data ---`` hexdumps of a jPOS file (bytes jPOS could not unpack): each must be in
    an event that says its fields were decoded (``attrs.decoded``) or why not (``attrs.undecoded``)."""
    dumps = [n for n, line in enumerate(lines, 1) if line.strip() == "--- data ---"]
    starts = sorted(by_line)
    decoded = undecoded = 0
    for n in dumps:
        at = starts[max(0, bisect.bisect_right(starts, n) - 1)] if starts else None
        event = by_line.get(at) if at is not None else None
        attrs = json.loads(event["attrs"]) if event and event["line_end"] >= n and event["attrs"] else {}
        decoded += "decoded" in attrs
        undecoded += "undecoded" in attrs
    return {"dumps": len(dumps), "dumps_decoded": decoded, "dumps_said": decoded + undecoded}


def leaks(path: Path, loaded: forensics.Loaded) -> int:
    """Card numbers of the file (field 2 of its isomsgs and pretty-prints: 13-19 digits, Luhn-valid,
    not starting with 0) found whole in any string the ingest wrote."""
    found = _PAN.findall(path.read_text(encoding="utf-8", errors="replace"))
    pans = {a or b for a, b in found} - {""}
    pans = {pan for pan in pans if is_pan(pan)}
    if not pans:
        return 0
    written = "\n".join(
        value
        for frame in loaded
        for column in frame.columns
        if frame[column].dtype == pl.String
        for value in frame[column].drop_nulls()
    )
    return sum(pan in written for pan in pans)


def score(folder: Path, entry: dict[str, Any]) -> dict[str, Any] | None:
    """One file's figures, or None when it is not in ``folder``."""
    path = folder / entry["name"]
    if not path.is_file():
        return None
    loaded = forensics.load([path], year=entry.get("year"), tz=entry.get("tz"))
    row = loaded.inputs.row(0, named=True)
    events, unparsed = loaded.events, loaded.unparsed
    meant_unparsed = set(entry.get("unparsed", []))
    covered = {n for first, last in events.select("line", "line_end").iter_rows() for n in range(first, last + 1)}
    lines = path.read_text(encoding="utf-8", errors="replace").removesuffix("\n").split("\n")  # as ingest numbers them
    blank = {n for n, line in enumerate(lines, 1) if not line.strip()}
    stray = {n for n in meant_unparsed if n in covered}
    missed = meant_unparsed - set(unparsed["line"].to_list()) - stray
    said = {
        n
        for first, last, reason in unparsed.select("line", "line_end", "reason").iter_rows()
        if reason
        for n in range(first, last + 1)
    }
    lost = sum(1 for n, line in enumerate(lines, 1) if line.strip() and n not in covered and n not in said)
    records = len(lines) - len(blank) - len(meant_unparsed - blank)
    read = len(covered - meant_unparsed - blank)
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
    blocks = {**judge_blocks(lines, by_line), **judge_data(lines, by_line)} if row["format"] == "jpos" else {}
    return {
        **blocks,
        "leaks": leaks(path, loaded),
        "lost": lost,
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
    total = {"blocks": 0, "blocks_read": 0, "blocks_wrong": 0, "files": 0, "lost": 0, "leaks": 0}
    total |= {"dumps": 0, "dumps_decoded": 0, "dumps_said": 0}
    print(
        f"{'file':48} {'format':8} {'read':>7} {'timed':>7} {'fields':>7} {'checks':>6}"
        f" {'blocks':>6} {'b.read':>7} {'wrong':>5}"
    )
    for entry in manifest["file"]:
        result = score(args.folder, entry)
        if result is None:
            print(f"{entry['name']:48} missing: fetch {entry['repo']}@{entry['commit'][:10]}:{entry['path']}")
            continue
        blocks = result.get("blocks")
        share = result["read"] if blocks is None else (result["blocks_read"] / blocks if blocks else 1.0)
        bad = (
            not result["format_ok"]
            or result["fields"] < 1.0
            or share < TARGET
            or not result["unparsed_ok"]
            or result["lost"]
            or result.get("blocks_wrong", 0)
            or result["leaks"]
            or result.get("dumps_said", 0) != result.get("dumps", 0)
        )
        failed |= bool(bad)
        total["files"] += 1
        total["lost"] += result["lost"]
        total["leaks"] += result["leaks"]
        for key in ("blocks", "blocks_read", "blocks_wrong", "dumps", "dumps_decoded", "dumps_said"):
            total[key] += result.get(key, 0)
        block_columns = f" {blocks:6} {share:7.1%} {result['blocks_wrong']:5}" if blocks is not None else ""
        print(
            f"{result['name']:48} {result['format'] or '-':8} {result['read']:7.1%} {result['timed']:7.1%} "
            f"{result['fields']:7.1%} {result['checked']:6}{block_columns}" + ("  FAIL" if bad else "")
        )
        for line in result["wrong"] + result.get("block_errors", []):
            print(f"    {line}")
        if result["lost"]:
            print(f"    {result['lost']} lines in no event and not unparsed with a reason")
        if result["leaks"]:
            print(f"    {result['leaks']} of the file's card numbers written whole")
        if result.get("dumps"):
            print(
                f"    --- data --- dumps: {result['dumps']}, decoded {result['dumps_decoded']}, "
                f"not decoded with the reason {result['dumps_said'] - result['dumps_decoded']}"
            )
        if result["reasons"]:
            print(f"    unparsed: {'; '.join(result['reasons'])}")
    if total["blocks"]:
        print(
            f"total: {total['files']} files, jPOS message blocks read with time and MTI "
            f"{total['blocks_read']}/{total['blocks']} ({total['blocks_read'] / total['blocks']:.2%}), "
            f"wrong {total['blocks_wrong']}, lines lost {total['lost']}"
        )
        print(
            f"--- data --- dumps {total['dumps']}: decoded {total['dumps_decoded']}, "
            f"not decoded with the reason {total['dumps_said'] - total['dumps_decoded']}, "
            f"silent {total['dumps'] - total['dumps_said']}; card numbers written whole {total['leaks']}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
