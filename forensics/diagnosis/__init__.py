"""Diagnosis: every faulty charge, its cause with confidence, and the log lines that show it.

``diagnose(paths)`` (or ``diagnose_timeline(tl)``) runs the detectors over the timeline's
transactions, scores each candidate with the attribution rules (forensics/rules/*.toml) and
returns a ``Diagnosis``: ``findings`` as a Polars frame, ``to_json()`` in the contract of
spec/findings.md, ``to_text()`` as an analyst's summary. Deterministic: same input, same bytes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from forensics.coverage import coverage
from forensics.diagnosis import detectors as D
from forensics.diagnosis.detectors import Params
from forensics.diagnosis.rules import RuleSet, candidate_column
from forensics.ingest import load
from forensics.money import minor_to_major
from forensics.timeline import Timeline, build

__all__ = ["Diagnosis", "Params", "RuleSet", "diagnose", "diagnose_timeline"]

_ROLE_ORDER = {"trigger": 0, "defect": 1, "action": 2, "context": 3, "charge": 4, "clearing": 5}


@functools.cache
def default_rules() -> RuleSet:
    """The installed rule files (loaded and validated once)."""
    return RuleSet()


@dataclass
class Diagnosis:
    """Findings of one analysis, with the timeline they came from."""

    findings: list[dict[str, Any]]
    timeline: Timeline
    rules_fired: pl.DataFrame

    @property
    def frame(self) -> pl.DataFrame:
        """The findings as a Polars frame (one row each; transactions and evidence as lists)."""
        if not self.findings:
            return pl.DataFrame(
                schema={"id": pl.String, "kind": pl.String, "cause": pl.String, "confidence": pl.Float64}
            )
        return pl.DataFrame(self.findings)

    def document(self) -> dict[str, Any]:
        """The JSON document of spec/findings.md, as Python objects."""
        inputs = [
            {
                "path": r["path"],
                "sha256": r["sha256"],
                "lines": r["lines"],
                "parsed": r["parsed"],
                "unparsed": r["unparsed"],
            }
            for r in self.timeline.loaded.inputs.iter_rows(named=True)
        ]
        compliance = [dict(r) for r in self.timeline.loaded.compliance.iter_rows(named=True)]
        public = [{k: v for k, v in f.items() if not k.startswith("_")} for f in self.findings]
        return {"inputs": inputs, "findings": public, "compliance": compliance}

    def to_json(self) -> str:
        """``forensics diagnose --format json``."""
        return json.dumps(self.document(), indent=2, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        """One paragraph per finding with its evidence, as an analyst would write it."""
        doc = self.document()
        lines = [f"{len(self.findings)} finding(s) in {len(doc['inputs'])} input(s)."]
        if not self.findings:
            lines.append(f"No faulty charge found. {coverage(self.timeline).sentence()}")
        for f in self.findings:
            lines.append("")
            contributing = f" (contributing: {', '.join(f['contributing'])})" if f["contributing"] else ""
            alternatives = "; ".join(f"{a['cause']} {a['confidence']:.2f}" for a in f["alternatives"])
            lines.append(f"{f['id']} {f['kind']}: {f['summary']}.")
            lines.append(
                f"   Cause: {f['cause']}{contributing}, confidence {f['confidence']:.2f}"
                + (f"; alternatives: {alternatives}" if alternatives else "")
                + "."
            )
            keys = ", ".join(
                f"{t['device']} inv {t['inv']} stan {t['stan']}" + (f" rrn {t['rrn']}" if t["rrn"] else "")
                for t in f["transactions"]
            )
            lines.append(f"   Transactions: {keys}.")
            for note in f.get("caveats", []):
                lines.append(f"   Caveat: {note}.")
            for e in f["evidence"]:
                lines.append(f"   [{e['role']}] {Path(e['path']).name}:{e['line']}: {e['text']}")
            if f["_rules"]:
                lines.append(f"   Rules: {', '.join(f['_rules'])}.")
        if doc["compliance"]:
            lines.append("")
            lines.append(
                f"Compliance: {len(doc['compliance'])} sighting(s) of card data in clear (masked above): "
                + ", ".join(f"{Path(c['path']).name}:{c['line']} {c['field']}" for c in doc["compliance"][:10])
            )
        return "\n".join(lines) + "\n"


def diagnose(
    paths: Any, *, params: Params | None = None, rules: RuleSet | None = None, **load_options: Any
) -> Diagnosis:
    """Load logs (options as ``forensics.load``), rebuild the timeline and diagnose it."""
    return diagnose_timeline(build(load(paths, **load_options)), params=params, rules=rules)


def diagnose_timeline(tl: Timeline, *, params: Params | None = None, rules: RuleSet | None = None) -> Diagnosis:
    """Findings of a timeline."""
    params = params or Params()
    rules = rules or default_rules()
    t = D.prepare(tl.transactions, tl.settlement)
    dups = D.duplicate_charges(t, params)
    taken = set(dups["first__txn"].to_list()) | set(dups["second__txn"].to_list()) if dups.height else set()
    corrected = D.amount_corrections(t, params)
    mismatches = D.amount_mismatches(t, params)
    if corrected.height:
        mismatches = mismatches.filter(~pl.col("txn__txn").is_in(corrected["txn__txn"].implode()))
    parts = [
        dups,
        D.charged_but_declined(t, taken),
        corrected,
        mismatches,
        D.refund_errors(t, params),
        D.deposit_errors(t, params),
        D.misrouted(t, tl.devices),
        D.ledger_mismatches(t, tl.devices),
    ]
    candidates = (
        pl.concat([p for p in parts if p.height], how="diagonal_relaxed") if any(p.height for p in parts) else None
    )
    if candidates is None:
        return Diagnosis([], tl, pl.DataFrame())
    candidates = candidates.with_row_index("cid").with_columns(pl.col("cid").cast(pl.Int64))
    fired, evidence = rules.evaluate(candidates, tl.in_streams())
    findings = _incidents([_finding(row, fired, evidence, tl, rules) for row in candidates.iter_rows(named=True)])
    _attach_texts(findings, tl)
    findings.sort(
        key=lambda f: (f["_ts"], f["kind"], f["transactions"][0]["device"], f["transactions"][0]["stan"] or "")
    )
    for i, f in enumerate(findings, start=1):
        f["id"] = f"F{i}"
    return Diagnosis([{"id": f.pop("id"), **f} for f in findings], tl, fired)


# -- one finding --------------------------------------------------------------------------


def _roles(row: dict[str, Any]) -> list[str]:
    return [r for r in ("first", "second", "txn") if row.get(f"{r}__txn") is not None]


def _txn(row: dict[str, Any], role: str) -> dict[str, Any]:
    return {k.split("__", 1)[1]: v for k, v in row.items() if k.startswith(f"{role}__")}


def _iso(ts: Any) -> str | None:
    if ts is None:
        return None
    return ts.isoformat(timespec="milliseconds")


def _finding(
    row: dict[str, Any], fired: pl.DataFrame, evidence: pl.DataFrame, tl: Timeline, rules: RuleSet
) -> dict[str, Any]:
    cid = row["cid"]
    mine = fired.filter(pl.col("cid") == cid)
    scores = mine.group_by("cause").agg(pl.col("weight").sum()).sort(["weight", "cause"], descending=[True, False])
    total = float(scores["weight"].sum()) if scores.height else 0.0
    if scores.height:
        cause = scores["cause"][0]
        confidence = round(scores["weight"][0] / (total + 1.0), 2)
        alternatives = [{"cause": c, "confidence": round(w / (total + 1.0), 2)} for c, w in scores.iter_rows()][1:]
        winning = [rules.rule(r) for r in mine.filter(pl.col("cause") == cause).sort("rule")["rule"].to_list()]
    else:
        cause, confidence, alternatives, winning = "undetermined", 0.0, [], []
    contributing = sorted({c for r in winning for c in r.contributing} - {cause})
    incident = next((r for r in winning if r.incident), None)
    group = (incident.id, *(row.get(candidate_column(ref)) for ref in incident.incident)) if incident else None
    txns = [_txn(row, role) for role in _roles(row)]
    if row.get("members"):
        members = tl.transactions.filter(pl.col("txn").is_in(row["members"]))
        txns = list(members.sort("ts_start").iter_rows(named=True))
    if row.get("twin"):  # the item the void or refund was meant for
        txns = list(tl.transactions.filter(pl.col("txn") == row["twin"]).iter_rows(named=True)) + txns
    unique_txns = list({t["txn"]: t for t in txns}.values())
    caveats, factor = _caveats(unique_txns)
    confidence = round(confidence * factor, 2)
    alternatives = [{**a, "confidence": round(a["confidence"] * factor, 2)} for a in alternatives]
    ev = _evidence(cid, unique_txns, evidence, tl, row)
    amount, currency, exponent = _amount(row, unique_txns)
    return {
        "kind": row["finding"],
        "cause": cause,
        "contributing": contributing,
        "confidence": confidence,
        "summary": _summary(row, unique_txns, winning, amount),
        "tid": unique_txns[0]["tid"],
        "devices": sorted({t["device"] for t in unique_txns}),
        "amount": minor_to_major(amount, exponent) if amount is not None else None,
        "currency": currency,
        "transactions": [
            {
                "device": t["device"],
                "tid": t["tid"],
                "stan": t["stan"],
                "inv": t["inv"],
                "rrn": t["rrn"],
                "auth": t["auth"],
                "ts": _iso(t.get("ts_tx") or t.get("ts_start")),
            }
            for t in unique_txns
        ],
        "evidence": ev,
        "alternatives": alternatives,
        "caveats": caveats,
        "_rules": [r.id for r in winning],
        "_ts": unique_txns[0]["ts_start"],
        "_incident": group,
        "_why": winning[0].description if winning else "no rule explains it",
        "_exponent": exponent,
        "_amount": amount,
    }


def _caveats(txns: list[dict[str, Any]]) -> tuple[list[str], float]:
    """What the missing inputs leave open for these transactions, and the factor it takes off confidence."""
    notes: list[str] = []
    factor = 1.0
    for t in txns:
        name = f"{(t.get('txn_type') or 'item').lower()} inv {t.get('inv') or '?'} (stan {t.get('stan') or '?'})"
        if t.get("charged") is None and t.get("charge_at_risk"):
            missing = [
                label
                for label, given in (("no host log", t.get("host_log")), ("no clearing file", t.get("settlement_file")))
                if not given
            ]
            why = " and ".join(missing) if missing else "neither the host log nor the clearing file covers it"
            notes.append(
                f"{why}: whether {name} was charged is unknown; the terminal never saw its outcome "
                "and no reversal was accepted"
            )
            factor *= 0.7
        elif t.get("charged_by") == "terminal" and not t.get("settlement_file"):
            notes.append(f"no clearing file: whether {name} settled is unknown (the terminal's outcome is taken)")
            factor *= 0.9
    return list(dict.fromkeys(notes)), factor


def _incidents(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings of one systematic incident (a rule's ``incident`` columns agree) merged into one."""
    out: list[dict[str, Any]] = []
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for f in findings:
        if f["_incident"] is None:
            out.append(f)
        else:
            groups.setdefault((f["kind"], f["cause"], *f["_incident"]), []).append(f)
    for members in groups.values():
        if len(members) == 1:
            out.append(members[0])
            continue
        members.sort(key=lambda f: f["_ts"])
        head = dict(members[0])
        txns = [t for f in members for t in f["transactions"]]
        seen: set[tuple[str, int]] = set()
        evidence = []
        for e in (e for f in members for e in f["evidence"]):
            if (e["path"], e["line"]) not in seen:
                seen.add((e["path"], e["line"]))
                evidence.append(e)
        evidence.sort(key=lambda e: (_ROLE_ORDER.get(e["role"], 9), e["path"], e["line"]))
        amounts = [f["_amount"] for f in members if f["_amount"] is not None]
        total = sum(amounts) if amounts else None
        money = (
            f"{minor_to_major(total, head['_exponent'])} {head['currency'] or ''}".strip() if total is not None else "?"
        )
        version = head["_incident"][-1] if len(head["_incident"]) > 2 else None
        where = ", ".join(head["devices"]) + (f" (app {version})" if version else "")
        head.update(
            transactions=txns,
            evidence=evidence,
            amount=minor_to_major(total, head["_exponent"]) if total is not None else None,
            devices=sorted({d for f in members for d in f["devices"]}),
            confidence=max(f["confidence"] for f in members),
            summary=f"{len(members)} transactions on {where}, {money} charged in all: {head['_why']}",
        )
        out.append(head)
    return out


