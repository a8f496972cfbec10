"""Progress on stderr: silent for quick work, one line redrawn in place for long work."""

import io
from pathlib import Path

import forensics
from forensics.progress import Bar
from tests.conftest import sample_log_files


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_quick_work_shows_nothing_and_long_work_one_line_redrawn() -> None:
    out, clock = io.StringIO(), Clock()
    bar = Bar(out, delay=2.0, clock=clock)
    bar("/x/device.log", 10_000_000, 100_000_000, 90_000)
    clock.now = 1.0
    bar("/x/device.log", 20_000_000, 100_000_000, 180_000)
    assert out.getvalue() == ""  # under two seconds: nothing
    clock.now = 4.0
    bar("/x/device.log", 45_000_000, 100_000_000, 450_000)
    line = out.getvalue()
    assert line.startswith("\r\x1b[K") and "\n" not in line
    assert "reading device.log" in line and " 45%" in line and "45.0MB of 100.0MB" in line
    assert "450.0k lines" in line and "112.5k lines/s" in line
    bar.stage("building the timeline")
    assert out.getvalue().endswith("building the timeline")
    bar.close()
    assert out.getvalue().endswith("\r\x1b[K")


def test_a_pipe_of_unknown_size_shows_bytes_read_without_a_share() -> None:
    out, clock = io.StringIO(), Clock()
    bar = Bar(out, delay=0.0, clock=clock)
    clock.now = 1.0
    bar("-", 3_000_000, 0, 20_000)
    assert "3.0MB" in out.getvalue() and "%" not in out.getvalue()


def test_load_reports_every_batch_up_to_the_whole_file(tmp_path: Path) -> None:
    log = tmp_path / "device.log"
    log.write_bytes(sample_log_files()[0].read_bytes() * 80)  # a few MB: several reads
    calls: list[tuple[str, int, int, int]] = []
    loaded = forensics.load([log], batch_bytes=1 << 20, progress=lambda *a: calls.append(a))
    size = log.stat().st_size
    assert len(calls) > 3 and all(total == size for _, _, total, _ in calls)
    done = [d for _, d, _, _ in calls]
    assert done == sorted(done) and done[-1] == size
    assert calls[-1][3] == loaded.inputs["lines"][0]
