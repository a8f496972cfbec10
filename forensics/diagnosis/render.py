"""Findings in words: every sentence an analyst reads about a finding is written here.

``text`` is ``forensics diagnose``'s text output; the incident report (``forensics.report.incident``)
builds its sections from the same sentences, so the two never word a finding differently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forensics.diagnosis.finding import Evidence, Finding
from forensics.diagnosis.kinds import kinds
from forensics.diagnosis.wording import CAUSES
from forensics.disputes import no_dispute


def heading(f: Finding) -> str:
    """``F1: Charged twice (hardware fault)``: the finding in plain words."""
    return f"{f.id}: {kinds()[f.kind].title} ({CAUSES.get(f.cause, f.cause.replace('_', ' '))})"


def action(f: Finding) -> str:
    """``What to do: refund 25.28 CNY to card ****0144 ...``"""
    return f"What to do: {f.action[0].lower()}{f.action[1:]}."


#: below this confidence a cause is worded as a lead to check, not a conclusion
LOW_CONFIDENCE = 0.5


def tied(f: Finding) -> list[str]:
    """The alternative causes as strong as the winning one (to two decimals): the logs do not tell them apart."""
    return [a.cause for a in f.alternatives if round(a.confidence, 2) >= round(f.confidence, 2)]


def confidence_note(f: Finding) -> str | None:
    """In words, why the cause is not settled: a tie with other causes, or a low confidence; None when it is."""
    ties = tied(f)
    if ties:
        causes = [f.cause, *ties]
        names = ", ".join(causes[:-1]) + " and " + causes[-1]
        return (
            f"The cause is a tie: {names} are equally supported ({f.confidence:.2f} each), so the logs do not "
            f"decide between them; {f.cause} is named first only by order, check the lines for each"
        )
    if f.confidence < LOW_CONFIDENCE:
        if f.cause == "undetermined":
            return (
                f"Low confidence ({f.confidence:.2f}) in the cause only: no rule and no failure event explains it,"
                " so what failed is open; the discrepancy itself stands"
            )
        why = (
            "missing inputs lowered it (see the caveats)"
            if f.caveats
            else "it is read from the nearest failure event, as no rule describes the sequence"
            if any(r.startswith("failure:") for r in f.rules)
            else "other causes share the rules' weight"
            if f.alternatives
            else "few rules support it"
        )
        return f"Low confidence ({f.confidence:.2f}): {why}; treat {f.cause} as a lead to check, not a conclusion"
    return None


def cause(f: Finding) -> str:
    """``Cause: X (contributing: Y), confidence 0.87; alternatives: Z 0.11.``, and in words why the cause is
    not settled when it ties with another or its confidence is low (``confidence_note``)."""
    contributing = f" (contributing: {', '.join(f.contributing)})" if f.contributing else ""
    alternatives = "; ".join(f"{a.cause} {a.confidence:.2f}" for a in f.alternatives)
    note = confidence_note(f)
    return (
        f"Cause: {f.cause}{contributing}, confidence {f.confidence:.2f}"
        + (f"; alternatives: {alternatives}" if alternatives else "")
        + "."
        + (f" {note}." if note else "")
    )


def disputes(f: Finding) -> str:
    """``Disputes it supports: Visa 12.6.1 Duplicate processing; ...`` (docs/disputes.md), or why none."""
    found = f.disputes
    if not found:
        why = no_dispute(f.kind, f.shape)
        return f"Disputes it supports: none ({why})." if why else "Disputes it supports: none."
    return "Disputes it supports: " + "; ".join(d.label() for d in found) + "."


def transactions(f: Finding) -> str:
    """``Transactions: DEVICE inv INV stan STAN rrn RRN, ...``"""
    keys = ", ".join(
        f"{t.device} inv {t.inv} stan {t.stan}" + (f" rrn {t.rrn}" if t.rrn else "") for t in f.transactions
    )
    return f"Transactions: {keys}."


def caveats(f: Finding) -> list[str]:
    """``Caveat: ...`` for each thing a missing input leaves open."""
    return [f"Caveat: {note}." for note in f.caveats]


def rules(f: Finding) -> str | None:
    """``Rules: id, id.`` (None when no rule fired)."""
    return f"Rules: {', '.join(f.rules)}." if f.rules else None


def evidence(e: Evidence) -> str:
    """``[role] file:line (UTC 00:17:55.943): text``: the line as logged (its own, maybe local, stamp) with
    its time in UTC after clock correction beside it, when known."""
    at = f" (UTC {e.at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + ")" if e.at is not None else ""
    return f"[{e.role}] {Path(e.path).name}:{e.line}{at}: {e.text}"


def compliance(sightings: list[dict[str, Any]], shown: int = 10) -> str:
    """One sentence on the card data found in clear, naming the first ``shown`` sightings."""
    return f"Compliance: {len(sightings)} sighting(s) of card data in clear (masked above): " + ", ".join(
        f"{Path(c['path']).name}:{c['line']} {c['field']}" for c in sightings[:shown]
    )


def text(findings: list[Finding], inputs: int, sightings: list[dict[str, Any]], checked: str) -> str:
    """One paragraph per finding with its evidence, as an analyst would write it; ``checked`` says what the
    inputs let the analysis check and what they did not (``forensics.coverage``), with or without findings."""
    lines = [f"{len(findings)} finding(s) in {inputs} input(s)."]
    if not findings and checked.startswith("Checked: nothing"):
        lines.append(
            f"Nothing was checked: no input yielded an event, so no faulty charge is found or ruled out. {checked}"
        )
    elif not findings:
        lines.append(f"No faulty charge found. {checked}")
    else:
        lines.append(checked)
    for f in findings:
        lines += ["", f"{f.id} {f.kind}: {f.summary}.", f"   {cause(f)}", f"   {action(f)}", f"   {transactions(f)}"]
        lines.append(f"   {disputes(f)}")
        lines += [f"   {c}" for c in caveats(f)]
        lines += [f"   {evidence(e)}" for e in f.evidence]
        if rules(f):
            lines.append(f"   {rules(f)}")
    if sightings:
        lines += ["", compliance(sightings)]
    return "\n".join(lines) + "\n"