def _amount(row: dict[str, Any], txns: list[dict[str, Any]]) -> tuple[int | None, str | None, int]:
    kind = row["finding"]
    main = txns[-1] if kind in ("refund_error", "deposit_error") else txns[0]
    if kind in ("misrouted_funds", "ledger_mismatch"):
        amount = row.get("group_amount")
    elif kind == "amount_mismatch":
        amount = main.get("amount") or main.get("amount_sent") or main.get("amount_entered")
    else:
        amount = main.get("amount_entered")
    exponent = main.get("exponent")
    return amount, main.get("currency"), 2 if exponent is None else exponent


def _evidence(
    cid: int, txns: list[dict[str, Any]], evidence: pl.DataFrame, tl: Timeline, row: dict[str, Any]
) -> list[dict[str, Any]]:
    rows: list[tuple[str, int, str]] = [
        (p, ln, role)
        for p, ln, role in evidence.filter(pl.col("cid") == cid).select("path", "line", "role").iter_rows()
    ]
    for t in txns:
        line = t.get("line_result") or t.get("line_tx") or t.get("line_start")
        rows.append((t["path"], line, "charge"))
        if t.get("merchant_outcome") != "APPROVED" and t.get("host_path") and t.get("host_rc") == "00":
            # the terminal never saw the approval: the host's answer is what proves the charge
            rows.append((t["host_path"], t.get("host_resp_line") or t["host_line"], "charge"))
        for ref in t.get("settle_lines") or []:
            path, _, number = ref.rpartition(":")
            rows.append((path, int(number), "clearing"))
    seen: dict[tuple[str, int], str] = {}
    for path, line, role in rows:
        key = (path, line)
        if key not in seen or _ROLE_ORDER.get(role, 9) < _ROLE_ORDER.get(seen[key], 9):
            seen[key] = role
    ordered = sorted(seen.items(), key=lambda kv: (_ROLE_ORDER.get(kv[1], 9), kv[0][0], kv[0][1]))
    return [{"path": path, "line": line, "role": role, "text": None} for (path, line), role in ordered]


