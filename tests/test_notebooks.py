"""The notebooks run top to bottom without error, show their charts inline, and are stored without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs before committing"


def _executed(path: Path, parameters: str | None = None) -> list:
    """The outputs of ``path`` run top to bottom (its ``parameters`` cell replaced by ``parameters``)."""
    book = nbformat.read(path, as_version=4)
    if parameters is not None:
        [cell] = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
        cell.source = parameters
    NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return [o for c in book.cells if c.cell_type == "code" for o in c.outputs]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path) -> None:
    outputs = _executed(path)
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type in ("display_data", "execute_result") and "image/png" in o.data]
    assert images, f"{path.name}: no chart was shown inline (a backend forced at import turns inline display off)"
    assert not [o for o in outputs if "<Figure size" in o.get("data", {}).get("text/plain", "") and o not in images]


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.stem.startswith("03")], ids=lambda p: p.stem)
def test_a_case_notebook_runs_on_a_clean_case_and_says_no_finding(path: Path) -> None:
    parameters = 'CASE = ["sample_logs/clean_day"]\nTZ = {"A920-6730.log": "America/New_York"}\nCARD = None\n'
    outputs = _executed(path, parameters)
    assert not [o for o in outputs if o.output_type == "error"]
    said = [o.data["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert any(s.startswith("**No finding**: no faulty charge among 62 transaction attempt(s).") for s in said)
