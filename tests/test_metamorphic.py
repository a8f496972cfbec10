"""Metamorphic tests: findings (kind, cause, device + STAN and RRN keys) do not change under transformations of
the inputs that change nothing an analyst would conclude (issue 12, item 4).

Each selected case is diagnosed once as given (the baseline, cached) and once per transformation
(tests/metamorphic.py). Dropping an input is checked where the remaining evidence suffices:

- without the settlement file, kinds that only the clearing file shows are left out of the
  comparison on both sides: a ``duplicate_charge`` caused by ``host_error`` (the acquirer cleared
  an item twice; the host log and the terminal show one charge) and ``ledger_mismatch`` (device
  batch, host and settlement disagree: without settlement one of the three is missing). Every
  other kind is shown by the terminal and the host log: the host's approval, the reversal's fate
  and the amounts;
- without the host log, every kind is compared: the settlement file carries TID, STAN, RRN,
  approval code, amount and MID of each cleared item, and the terminal log its side; RRN keys are
  left out on both sides (the host log is one of their sources).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from tests import metamorphic as M
from tests.conftest import SAMPLES

# (where, case folder): samples from sample_logs/ (simulated), shared from ../shared/cases (written independently);
# chosen small, with findings of several kinds and causes, logcat and syslog, one or two devices, and a clean day
CASES = [
    ("sample", "dup_paper_out_rerun"),
    ("sample", "dup_timeout_other_lane"),
    ("sample", "misrouted_wrong_mid"),
    ("sample", "cbd_reversal_dropped"),
    ("sample", "refund_wrong_card"),
    ("sample", "clean_day"),
    ("shared", "dup_migration_2"),
    ("shared", "dup_host_1"),
    ("shared", "refund_1"),
    ("shared", "lookalike_2"),
]


def _needs_settlement(key: M.Fingerprint) -> bool:
    kind, cause, _ = key
    return kind == "ledger_mismatch" or (kind, cause) == ("duplicate_charge", "host_error")


Transform = Callable[[M.CaseInputs], tuple[M.CaseInputs, dict[str, str]]]
# name -> (transformation, keep RRN keys, findings left out of the comparison)
TRANSFORMS: dict[str, tuple[Transform, bool, Callable[[M.Fingerprint], bool] | None]] = {
    "drop_settlement": (lambda c: (M.drop(c, "settlement"), {}), True, _needs_settlement),
    "drop_host": (lambda c: (M.drop(c, "host"), {}), False, None),
    "clock_plus_10min": (lambda c: (M.shift_clock(c, 10), {}), True, None),
    "clock_minus_10min": (lambda c: (M.shift_clock(c, -10), {}), True, None),
    "lines_duplicated": (lambda c: (M.duplicate_lines(c), {}), True, None),
    "files_reordered": (lambda c: (M.reorder(c), {}), True, None),
    "log_rotated_in_two": (lambda c: (M.split_rotated(c), {}), True, None),
    "quiet_day_before": (lambda c: (M.quiet_day_before(c), {}), True, None),
    "serials_renamed": (M.rename_devices, True, None),
}


def _params() -> list:
    out = []
    for where, case in CASES:
        for name in TRANSFORMS:
            out.append(pytest.param(where, case, name, id=f"{case}-{name}"))
    return out


@pytest.fixture(scope="module")
def baselines() -> dict[str, tuple[M.CaseInputs, list[dict]]]:
    """Cache: case -> (its inputs, its findings as given), each case diagnosed once."""
    return {}


def _baseline(
    where: str, case: str, request: pytest.FixtureRequest, cache: dict, tmp: pytest.TempPathFactory
) -> tuple[M.CaseInputs, list[dict]]:
    if case not in cache:
        folder = SAMPLES / case if where == "sample" else request.getfixturevalue("shared") / "cases" / case
        inputs = M.CaseInputs.from_folder(folder)
        cache[case] = (inputs, M.findings(inputs, tmp.mktemp(f"{case}-as-given")))
    return cache[case]


def _compared(found: Counter[M.Fingerprint], left_out: Callable[[M.Fingerprint], bool] | None) -> Counter:
    return Counter({k: n for k, n in found.items() if not (left_out and left_out(k))})


@pytest.mark.slow
@pytest.mark.parametrize("where, case, name", _params())
def test_findings_do_not_change(
    where: str,
    case: str,
    name: str,
    request: pytest.FixtureRequest,
    baselines: dict,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    inputs, found = _baseline(where, case, request, baselines, tmp_path_factory)
    transform, rrn, left_out = TRANSFORMS[name]
    if name.startswith("drop_") and (not inputs.named("host") or not inputs.named("settlement")):
        pytest.fail(f"{case} lacks an input: dropping another leaves no dated anchor; choose another case")
    changed, devices = transform(inputs)
    assert changed.files != inputs.files or name == "files_reordered" and list(changed.files) != list(inputs.files)
    before = _compared(M.fingerprint(found, rrn=rrn), left_out)
    after = _compared(
        M.fingerprint(M.findings(changed, tmp_path_factory.mktemp(f"{case}-{name}")), devices=devices, rrn=rrn),
        left_out,
    )
    assert after == before


# -- the transformations themselves ---------------------------------------------------------


@pytest.mark.parametrize(
    "line, minutes, year, shifted",
    [
        (b"12-31 23:55:00.123  1 2 I X: a\n", 10, 2025, b"01-01 00:05:00.123  1 2 I X: a\n"),
        (b"2025-12-31 23:55:00.123  1 2 I X: a\r\n", 10, 2025, b"2026-01-01 00:05:00.123  1 2 I X: a\r\n"),
        (b"<6>Feb 13 09:12:33 VX690-1 kernel: x\n", -10, 2026, b"<6>Feb 13 09:02:33 VX690-1 kernel: x\n"),
        (b"Dec 24 08:21:17.276010 V200C-3 sys[1]: y\n", 10, 2025, b"Dec 24 08:31:17.276010 V200C-3 sys[1]: y\n"),
        (b"Sep  9 23:55:01 h p: x\n", 10, 2025, b"Sep 10 00:05:01 h p: x\n"),
        (b"Sep 10 00:05:01 h p: x\n", -10, 2025, b"Sep  9 23:55:01 h p: x\n"),
        (b"Sep 09 23:55:01 h p: x\n", 10, 2025, b"Sep 10 00:05:01 h p: x\n"),
        (b"Mar  1 00:05:00 h x\n", -10, 2024, b"Feb 29 23:55:00 h x\n"),
        (b"03-01 00:05:00.000 h x\n", -10, 2025, b"02-28 23:55:00.000 h x\n"),
        (b"\tat com.pay.Main(Main.java:1)\n", 10, 2025, b"\tat com.pay.Main(Main.java:1)\n"),
    ],
)
def test_shift_stamp(line: bytes, minutes: int, year: int, shifted: bytes) -> None:
    from datetime import timedelta

    assert M.shift_stamp(line, timedelta(minutes=minutes), year) == shifted


def _toy() -> M.CaseInputs:
    terminal = (
        b"01-05 08:00:00.000  1  1 I TMS     : device serial=AB1-0001 tid=T1 mid=M1\n"
        b"01-05 08:00:01.000  1  1 I healthd : battery l=65\n"
        b"01-05 08:01:00.000  1  2 I Comm    : CONNECT host=acq1 ok ms=41\n"
        b"01-05 08:01:01.000  1  2 I TransProcess: RESULT status=APPROVED inv=000001 stan=000007 rc=00\n"
        b"01-05 08:01:02.000  1  2 E AndroidRuntime: FATAL EXCEPTION: main\n"
        b"\tat com.pay.Main(Main.java:1)\n"
        b"01-05 08:02:00.000  1  2 I healthd : battery l=64\n"
    )
    return M.CaseInputs(
        {
            "AB1-0001.log": terminal,
            "host.log": b'<log at="2026-01-05T08:01:00.000">\n',
            "settlement.csv": b"settle_date,tid\n2026-01-05,T1\n",
        },
        {"AB1-0001.log": "terminal", "host.log": "host", "settlement.csv": "settlement"},
    )


def test_transformations_of_a_toy_case() -> None:
    case = _toy()
    assert case.year() == 2026
    log = case.files["AB1-0001.log"]
    doubled = M.duplicate_lines(case).files["AB1-0001.log"]
    assert doubled.count(b"stan=000007") == 2 and doubled.count(b"battery") == 2 and len(doubled.splitlines()) == 8
    rotated = M.split_rotated(case)
    assert list(rotated.files)[:2] == ["AB1-0001.log.1", "AB1-0001.log"]
    assert rotated.roles["AB1-0001.log.1"] == "terminal"
    assert rotated.files["AB1-0001.log.1"] + rotated.files["AB1-0001.log"] == log
    assert not rotated.files["AB1-0001.log"].startswith(b"\t")  # never inside a multi-line record
    two_days = M.quiet_day_before(case).files["AB1-0001.log"]
    assert (
        two_days
        == (
            b"01-04 08:00:00.000  1  1 I TMS     : device serial=AB1-0001 tid=T1 mid=M1\n"
            b"01-04 08:00:01.000  1  1 I healthd : battery l=65\n"
        )
        + log
    )
    renamed, back = M.rename_devices(case)
    (new,) = back
    assert back == {new: "AB1-0001"} and f"{new}.log" in renamed.files and renamed.roles[f"{new}.log"] == "terminal"
    assert b"AB1-0001" not in renamed.files[f"{new}.log"] and f"serial={new} ".encode() in renamed.files[f"{new}.log"]
    assert list(M.reorder(case).files) == ["settlement.csv", "host.log", "AB1-0001.log"]
    earlier = b"01-05 07:00:00.000  1  1 I TMS     : device serial=AB0-0002 tid=T1 mid=M1\n"
    fleet = M.CaseInputs({"AB0-0002.log": earlier, **case.files}, {"AB0-0002.log": "terminal", **case.roles})
    assert M.quiet_day_before(fleet).files["AB0-0002.log"] == earlier.replace(b"01-05", b"01-04") + earlier
    assert list(M.drop(case, "host").files) == ["AB1-0001.log", "settlement.csv"]


def test_fingerprint_compares_stans_as_numbers_and_maps_renamed_devices() -> None:
    found = [
        {
            "kind": "duplicate_charge",
            "cause": "operator_error",
            "transactions": [{"device": "RN1-0001", "stan": "000042", "rrn": "9"}],
        }
    ]
    assert M.fingerprint(found, devices={"RN1-0001": "ab-1"}) == Counter(
        {("duplicate_charge", "operator_error", frozenset({("ds", "AB-1", "42"), ("rrn", "9")})): 1}
    )
    assert M.fingerprint(found, rrn=False) == Counter(
        {("duplicate_charge", "operator_error", frozenset({("ds", "RN1-0001", "42")})): 1}
    )