def _attach_texts(findings: list[dict[str, Any]], tl: Timeline) -> None:
    """Fill every evidence line's text in one pass over the events, citing the file each line is in."""
    wanted = pl.DataFrame(
        [(e["path"], e["line"]) for f in findings for e in f["evidence"]],
        schema={"path": pl.String, "line": pl.Int64},
        orient="row",
    ).unique()
    texts = (
        tl.events.lazy()
        .select(pl.col("stream").alias("_s"), pl.col("seq").alias("_q"), "path", "line", "text")
        .join(wanted.lazy(), left_on=["_s", "_q"], right_on=["path", "line"], how="inner")
        .collect()
    )
    found = {(s, q): (p, n, t or "") for s, q, p, n, t in texts.iter_rows()}
    for f in findings:
        for e in f["evidence"]:
            path, line, text = found.get((e["path"], e["line"]), (e["path"], e["line"], ""))
            e["path"], e["line"] = path, line
            e["text"] = text.split("\n")[0] + (" …" if "\n" in text else "")


def _money(amount: int | None, t: dict[str, Any]) -> str:
    if amount is None:
        return "?"
    exponent = t.get("exponent")
    return f"{minor_to_major(amount, 2 if exponent is None else exponent)} {t.get('currency') or ''}".strip()


def _summary(row: dict[str, Any], txns: list[dict[str, Any]], winning: list[Any], amount: int | None) -> str:
    kind = row["finding"]
    a = txns[0]
    why = winning[0].description if winning else "no rule explains it"
    if kind == "duplicate_charge":
        if len(txns) == 1:
            what = f"{a['txn_type'].title()} inv {a['inv']} ({_money(amount, a)}) cleared twice"
        else:
            b = txns[1]
            gap = (b["ts_start"] - a["ts_start"]).total_seconds()
            when = (
                f"{gap:.0f} s later"
                if gap >= 0
                else f"later by the card's counter (ATC), though the two devices' clocks put it {-gap:.0f} s earlier"
            )
            what = (
                f"{a['txn_type'].title()} inv {a['inv']} charged twice ({_money(amount, a)}): again as inv {b['inv']}"
                f" on {b['device']} {when}"
            )
    elif kind == "charged_but_declined":
        what = (
            f"{a['txn_type'].title()} inv {a['inv']} charged {_money(amount, a)}"
            f" while the terminal showed {a['merchant_outcome']}"
        )
    elif kind == "amount_mismatch":
        what = (
            f"{a['txn_type'].title()} inv {a['inv']} charged {_money(amount, a)}"
            f" (entered {_money(a['amount_entered'], a)})"
        )
        if row.get("ratio") is not None and row["ratio"] >= 2:
            what += f", {row['ratio']:.0f}x the terminal's median sale"
    elif kind == "refund_error":
        b = txns[-1]
        what = (
            f"{b['txn_type'].title()} inv {b['inv']} ({_money(b['amount_entered'], b)}) of sale inv {a['inv']} "
            f"({_money(a['amount_entered'], a)}, card {a['card']})"
            + (f" credited card {b['card']}" if b.get("card") and b["card"] != a["card"] else "")
        )
    elif kind == "deposit_error":
        b = txns[-1]
        what = (
            f"Deposit inv {a['inv']} ({_money(a['amount_entered'], a)})"
            f" completed for {_money(b['amount_entered'], b)} (inv {b['inv']})"
        )
        if len(txns) > 2 or (row.get("completions") or 0) > 1:
            what = f"Deposit completed more than once ({_money(b['amount_entered'], b)} each)"
    elif kind == "misrouted_funds":
        what = (
            f"{len(txns)} charges on {a['device']} ({_money(amount, a)}) cleared to MID {a['mid']} instead of "
            f"{row.get('expected_mid')}"
        )
    else:
        what = f"{len(txns)} offline approvals on {a['device']} ({_money(amount, a)}) never reached the acquirer"
    return f"{what}: {why}"
