"""A finding: one faulty charge, its cause and the log lines that show it (spec/findings.md).

``Finding.to_dict()`` is the one place the JSON contract's finding object is written; the other
fields (``rules``, ``first_ts``, ...) are what the analysis knows besides and never reach the JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from forensics.disputes import Dispute, disputes


@dataclass(frozen=True)
class TransactionRef:
    """A transaction a finding lists, by the keys an analyst looks it up with."""

    #: the device's serial (a swapped device may reuse its TID and reset its STANs)
    device: str
    tid: str | None
    stan: str | None
    #: invoice number
    inv: str | None
    #: retrieval reference number
    rrn: str | None
    #: approval code
    auth: str | None
    #: when it was sent (else started), ISO 8601 UTC with offset, milliseconds
    ts: str | None


@dataclass(frozen=True)
class Evidence:
    """A log line that shows part of a finding."""

    #: the input path as given
    path: str
    #: 1-based line number in ``path``
    line: int
    #: what the line shows: trigger, defect, action, context, charge or clearing
    role: str
    #: the line's first physical line; a record that continues on more lines adds `` … [field=value ...]``
    #: (its message type, STAN, response code, approval code, RRN, TID); None until texts are attached
    text: str | None = None
    #: the line's time in UTC after clock correction (shown beside its local stamp; not in the JSON)
    at: datetime | None = None


@dataclass(frozen=True)
class Alternative:
    """A cause the rules also support, with its confidence."""

    cause: str
    confidence: float


#: The finding object's keys in spec/findings.md, in the order ``to_dict`` writes them.
JSON_KEYS = (
    "id",
    "kind",
    "cause",
    "contributing",
    "confidence",
    "summary",
    "tid",
    "devices",
    "amount",
    "currency",
    "transactions",
    "evidence",
    "alternatives",
    "caveats",
    "disputes",
)


@dataclass(frozen=True)
class Finding:
    """One finding. The fields up to ``caveats`` are the JSON contract's; the rest stay inside."""

    #: ``F1``, ``F2``, ... in order of the first transaction's time
    id: str
    #: the finding kind (``forensics/diagnosis/kinds/``)
    kind: str
    #: the winning cause (``undetermined`` when no rule fired)
    cause: str
    #: secondary causes the winning rules name
    contributing: list[str]
    #: the winning cause's share of the rules' weight, lowered by caveats (0 to 1, two decimals)
    confidence: float
    #: one sentence: what happened and why
    summary: str
    #: the first transaction's TID
    tid: str | None
    #: every device of the finding's transactions, sorted
    devices: list[str]
    #: decimal string in the currency's minor unit, or None when unknown
    amount: str | None
    #: ISO 4217 alphabetic code, or None when unknown
    currency: str | None
    transactions: list[TransactionRef]
    evidence: list[Evidence]
    #: the other causes the rules support, strongest first
    alternatives: list[Alternative]
    #: what missing inputs leave open (each lowered the confidence)
    caveats: list[str]
    #: ids of the winning cause's rules, sorted
    rules: list[str]
    #: the first transaction's start (UTC): the findings' order
    first_ts: datetime
    #: the winning incident rule's id and column values (findings that share them merge), or None
    incident: tuple[Any, ...] | None
    #: the winning rule's description (the summary's "why")
    why: str
    #: decimals of the currency's minor unit
    exponent: int
    #: ``amount`` in minor units
    amount_minor: int | None
    #: what to do to put it right, in one sentence (the kind's ``action``)
    action: str
    #: the first transaction's card, masked (None: no input showed it)
    card: str | None
    #: what the finding found, among its kind's shapes or the disagreement shapes (None: the kind's story
    #: alone); it decides the dispute categories
    shape: str | None = None

    @property
    def disputes(self) -> list[Dispute]:
        """The card networks' dispute categories this finding supports (``forensics/data/disputes.toml``)."""
        return disputes(self.kind, self.shape)

    def to_dict(self) -> dict[str, Any]:
        """The finding object of spec/findings.md (JSON-ready Python values), with ``disputes``: the dispute
        categories it supports (network, code, title, evidence; docs/disputes.md)."""
        out = {key: getattr(self, key) for key in JSON_KEYS}
        for key in ("transactions", "evidence", "alternatives"):
            out[key] = [asdict(item) for item in out[key]]
        for e in out["evidence"]:
            del e["at"]
        out["disputes"] = [d.to_dict() for d in out["disputes"]]
        return {key: list(v) if key in ("contributing", "devices", "caveats") else v for key, v in out.items()}

    def __getitem__(self, key: str) -> Any:
        """Read-only access by JSON key (``f["kind"]``), as the JSON document reads; for notebooks and charts."""
        if key not in JSON_KEYS:
            raise KeyError(key)
        return self.to_dict()[key]
