"""Scores diagnosis findings against labelled truth with the matching rules of ../shared/cases/README.md.

One place for the rules both accuracy benchmarks use (`benchmarks/cases.py` on folders of
labelled cases, `benchmarks/accuracy.py` on the own simulator):

- a predicted finding matches an expected one when the kinds are equal and they share one
  transaction key: the same device and STAN (STANs compared as numbers, device names without
  case) or the same RRN; a finding's transaction without a device takes the finding's only
  device;
- finding recall counts expected findings matched; finding precision counts predictions that
  match an expected finding, over every case (clean cases included);
- cause accuracy is measured on matched findings (the best matching prediction of each
  expected finding: right cause first, then most keys shared, then highest confidence);
- cause macro-F1 is end to end: for cause c, a true positive is an expected finding of cause c
  matched by a prediction of cause c, a false negative an expected finding of cause c without
  one, a false positive a prediction of cause c that matches no expected finding of the same
  kind, cause and key;
- the simulator's truth may list ``unsupported`` incidents: real, but not provable from the
  inputs the case gives (a timeout's charge with neither host log nor clearing file). A
  prediction of one counts neither way (``../shared/cases`` have none, so its figures are as
  score.py's).

The figures agree with ``python3 ../shared/cases/score.py`` (same rounding: per-cause F1 to 4
places before the macro mean).
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forensics.analysis import diagnose
from forensics.errors import ForensicsError

KINDS = (
    "duplicate_charge",
    "amount_mismatch",
    "refund_error",
    "deposit_error",
    "charged_but_declined",
    "misrouted_funds",
    "ledger_mismatch",
)
CAUSES = (
    "hardware_fault",
    "software_bug",
    "operator_error",
    "migration_sync_delay",
    "network_timeout",
    "host_error",
    "undetermined",
)
TARGETS = {"finding recall": 0.95, "finding precision": 0.95, "cause macro-F1": 0.90}
ROLES = {"terminal": "T", "host": "H", "settlement": "S"}

Key = tuple[str, ...]

# what the command turns into exit status 2 with one line on stderr: a refusal of bad input, not a crash
REFUSALS = (ForensicsError,)
# a run of 13..19 digits not starting with 0 (no issued card number does; MIDs do), as score.py
_PAN_RUN = re.compile(r"(?<!\d)([1-9]\d{12,18})(?!\d)")


def stan_number(stan: Any) -> str | None:
    """A STAN as its number (``"004998"`` -> ``"4998"``); a non-numeric STAN as written; None when empty."""
    if stan is None:
        return None
    text = str(stan).strip()
    if not text.isdigit():
        return text or None
    return str(int(text))


def device_name(device: Any) -> str | None:
    """A device serial compared without case; None when empty."""
    if device is None:
        return None
    text = str(device).strip().upper()
    return text or None


def expected_keys(expected: dict[str, Any]) -> set[Key]:
    """The keys of an expected finding: ("rrn", RRN) and ("ds", DEVICE, STAN) per listed key."""
    keys: set[Key] = set()
    for k in expected.get("keys", []):
        if k.get("rrn"):
            keys.add(("rrn", str(k["rrn"]).strip()))
        if "stan" in k and "device" in k:
            keys.add(("ds", device_name(k["device"]), stan_number(k["stan"])))  # type: ignore[arg-type]
    return keys


def predicted_keys(finding: dict[str, Any]) -> set[Key]:
    """The keys of a predicted finding (spec/findings.md): RRN and device + STAN of each transaction."""
    keys: set[Key] = set()
    devices = finding.get("devices") or []
    for t in finding.get("transactions") or []:
        if not isinstance(t, dict):
            continue
        if t.get("rrn"):
            keys.add(("rrn", str(t["rrn"]).strip()))
        stan = stan_number(t.get("stan"))
        device = device_name(t.get("device")) or (device_name(devices[0]) if len(devices) == 1 else None)
        if stan and device:
            keys.add(("ds", device, stan))
    return keys


def input_set(roles: Iterable[str]) -> str:
    """``T+H+S``-style label of which inputs were given (terminal, host, settlement)."""
    given = set(roles)
    return "+".join(letter for role, letter in ROLES.items() if role in given) or "none"


def pan_leaks(text: str) -> int:
    """Full card numbers (Luhn-valid runs) in a findings document's card or text fields, as score.py counts them."""
    return sum(
        1
        for m in _PAN_RUN.finditer(text)
        if _luhn_ok(m.group(1)) and re.search(r'"(pan|masked|text|summary|value|DE2)"[^\n]{0,200}' + m.group(1), text)
    )


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


