"""Sweeps that meet faults: a real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, one of
them killed during the sweep; a sweep interrupted and run again on the same folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forensics.fleet.sweep import sweep
from tests.conftest import SAMPLES
from tests.test_fleet import case_files, keys, one_case

#: Sample cases swept as one fleet (their devices, TIDs and MIDs differ).
CASES = ("dup_paper_out_rerun", "dup_migration_rerun", "refund_wrong_card", "cbd_crash", "deposit_completed_twice")
#: Longest a test waits for a process to start or a file to appear (s): generous, the machine may be busy.
PATIENCE = 180


def fleet_inputs() -> list[str]:
    return [f for case in CASES for f in case_files(SAMPLES / case)]


def expected() -> list[tuple]:
    return keys([f for case in CASES for f in one_case(case_files(SAMPLES / case))])


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def dask(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def scheduler_and_workers(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A scheduler on a random port of 127.0.0.1 and two one-thread workers without a nanny (a killed worker
    stays dead)."""
    from distributed import Client

    info = tmp_path / "scheduler.json"
    procs = [
        dask(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(info),
            log=tmp_path / "scheduler.txt",
        )
    ]
    try:
        wait_for(lambda: info.exists() and info.stat().st_size > 0, "the scheduler")
        address = json.loads(info.read_text())["address"]
        for n in (1, 2):
            procs.append(
                dask(
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    f"w{n}",
                    log=tmp_path / f"worker{n}.txt",
                )
            )
        with Client(address, timeout=PATIENCE) as client:
            client.wait_for_workers(2, timeout=PATIENCE)
        yield address, procs[1:]
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=3)  # a test cluster: no need to wait for a graceful exit
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_a_worker_killed_during_the_sweep_changes_nothing(
    scheduler_and_workers: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    address, workers = scheduler_and_workers
    out = tmp_path / "out"
    victim = workers[0]

    def kill_when_parsing_started() -> None:
        wait_for(lambda: any((out / "work").glob("*.json")), "the first parsed input")
        os.kill(victim.pid, signal.SIGKILL)

    import threading

    killer = threading.Thread(target=kill_when_parsing_started)
    killer.start()
    done = sweep(fleet_inputs(), out, scheduler=address)
    killer.join()
    assert victim.wait(timeout=30) == -signal.SIGKILL
    assert keys(json.loads((out / "findings.json").read_text())["findings"]) == expected()
    assert done.inputs["error"].is_null().all()
    run = json.loads((out / "run.json").read_text())
    assert run["scheduler"] == address and run["workers"] == 1
    assert not list(out.rglob(".*partial*")) and not list(out.glob(".events-*"))


@pytest.mark.slow
def test_an_interrupted_sweep_leaves_no_partial_file_and_the_next_run_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    inputs = fleet_inputs()
    cmd = [sys.executable, "-m", "forensics.cli", "sweep", *inputs, "-o", str(out), "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env)
    try:
        wait_for(lambda: len(list((out / "work").glob("*.json"))) >= 2, "two parsed inputs")
    finally:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()
    assert not list(out.rglob(".*partial*")) and not list(out.glob(".events-*"))
    assert not (out / "events").exists() and not (out / "findings.json").exists()
    parsed = len(list((out / "work").glob("*.json")))
    assert 2 <= parsed < len(inputs)

    done = sweep(inputs, out, workers=1)
    run = json.loads((out / "run.json").read_text())
    assert run["parsed_now"] == len(inputs) - parsed == done.run["parsed_now"]
    assert keys(json.loads((out / "findings.json").read_text())["findings"]) == expected()
