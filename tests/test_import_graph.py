"""The stages import downwards only: no module of ``forensics`` imports one of a later stage, and no
import circle. Every import counts, at module level or inside a function or ``if TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: The stages, first to last, and the modules (with everything under them) each holds. A module may
#: import from its own stage or an earlier one.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    # what every stage shares: the events schema, errors, money, the canonical words, writing outputs
    (
        "base",
        (
            "forensics.errors",
            "forensics.events",
            "forensics.money",
            "forensics.vocabulary",
            "forensics.outputs",
            "forensics.progress",
        ),
    ),
    # raw logs to the events table: the readers, the format folders (grammars/) and the dialect files
    ("ingest", ("forensics.ingest", "forensics.formats", "forensics.dialects")),
    ("timeline", ("forensics.timeline",)),
    # what the inputs let the analysis check: read by diagnosis, the text view and reports
    ("coverage", ("forensics.coverage",)),
    # with the dispute categories findings map to (forensics/data/disputes.toml)
    ("diagnosis", ("forensics.diagnosis", "forensics.rules", "forensics.disputes")),
    # the engine that runs timeline and diagnosis group by group over log files
    ("analysis", ("forensics.analysis",)),
    # what uses the analysis: reports and charts, the fleet sweep, the simulator, and the package's front
    # door (``forensics.load``, ``forensics.sweep``, ``__version__``, which the chain of custody reads)
    ("report/fleet", ("forensics.report", "forensics.fleet", "forensics.simulate", "forensics")),
    ("cli", ("forensics.cli",)),
]


def modules(root: Path) -> dict[str, Path]:
    """The modules of the ``forensics`` package under ``root`` by dotted name (``grammars/`` is
    ``forensics.formats``, as pyproject.toml installs it)."""
    found = {}
    for package, folder in (("forensics", root / "forensics"), ("forensics.formats", root / "grammars")):
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each ``forensics`` module under ``root`` and the ``forensics`` modules it imports. ``from P import N``
    counts as importing ``P.N`` when that is a module, else ``P``."""
    found = modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in found else base for a in node.names}
        graph[name] = {t for t in targets if t in found and t != name}
    return graph


def stage(module: str) -> int:
    """The index in ``STAGES`` of the stage holding ``module`` (its longest listed prefix; the package
    ``forensics`` itself holds only its ``__init__``)."""
    best, index = -1, -1
    for n, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            under = module.startswith(prefix + ".") and prefix != "forensics"
            if (module == prefix or under) and len(prefix) > best:
                best, index = len(prefix), n
    if index < 0:
        raise KeyError(f"{module} is in no stage: add it to STAGES")
    return index


def upward(graph: dict[str, set[str]]) -> list[str]:
    """The imports from a stage to a later one."""
    return sorted(
        f"{a} ({STAGES[stage(a)][0]}) imports {b} ({STAGES[stage(b)][0]})"
        for a, targets in graph.items()
        for b in targets
        if stage(b) > stage(a)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module, and the modules that import themselves
    (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_every_module_is_in_a_stage() -> None:
    graph = import_graph(ROOT)
    assert {"forensics.cli", "forensics.analysis", "forensics.formats"} <= set(graph)
    for module in graph:
        stage(module)


def test_no_import_circle_among_forensics_modules() -> None:
    assert cycles(import_graph(ROOT)) == []


def test_no_stage_imports_a_later_one() -> None:
    assert upward(import_graph(ROOT)) == []


def test_the_stage_order_is_ingest_timeline_diagnosis_report_fleet_cli() -> None:
    order = [stage(m) for m in ("forensics.ingest", "forensics.timeline", "forensics.diagnosis", "forensics.cli")]
    assert order == sorted(order) and len(set(order)) == 4
    assert stage("forensics.report.charts") == stage("forensics.fleet.sweep") > stage("forensics.analysis")
    shared, ingest, coverage = stage("forensics.events"), stage("forensics.ingest"), stage("forensics.coverage")
    assert shared < ingest < stage("forensics.timeline") < coverage < stage("forensics.diagnosis")


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_the_checks_catch_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {
            "forensics/__init__.py": "",
            "forensics/timeline.py": "from forensics.ingest import load\n",
            "forensics/ingest/__init__.py": "from .read import x\n",
            "forensics/ingest/read.py": (
                "def f():\n    from forensics.diagnosis import kinds\n"  # inside a function, to a later stage
                "from .. import ingest\n"  # relative, back to its package: a circle
            ),
            "forensics/diagnosis/__init__.py": "from typing import TYPE_CHECKING\n",
            "forensics/diagnosis/kinds.py": "import forensics.timeline\n",
            "grammars/__init__.py": "",
        },
    )
    graph = import_graph(tree)
    assert graph["forensics.ingest"] == {"forensics.ingest.read"}
    assert graph["forensics.ingest.read"] == {"forensics.diagnosis.kinds", "forensics.ingest"}
    assert upward(graph) == [
        "forensics.ingest.read (ingest) imports forensics.diagnosis.kinds (diagnosis)",
    ]
    assert cycles(graph) == [
        ["forensics.diagnosis.kinds", "forensics.ingest", "forensics.ingest.read", "forensics.timeline"]
    ]


def test_a_module_in_no_stage_is_an_error() -> None:
    for module in ("elsewhere.module", "forensics.new_module"):
        with pytest.raises(KeyError, match="no stage"):
            stage(module)
