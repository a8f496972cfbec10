"""The failure taxonomy (forensics/data/failures.toml): checked when it loads, and read for the cause of a
discrepancy no attribution rule describes."""

from __future__ import annotations

import pytest

from forensics.analysis import diagnose
from forensics.diagnosis import RuleSet
from forensics.diagnosis.failures import Taxonomy, default_taxonomy
from forensics.diagnosis.rules import CAUSES
from forensics.errors import RuleError
from forensics.events import KINDS

from .conftest import SAMPLES


def test_shipped_taxonomy_loads_and_names_known_kinds() -> None:
    taxonomy = default_taxonomy()
    assert taxonomy.failures
    assert {f.cause for f in taxonomy.failures} == set(CAUSES) - {"undetermined"}  # every part can be named
    assert all(k in KINDS for f in taxonomy.failures for k in f.kinds)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('id = "x"\ncomponent = "c"\ncause = "bad"\nkind = "app.crash"\nweight = 1\ndescription = "d"', "cause"),
        ('id = "x"\ncomponent = "c"\ncause = "software_bug"\nkind = "nope"\nweight = 1\ndescription = "d"', "kind"),
        (
            'id = "x"\ncomponent = "c"\ncause = "software_bug"\nkind = "app.crash"\nweight = 0\ndescription = "d"',
            "weight",
        ),
        (
            'id = "x"\ncomponent = "c"\ncause = "software_bug"\nkind = "app.crash"\nweight = 1\ndescription = "d"\n'
            'where = { colour = "red" }',
            "colour",
        ),
        (
            'id = "x"\ncomponent = "c"\ncause = "software_bug"\nkind = "printer.status"\nweight = 1\n'
            'description = "d"\nwhere = { code = "two" }',
            "code",
        ),
        ('id = "x"\ncause = "software_bug"\nkind = "app.crash"\nweight = 1\ndescription = "d"', "component"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_field(entry: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        Taxonomy("[[failure]]\n" + entry, name="test.toml")


def _shipped_sources() -> list[tuple[str, str]]:
    from importlib.resources import files

    folder = files("forensics.rules")
    return sorted((e.name, e.read_text(encoding="utf-8")) for e in folder.iterdir() if e.name.endswith(".toml"))


def test_cause_is_read_from_the_nearest_failure_when_no_rule_describes_the_sequence() -> None:
    """With the duplicate rules removed, the printer fault after the first approval still names the cause."""
    folder = SAMPLES / "dup_paper_out_rerun"
    rules = RuleSet([(n, t if n != "duplicate_charge.toml" else "") for n, t in _shipped_sources()])
    found = diagnose(sorted(folder.glob("*.log")) + sorted(folder.glob("*.csv")), rules=rules, tz="Asia/Tokyo")
    dup = [f for f in found.findings if f.kind == "duplicate_charge"]
    assert len(dup) == 1
    finding = dup[0]
    assert finding.cause == "hardware_fault"
    assert finding.contributing == ["operator_error"]
    assert finding.rules == ["failure:printer-fault"]
    assert 0 < finding.confidence <= 0.6
    triggers = [e for e in finding.evidence if e.role == "trigger"]
    assert any("Printer" in e.text or "paper" in e.text.lower() for e in triggers)
    assert "no attribution rule describes" in finding.summary


def test_no_finding_of_any_sample_has_confidence_zero() -> None:
    for folder in sorted(p for p in SAMPLES.iterdir() if (p / "truth.json").is_file()):
        paths = sorted(p for p in folder.iterdir() if p.suffix in (".log", ".csv"))
        for finding in diagnose(paths).findings:
            assert finding.confidence > 0, (folder.name, finding.id, finding.cause)


def test_an_error_no_dialect_maps_still_names_the_part_that_failed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A vendor's own words for a card reader failure (an E line under its own tag) between the approval and
    the re-run make the cause hardware_fault when no rule describes the sequence."""
    folder = SAMPLES / "dup_operator_rerun"
    log = folder / "A920-9159.log"
    lines = log.read_bytes().split(b"\n")
    at = next(i for i, ln in enumerate(lines) if b"PRINT receipt inv=001946" in ln) + 1
    lines.insert(at, b"2026-05-28 10:20:30.100  8372  8459 E CardRdr : read failed, contacts dirty (err 7)")
    (tmp_path / log.name).write_bytes(b"\n".join(lines))
    others = [p for p in folder.iterdir() if p.suffix in (".log", ".csv") and p.name != log.name]
    rules = RuleSet([(n, t if n != "duplicate_charge.toml" else "") for n, t in _shipped_sources()])
    (finding,) = diagnose([tmp_path / log.name, *others], rules=rules).findings
    assert (finding.kind, finding.cause, finding.rules) == (
        "duplicate_charge",
        "hardware_fault",
        ["failure:error-names-card-reader"],
    )
    assert any("CardRdr" in e.text for e in finding.evidence if e.role == "trigger")
