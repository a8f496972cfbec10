"""The code base is lint-clean and formatted (ruff, configured in pyproject.toml)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("ruff") or pytest.fail("ruff is not installed: pip install -e '.[dev]'")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def test_ruff_check_is_clean() -> None:
    run = _ruff("check", "--no-cache", ".")
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    run = _ruff("format", "--check", "--no-cache", ".")
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_lint_gate_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nx=1\n")
    assert _ruff("check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad)).returncode != 0
    assert _ruff("format", "--check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad)).returncode != 0


def test_every_error_class_in_the_package_has_the_one_base_the_cli_catches() -> None:
    import importlib
    import inspect
    import pkgutil

    import forensics
    from forensics.errors import ForensicsError

    internal = {"RecordError", "NotRegular"}  # signals caught inside ingest, never reach a user
    found = {}
    for mod in pkgutil.walk_packages(forensics.__path__, "forensics."):
        module = importlib.import_module(mod.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, Exception) and name not in internal:
                found[name] = cls
    assert {"InputError", "OutputError", "RuleError", "DialectError", "FormatError", "ClockError"} <= set(found)
    assert [n for n, c in found.items() if not issubclass(c, ForensicsError)] == []
