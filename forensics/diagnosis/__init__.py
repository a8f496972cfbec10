"""Diagnosis: every faulty charge, its cause with confidence, and the log lines that show it.

``diagnose_timeline(tl)`` (``forensics.analysis.diagnose(paths)`` for log files) runs every finding kind's detector
(forensics/diagnosis/kinds/) over the timeline's transactions, scores each candidate with the
attribution rules (forensics/rules/*.toml) and returns a ``Diagnosis``: ``findings`` (typed
``Finding``s), ``frame`` as a Polars frame, ``to_json()`` in the contract of spec/findings.md,
``to_text()`` as an analyst's summary. Deterministic: same input, same bytes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from forensics.coverage import coverage
from forensics.diagnosis import reconcile, render
from forensics.diagnosis.candidates import Params, prepare
from forensics.diagnosis.failures import Taxonomy, default_taxonomy
from forensics.diagnosis.finding import Alternative, Evidence, Finding, TransactionRef
from forensics.diagnosis.kinds import detect, kinds
from forensics.diagnosis.rules import RuleSet, candidate_column
from forensics.money import amount_text, minor_to_major
from forensics.timeline import Timeline

__all__ = ["Diagnosis", "Finding", "Params", "RuleSet", "diagnose", "diagnose_timeline"]

_ROLE_ORDER = {"trigger": 0, "defect": 1, "action": 2, "context": 3, "charge": 4, "clearing": 5}


@functools.cache
def default_rules() -> RuleSet:
    """The installed rule files (loaded and validated once)."""
    return RuleSet()


@dataclass
class Diagnosis:
    """Findings of one analysis, with the timeline they came from."""

    findings: list[Finding]
    timeline: Timeline
    rules_fired: pl.DataFrame

    @property
    def frame(self) -> pl.DataFrame:
        """The findings as a Polars frame of their JSON objects (one row each; transactions and evidence as lists)."""
        if not self.findings:
            return pl.DataFrame(
                schema={"id": pl.String, "kind": pl.String, "cause": pl.String, "confidence": pl.Float64}
            )
        return pl.DataFrame([f.to_dict() for f in self.findings])

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
        return {"inputs": inputs, "findings": [f.to_dict() for f in self.findings], "compliance": compliance}

    def to_json(self) -> str:
        """``forensics diagnose --format json``."""
        return json.dumps(self.document(), indent=2, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        """``forensics diagnose``: one paragraph per finding with its evidence (``render.text``); with no
        finding, what the inputs let it check and what they did not."""
        compliance = [dict(r) for r in self.timeline.loaded.compliance.iter_rows(named=True)]
        checked = coverage(self.timeline).sentence()
        return render.text(self.findings, self.timeline.loaded.inputs.height, compliance, checked)


def diagnose_timeline(tl: Timeline, *, params: Params | None = None, rules: RuleSet | None = None) -> Diagnosis:
    """Findings of a timeline."""
    params = params or Params()
    rules = rules or default_rules()
    candidates = detect(prepare(tl.transactions, tl.settlement), tl.devices, params)
    if candidates is None:
        return Diagnosis([], tl, pl.DataFrame())
    candidates = candidates.with_row_index("cid").with_columns(pl.col("cid").cast(pl.Int64))
    events = tl.in_streams()
    fired, evidence = rules.evaluate(candidates, events)
    failed = default_taxonomy().hits(candidates, events)
    findings = _incidents(
        [_finding(row, fired, evidence, failed, tl, rules) for row in candidates.iter_rows(named=True)]
    )
    findings = _with_texts(findings, tl)
    findings.sort(key=lambda f: (f.first_ts, f.kind, f.transactions[0].device, f.transactions[0].stan or ""))
    return Diagnosis([replace(f, id=f"F{i}") for i, f in enumerate(findings, start=1)], tl, fired)


# -- one finding --------------------------------------------------------------------------


def _roles(row: dict[str, Any]) -> list[str]:
    return [r for r in ("first", "second", "txn") if row.get(f"{r}__txn") is not None]


def _txn(row: dict[str, Any], role: str) -> dict[str, Any]:
    return {k.split("__", 1)[1]: v for k, v in row.items() if k.startswith(f"{role}__")}


def _iso(ts: Any) -> str | None:
    if ts is None:
        return None
    return ts.isoformat(timespec="milliseconds")


#: confidence of a cause read from the failure taxonomy alone: from the first to the second number, by the
#: nearest failure's share of the evidence (no rule describes the sequence)
_FROM_FAILURE = (0.3, 0.6)
#: confidence of a finding whose cause is undetermined (below any cause a failure event supports): the
#: discrepancy stands, nothing explains it
_UNDETERMINED = 0.2
#: the weight what breaks a tie between rules adds to the cause it chooses
_TIE_BREAK = 0.5
#: spec/findings.md: network_timeout is the cause "where no fault above explains the loss": it yields to a
#: failure of another part near the transactions scoring at least this much (weight x proximity)
_YIELD_SCORE = 0.5


def _finding(
    row: dict[str, Any],
    fired: pl.DataFrame,
    evidence: pl.DataFrame,
    failed: pl.DataFrame,
    tl: Timeline,
    rules: RuleSet,
) -> Finding:
    cid = row["cid"]
    kind = kinds()[row["finding"]]
    mine = fired.filter(pl.col("cid") == cid)
    hits = failed.filter(pl.col("cid") == cid)
    scores = mine.group_by("cause").agg(pl.col("weight").sum()).sort(["weight", "cause"], descending=[True, False])
    total = float(scores["weight"].sum()) if scores.height else 0.0
    extra: list[tuple[str, int, str]] = []
    tie = ""
    if scores.height:
        order = scores["cause"].to_list()
        tied = [c for c, w in scores.iter_rows() if w == scores["weight"][0]]
        weight = dict(scores.iter_rows())
        if len(tied) > 1:
            order, tie = _break_tie(order, tied, hits, default_taxonomy())
            if order[0] != tied[0] or "weigh the same;" in tie:
                weight[order[0]] += _TIE_BREAK  # what broke the tie counts for the cause it chose
                total += _TIE_BREAK
        cause = order[0]
        confidence = round(weight[cause] / (total + 1.0), 2)
        alternatives = [Alternative(c, round(weight[c] / (total + 1.0), 2)) for c in order[1:]]
        winning = [rules.rule(r) for r in mine.filter(pl.col("cause") == cause).sort("rule")["rule"].to_list()]
        why = winning[0].description + tie
        fired_ids = [r.id for r in winning]
        contributing = sorted({c for r in winning for c in r.contributing} - {cause})
    elif hits.height:
        cause, confidence, alternatives, why, fired_ids, extra = _from_failures(hits, default_taxonomy())
        winning = []
        contributing = _rerun(row, cause)
    else:
        cause, confidence, alternatives, winning, fired_ids, contributing = (
            "undetermined",
            _UNDETERMINED,
            [],
            [],
            [],
            [],
        )
        unseen = any(row.get(f"{r}__rebuilt_from") not in (None, "terminal") for r in _roles(row))
        where = (
            "no terminal log shows its transactions, so the terminal side was not checked, and nothing failed"
            " at the host near them"
            if unseen
            else "no failure event lies on its devices or at the host between its transactions"
        )
        why = f"{where}: the cause is undetermined (the discrepancy itself stands)"
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
    alternatives = [Alternative(a.cause, round(a.confidence * factor, 2)) for a in alternatives]
    amount, main = kind.amount(row, unique_txns)
    exponent = 2 if main.get("exponent") is None else main["exponent"]
    shaped = row.get(reconcile.SHAPE_COLUMN) is not None  # a disagreement no kind's story covers
    said = reconcile.summary(row, unique_txns[0]) if shaped else kind.summary(row, unique_txns, amount)
    todo = reconcile.action(row, unique_txns[0]) if shaped else kind.action(row, unique_txns, amount)
    return Finding(
        id="",
        kind=kind.name,
        cause=cause,
        contributing=contributing,
        confidence=confidence,
        summary=f"{said}: {why}",
        tid=unique_txns[0]["tid"],
        devices=sorted({t["device"] for t in unique_txns}),
        amount=minor_to_major(amount, exponent) if amount is not None else None,
        currency=main.get("currency"),
        transactions=[
            TransactionRef(
                t["device"],
                t["tid"],
                t["stan"],
                t["inv"],
                t["rrn"],
                t["auth"],
                _iso(t.get("ts_tx") or t.get("ts_start")),
            )
            for t in unique_txns
        ],
        evidence=_evidence(cid, unique_txns, evidence, kind.cites, extra),
        alternatives=alternatives,
        caveats=caveats,
        rules=fired_ids,
        first_ts=unique_txns[0]["ts_start"],
        incident=group,
        why=why,
        exponent=exponent,
        amount_minor=amount,
        action=todo,
        card=unique_txns[0].get("card"),
        shape=row[reconcile.SHAPE_COLUMN] if shaped else kind.shape(row, unique_txns) if kind.shape else None,
    )


def _when(offset_s: float) -> str:
    seconds = abs(offset_s)
    span = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    return f"{span} {'after' if offset_s >= 0 else 'before'} the first request's outcome"


def _from_failures(
    hits: pl.DataFrame, taxonomy: Taxonomy
) -> tuple[str, float, list[Alternative], str, list[str], list[tuple[str, int, str]]]:
    """The cause the failure events near a candidate point to (``hits``, best first): cause, confidence,
    alternatives, why, the failure ids, and the lines to cite."""
    best = hits.group_by("cause", maintain_order=True).agg(pl.all().first())  # each cause's best-scored event
    other = best.filter(pl.col("cause") != "network_timeout", pl.col("score") >= _YIELD_SCORE)
    if best["cause"][0] == "network_timeout" and other.height:
        # a timeout is the cause only where no other fault explains the loss (spec/findings.md)
        best = pl.concat([other.head(1), best.filter(pl.col("cause") != other["cause"][0])])
    total = float(best["score"].sum())
    top = best.row(0, named=True)
    low, high = _FROM_FAILURE
    confidence = round(low + (high - low) * top["score"] / (total + 1.0), 2)
    alternatives = [
        Alternative(r["cause"], round((high - low) * r["score"] / (total + 1.0), 2) or 0.01)
        for r in best.iter_rows(named=True)
    ][1:]
    failure = taxonomy.failure(top["failure"])
    why = (
        f"{failure.description} ({failure.component}), {_when(top['offset_s'])}: no attribution rule describes"
        " this sequence, so the cause is read from the nearest failure between its transactions"
    )
    if len(best) > 1:
        runner = best.row(1, named=True)
        why += f"; {taxonomy.failure(runner['failure']).description} ({_when(runner['offset_s'])}) is weighed lower"
    cited = [(r["path"], r["line"], "trigger") for r in best.iter_rows(named=True)]
    return top["cause"], confidence, alternatives, why, [f"failure:{top['failure']}"], cited


def _break_tie(order: list[str], tied: list[str], hits: pl.DataFrame, taxonomy: Taxonomy) -> tuple[list[str], str]:
    """Rules of several causes weigh the same: the tied cause with the nearest, strongest failure event comes
    first (else the order stays). The causes in their new order, and the words that say why."""
    if "network_timeout" in tied:
        # a timeout is the cause only where no other fault explains why the charge stood (spec/findings.md)
        chosen = next(c for c in order if c in tied and c != "network_timeout")
        new = [chosen, *[c for c in order if c != chosen]]
        return new, (
            f" (rules for network_timeout weigh the same; {chosen} is taken because a timeout is the cause only"
            " where no other fault explains why the charge stood)"
        )
    near = hits.filter(pl.col("cause").is_in(tied))
    if near.is_empty():
        return order, f" (rules for {' and '.join(tied)} weigh the same and no failure event tells them apart)"
    top = near.row(0, named=True)
    failure = taxonomy.failure(top["failure"])
    others = [c for c in tied if c != top["cause"]]
    new = [top["cause"], *[c for c in order if c != top["cause"]]]
    return new, (
        f" (rules for {' and '.join(others)} weigh the same; {top['cause']} is taken because"
        f" {failure.description}, {_when(top['offset_s'])})"
    )


def _rerun(row: dict[str, Any], cause: str) -> list[str]:
    """A duplicate run again on the same device by hand: the operator contributed, whatever failed first."""
    first, second = row.get("first__txn"), row.get("second__txn")
    same_device = row.get("first__device") == row.get("second__device")
    # only a terminal log shows that someone ran it again
    seen = row.get("first__rebuilt_from") == "terminal" and row.get("second__rebuilt_from") == "terminal"
    if row.get("finding") == "duplicate_charge" and first and second and first != second and same_device and seen:
        return [] if cause == "operator_error" else ["operator_error"]
    return []


def _caveats(txns: list[dict[str, Any]]) -> tuple[list[str], float]:
    """What the missing inputs leave open for these transactions, and the factor it takes off confidence."""
    notes: list[str] = []
    factor = 1.0
    for t in txns:
        name = f"{(t.get('txn_type') or 'item').lower()} inv {t.get('inv') or '?'} (stan {t.get('stan') or '?'})"
        if t.get("rebuilt_from") not in (None, "terminal"):
            notes.append(
                f"no terminal log shows {name} (rebuilt from the {t['rebuilt_from']} file alone): what the merchant"
                " saw, and any failure on the terminal, were not checked"
            )
            factor *= 0.8
            continue
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


def _incidents(findings: list[Finding]) -> list[Finding]:
    """Findings of one systematic incident (a rule's ``incident`` columns agree) merged into one."""
    out: list[Finding] = []
    groups: dict[tuple[Any, ...], list[Finding]] = {}
    for f in findings:
        if f.incident is None:
            out.append(f)
        else:
            groups.setdefault((f.kind, f.cause, *f.incident), []).append(f)
    for (_, _, *incident), members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        members.sort(key=lambda f: f.first_ts)
        head = members[0]
        seen: set[tuple[str, int]] = set()
        evidence = []
        for e in (e for f in members for e in f.evidence):
            if (e.path, e.line) not in seen:
                seen.add((e.path, e.line))
                evidence.append(e)
        evidence.sort(key=lambda e: (_ROLE_ORDER.get(e.role, 9), e.path, e.line))
        amounts = [f.amount_minor for f in members if f.amount_minor is not None]
        total = sum(amounts) if amounts else None
        money = amount_text(total, head.exponent, head.currency)
        version = incident[-1] if len(incident) > 2 else None
        where = ", ".join(head.devices) + (f" (app {version})" if version else "")
        out.append(
            replace(
                head,
                transactions=[t for f in members for t in f.transactions],
                evidence=evidence,
                amount=minor_to_major(total, head.exponent) if total is not None else None,
                amount_minor=total,
                devices=sorted({d for f in members for d in f.devices}),
                confidence=max(f.confidence for f in members),
                summary=f"{len(members)} transactions on {where}, {money} charged in all: {head.why}",
                action=f"Correct each of the {len(members)} transactions listed ({money} in all), as for the first:"
                f" {head.action[0].lower()}{head.action[1:]}",
            )
        )
    return out


def _evidence(
    cid: int,
    txns: list[dict[str, Any]],
    evidence: pl.DataFrame,
    cites: tuple[str, ...],
    extra: list[tuple[str, int, str]] | None = None,
) -> list[Evidence]:
    """The rules' lines for candidate ``cid`` (and the ``extra`` lines: path, line, role), and each transaction's
    own lines (its outcome, the host's approval, its clearing rows and the ``cites`` lines its kind's claim rests
    on), by role (the strongest a line has)."""
    rows: list[tuple[str, int, str]] = [
        (p, ln, role)
        for p, ln, role in evidence.filter(pl.col("cid") == cid).select("path", "line", "role").iter_rows()
    ] + (extra or [])
    for t in txns:
        line = t.get("line_result") or t.get("line_tx") or t.get("line_start")
        rows.append((t["path"], line, "charge"))
        if t.get("merchant_outcome") != "APPROVED" and t.get("host_path") and t.get("host_rc") == "00":
            # the terminal never saw the approval: the host's answer is what proves the charge
            rows.append((t["host_path"], t.get("host_resp_line") or t["host_line"], "charge"))
        rows += [(t["path"], t[column], "context") for column in cites if t.get(column) is not None]
        for ref in t.get("settle_lines") or []:
            path, _, number = ref.rpartition(":")
            rows.append((path, int(number), "clearing"))
    seen: dict[tuple[str, int], str] = {}
    for path, line, role in rows:
        key = (path, line)
        if key not in seen or _ROLE_ORDER.get(role, 9) < _ROLE_ORDER.get(seen[key], 9):
            seen[key] = role
    ordered = sorted(seen.items(), key=lambda kv: (_ROLE_ORDER.get(kv[1], 9), kv[0][0], kv[0][1]))
    return [Evidence(path, line, role) for (path, line), role in ordered]


#: the event columns that say what a multi-line record carries, shown after its first line in evidence
_RECORD_FACTS = ("mti", "stan", "rc", "auth", "rrn", "tid")


def _with_texts(findings: list[Finding], tl: Timeline) -> list[Finding]:
    """Every evidence line with its text, found in one pass over the events, citing the file each line is in."""
    wanted = pl.DataFrame(
        [(e.path, e.line) for f in findings for e in f.evidence],
        schema={"path": pl.String, "line": pl.Int64},
        orient="row",
    ).unique()
    # a record over several lines (a host's XML block) opens with a line that says little: the
    # fields it carries follow its first line, as read from the whole record
    facts = pl.concat_str(
        [pl.format(f"{name}={{}}", pl.col(name)) for name in _RECORD_FACTS], separator=" ", ignore_nulls=True
    )
    texts = (
        tl.events.lazy()
        .select(
            pl.col("stream").alias("_s"), pl.col("seq").alias("_q"), "path", "line", "text", "ts_utc", *_RECORD_FACTS
        )
        .join(wanted.lazy(), left_on=["_s", "_q"], right_on=["path", "line"], how="inner")
        .select("_s", "_q", "path", "line", "text", facts.alias("_f"), "ts_utc")  # the facts of the cited lines only
        .collect()
    )
    found = {(s, q): (p, n, t or "", f, at) for s, q, p, n, t, f, at in texts.iter_rows()}

    def shown(e: Evidence) -> Evidence:
        path, line, text, fields, at = found.get((e.path, e.line), (e.path, e.line, "", None, None))
        first = text.split("\n")[0]
        if "\n" in text:
            first += f" … [{fields}]" if fields else " …"
        return Evidence(path, line, e.role, first, at)

    return [replace(f, evidence=[shown(e) for e in f.evidence]) for f in findings]