@dataclass
class Run:
    """One in-process diagnosis: the findings document (None when it failed) and its text."""

    document: dict[str, Any] | None
    text: str
    error: str | None
    crashed: bool
    seconds: float


def analyze(paths: Iterable[str | Path], **load_options: Any) -> Run:
    """Diagnose ``paths`` through the library (``diagnose(...).to_json()``, the bytes of ``forensics diagnose
    --format json``); an exception is recorded, as a refusal (the command's exit 2) or a crash."""
    started = time.perf_counter()
    try:
        text = diagnose([str(p) for p in paths], **load_options).to_json()
    except REFUSALS as exc:
        return Run(None, "", f"refused: {exc}"[:200], False, time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - a crash is counted, it does not stop the benchmark
        where = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"crash: {type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"[:200]
        return Run(None, "", error, True, time.perf_counter() - started)
    return Run(json.loads(text), text, None, False, time.perf_counter() - started)


@dataclass
class CaseScore:
    """How one case scored."""

    case: str
    family: str
    inputs: str
    expected: int = 0
    matched: int = 0
    cause_ok: int = 0
    cause_ok_lenient: int = 0
    predicted: int = 0
    predicted_matched: int = 0
    forbidden: int = 0
    unsupported: int = 0  # predictions of incidents the given inputs cannot prove, left out of the score
    schema_errors: int = 0
    pan_leaks: int = 0
    compliance_expected: int = 0
    compliance_found: int = 0
    error: str | None = None
    crashed: bool = False
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def false_positives(self) -> int:
        """Predictions that match no expected finding."""
        return self.predicted - self.predicted_matched

    @property
    def right(self) -> bool:
        """Every expected finding found with its cause, nothing else predicted, no error."""
        return (
            self.matched == self.expected
            and self.cause_ok == self.expected
            and not self.false_positives
            and self.error is None
        )


@dataclass
class _Group:
    cases: int = 0
    expected: int = 0
    matched: int = 0
    cause_ok: int = 0
    predicted: int = 0
    false_positives: int = 0
    forbidden: int = 0
    errors: int = 0
    seconds: float = 0.0

    def add(self, s: CaseScore) -> None:
        self.cases += 1
        self.expected += s.expected
        self.matched += s.matched
        self.cause_ok += s.cause_ok
        self.predicted += s.predicted
        self.false_positives += s.false_positives
        self.forbidden += s.forbidden
        self.errors += bool(s.error or s.pan_leaks)
        self.seconds += s.seconds


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


class Scoreboard:
    """Scores cases one by one and sums them: totals, per cause, per family, per input set, confusion."""

    def __init__(self) -> None:
        self.cases: list[CaseScore] = []
        self.cause_tp: Counter[str] = Counter()
        self.cause_fn: Counter[str] = Counter()
        self.cause_fp: Counter[str | None] = Counter()
        self.confusion: Counter[tuple[str, str | None]] = Counter()

    def add(self, case: str, family: str, inputs: str, truth: dict[str, Any], run: Run) -> CaseScore:
        """Score one case: ``truth`` as a case's truth.json (``expected``, ``forbidden_kinds``,
        ``compliance``), ``run`` the analyzer's output; ``inputs`` labels the input set."""
        s = CaseScore(case, family, inputs, error=run.error, crashed=run.crashed, seconds=run.seconds)
        document, error = run.document, run.error
        findings: list[dict[str, Any]] = []
        if document is not None:
            for f in document.get("findings") or []:
                if not isinstance(f, dict):
                    s.schema_errors += 1
                    continue
                if f.get("kind") not in KINDS or f.get("cause") not in CAUSES or not f.get("evidence"):
                    s.schema_errors += 1
                findings.append(f)
            s.pan_leaks = pan_leaks(run.text)
        expected = truth.get("expected", [])
        forbidden = set(truth.get("forbidden_kinds", []))
        ekeys = [expected_keys(e) for e in expected]
        pkeys = [predicted_keys(f) for f in findings]
        # incidents the given inputs cannot prove (the simulator's ``unsupported``): a prediction of one
        # is neither required nor false
        unsupported = [(u["kind"], expected_keys(u)) for u in truth.get("unsupported", [])]
        kept = [
            j
            for j, f in enumerate(findings)
            if not any(f.get("kind") == kind and pkeys[j] & keys for kind, keys in unsupported)
        ]
        s.unsupported = len(findings) - len(kept)
        findings, pkeys = [findings[j] for j in kept], [pkeys[j] for j in kept]
        matched_predictions: set[int] = set()
        for e, keys in zip(expected, ekeys, strict=False):
            cause = e["cause"]
            candidates = [j for j, f in enumerate(findings) if f.get("kind") == e["kind"] and pkeys[j] & keys]
            matched_predictions.update(candidates)
            s.expected += 1
            if not candidates:
                self.cause_fn[cause] += 1
                self.confusion[(cause, None)] += 1
                s.problems.append(f"missed {e['kind']} ({cause})")
                continue
            s.matched += 1
            best = max(
                candidates,
                key=lambda j: (
                    findings[j].get("cause") == cause,
                    len(pkeys[j] & keys),
                    float(findings[j].get("confidence") or 0),
                ),
            )
            got = findings[best].get("cause")
            self.confusion[(cause, got)] += 1
            s.cause_ok += got == cause
            s.cause_ok_lenient += got == cause or got in (e.get("contributing") or [])
            if got != cause:
                s.problems.append(f"{e['kind']} cause {got} instead of {cause}")
            if any(findings[j].get("cause") == cause for j in candidates):
                self.cause_tp[cause] += 1
            else:
                self.cause_fn[cause] += 1
        for f, keys in zip(findings, pkeys, strict=False):
            if not any(
                f.get("kind") == e["kind"] and f.get("cause") == e["cause"] and keys & k
                for e, k in zip(expected, ekeys, strict=False)
            ):
                self.cause_fp[f.get("cause")] += 1
        s.predicted = len(findings)
        s.predicted_matched = len(matched_predictions)
        s.forbidden = sum(1 for f in findings if f.get("kind") in forbidden)
        for j, f in enumerate(findings):
            if j not in matched_predictions:
                s.problems.append(f"spurious {f.get('kind')} ({f.get('cause')})")
        wanted = {(c["path"], int(c["line"])) for c in truth.get("compliance", [])}
        seen: set[tuple[str, int]] = set()
        if document is not None and isinstance(document.get("compliance"), list):
            for c in document["compliance"]:
                if isinstance(c, dict) and c.get("kind", "full_pan") == "full_pan":
                    try:
                        seen.add((os.path.basename(str(c.get("path"))), int(c.get("line"))))  # type: ignore[arg-type]
                    except (TypeError, ValueError):
                        pass
        s.compliance_expected = len(wanted)
        s.compliance_found = len(wanted & seen)
        if error:
            s.problems.append(error)
        self.cases.append(s)
        return s

    # -- figures ---------------------------------------------------------------------------

    def _sum(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.cases)

    def per_cause(self) -> dict[str, dict[str, float]]:
        """tp, fn, fp, precision, recall and F1 (4 places) of each cause seen in truth or predictions."""
        causes = sorted(set(self.cause_tp) | set(self.cause_fn) | {c for c in self.cause_fp if c})
        out: dict[str, dict[str, float]] = {}
        for c in causes:
            tp, fn, fp = self.cause_tp[c], self.cause_fn[c], self.cause_fp[c]
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / (tp + fn) if tp + fn else 0.0
            out[c] = {
                "tp": tp,
                "fn": fn,
                "fp": fp,
                "precision": round(p, 4),
                "recall": round(r, 4),
                "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            }
        return out

    def summary(self) -> dict[str, Any]:
        """The figures as one dictionary (ratios rounded to 4 places, None when undefined)."""
        per_cause = self.per_cause()
        matched = self._sum("matched")
        macro = round(sum(v["f1"] for v in per_cause.values()) / len(per_cause), 4) if per_cause else 0.0
        return {
            "cases": len(self.cases),
            "expected_findings": self._sum("expected"),
            "predicted_findings": self._sum("predicted"),
            "finding_recall": _ratio(matched, self._sum("expected")),
            "finding_precision": _ratio(self._sum("predicted_matched"), self._sum("predicted")),
            "false_positives": self._sum("false_positives"),
            "clean_cases_with_findings": sum(1 for s in self.cases if not s.expected and s.predicted),
            "forbidden_kind_findings": self._sum("forbidden"),
            "cause_accuracy": _ratio(self._sum("cause_ok"), matched),
            "cause_accuracy_lenient": _ratio(self._sum("cause_ok_lenient"), matched),
            "cause_macro_f1": macro,
            "per_cause": per_cause,
            "compliance_recall": _ratio(self._sum("compliance_found"), self._sum("compliance_expected")),
            "crashes": sum(1 for s in self.cases if s.crashed),
            "errors": sum(1 for s in self.cases if s.error),
            "schema_errors": self._sum("schema_errors"),
            "pan_leaks": self._sum("pan_leaks"),
            "seconds": round(sum(s.seconds for s in self.cases), 2),
        }

    def groups(self, by: str) -> dict[str, _Group]:
        """Per ``family`` or per ``inputs`` (input set) sums, sorted by name."""
        out: dict[str, _Group] = {}
        for s in self.cases:
            out.setdefault(getattr(s, by), _Group()).add(s)
        return dict(sorted(out.items()))

    def targets_met(self) -> bool:
        """Recall, precision and macro-F1 reach TARGETS, with no crash."""
        s = self.summary()
        got = {
            "finding recall": s["finding_recall"],
            "finding precision": s["finding_precision"],
            "cause macro-F1": s["cause_macro_f1"],
        }
        return s["crashes"] == 0 and all(got[k] is not None and got[k] >= v for k, v in TARGETS.items())

    def report(self, title: str, *, worst: int = 15) -> str:
        """The figures as text: totals, per cause, per family, per input set, confusion, cases not right, target."""
        s = self.summary()

        def pct(x: float | None) -> str:
            return "  n/a" if x is None else f"{100 * x:5.1f}%"

        lines = [
            title,
            f"cases {s['cases']}, expected findings {s['expected_findings']}, predicted {s['predicted_findings']}",
            f"finding recall     {pct(s['finding_recall'])}",
            f"finding precision  {pct(s['finding_precision'])}   (false positives {s['false_positives']}, clean "
            f"cases with findings {s['clean_cases_with_findings']}, forbidden-kind findings "
            f"{s['forbidden_kind_findings']})",
            f"cause accuracy     {pct(s['cause_accuracy'])}   (lenient, contributing accepted: "
            f"{pct(s['cause_accuracy_lenient'])})",
            f"cause macro-F1     {100 * s['cause_macro_f1']:5.1f}",
        ]
        for c, v in s["per_cause"].items():
            lines.append(
                f"    {c:22s} tp={v['tp']:3d} fn={v['fn']:3d} fp={v['fp']:3d}  P={100 * v['precision']:5.1f} "
                f"R={100 * v['recall']:5.1f} F1={100 * v['f1']:5.1f}"
            )
        lines.append(f"compliance recall  {pct(s['compliance_recall'])}")
        lines.append(
            f"crashes {s['crashes']}, errors {s['errors']}, schema errors {s['schema_errors']}, "
            f"full-PAN leaks {s['pan_leaks']}; analyzer time {s['seconds']:.1f} s"
        )
        for by, head in (("family", "family"), ("inputs", "input set")):
            lines.append("")
            lines.append(
                f"{head:28s} {'cases':>5s} {'exp':>4s} {'hit':>4s} {'cause':>5s} {'pred':>5s} {'fp':>4s} "
                f"{'forb':>4s} {'err':>4s} {'recall':>7s} {'prec':>7s} {'wall s':>7s}"
            )
            for name, g in self.groups(by).items():
                lines.append(
                    f"{name:28s} {g.cases:5d} {g.expected:4d} {g.matched:4d} {g.cause_ok:5d} {g.predicted:5d} "
                    f"{g.false_positives:4d} {g.forbidden:4d} {g.errors:4d} "
                    f"{pct(_ratio(g.matched, g.expected)):>7s} "
                    f"{pct(_ratio(g.predicted - g.false_positives, g.predicted)):>7s} {g.seconds:7.1f}"
                )
        lines.append("")
        lines.extend(self._confusion_lines())
        wrong = [c for c in self.cases if not c.right]
        lines.append("")
        lines.append(f"cases not right: {len(wrong)}" + (f" (first {worst})" if len(wrong) > worst else ""))
        for c in wrong[:worst]:
            lines.append(f"    {c.case:28s} {c.inputs:6s} " + "; ".join(c.problems)[:160])
        met = self.targets_met()
        lines.append("")
        lines.append(
            "target ("
            + ", ".join(f"{k} >= {v:.2f}" for k, v in TARGETS.items())
            + ", no crash): "
            + ("met" if met else "NOT met")
        )
        return "\n".join(lines) + "\n"

    def _confusion_lines(self) -> list[str]:
        rows = sorted({a for a, _ in self.confusion}, key=lambda c: (c not in CAUSES, c))
        columns = sorted({b for _, b in self.confusion if b}, key=lambda c: (c not in CAUSES, c))
        head = "confusion (rows: expected cause; columns: cause of the best matching prediction, (missed) none)"
        out = [head, " " * 24 + "".join(f"{c[:11]:>12s}" for c in columns) + f"{'(missed)':>12s}"]
        for r in rows:
            out.append(
                f"    {r:20s}"
                + "".join(f"{self.confusion[(r, c)]:12d}" for c in columns)
                + f"{self.confusion[(r, None)]:12d}"
            )
        spurious = Counter({c: n for c, n in self.cause_fp.items() if n})
        if spurious:
            out.append(
                "predictions matching no expected finding of their kind, cause and key, by cause: "
                + ", ".join(f"{c} {n}" for c, n in sorted(spurious.items(), key=lambda x: str(x[0])))
            )
        return out
