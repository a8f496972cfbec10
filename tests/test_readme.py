"""The README's commands work as written (docs are tested, so they stay true)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from forensics.cli import cli
from tests.conftest import ROOT


def _try_it_commands() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Try it", 1)[1].split("\n## ", 1)[0]
    commands: list[tuple[str, list[str]]] = []
    cwd = "."
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.strip().splitlines():
            for part in line.split("&&"):
                words = shlex.split(part)
                if words[:1] == ["cd"]:
                    cwd = str(Path(cwd) / words[1])
                elif words[:1] == ["forensics"]:
                    commands.append((cwd, words[1:]))
    return commands


def test_readme_try_it_commands_run() -> None:
    commands = _try_it_commands()
    assert len(commands) >= 2
    for cwd, args in commands:
        here = os.getcwd()
        os.chdir(ROOT / cwd)
        try:
            expanded = [str(p) for a in args for p in (sorted(Path().glob(a)) if "*" in a else [a])]
            result = CliRunner().invoke(cli, expanded)
        finally:
            os.chdir(here)
        assert result.exit_code == 0, (args, result.output)
        assert "finding" in result.output or "transactions on" in result.output


def test_readme_test_command_is_the_ci_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[dev]' && python -m pytest" in readme
    assert "pip install -e '.[dev]'" in ci and "python -m pytest" in ci
