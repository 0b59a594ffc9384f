"""The package as a whole: its public API, its import graph, and manners toward its host process."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import docsearch

PACKAGE = Path(docsearch.__file__).parent
REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sentence_transformers", "transformers", "qdrant_edge", "qdrant_client", "mcp")


def test_public_names_are_exported_from_the_root() -> None:
    for name in docsearch.__all__:
        assert hasattr(docsearch, name), name
    from docsearch import Index, Searcher, Settings, index_paths  # the README's library example  # noqa: F401


def test_help_imports_no_torch_or_qdrant() -> None:
    code = (
        "import sys; sys.argv = ['docsearch', '--help']\n"
        "from docsearch.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert "Commands" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"


@pytest.mark.slow
def test_importing_the_library_leaves_the_environment_alone() -> None:
    code = (
        "import os, pkgutil, importlib\n"
        "import torch, transformers, sentence_transformers, qdrant_edge  # their own import-time settings\n"
        "before = dict(os.environ)\n"
        "import docsearch\n"
        "for m in pkgutil.walk_packages(docsearch.__path__, 'docsearch.'):\n"
        "    if not m.name.startswith(('docsearch.cli', 'docsearch.__main__')):\n"
        "        importlib.import_module(m.name)\n"
        "print(dict(os.environ) == before)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def _imports() -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports (at any depth of the file)."""
    modules = {".".join(f.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): f
               for f in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, file in modules.items():
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(file.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # A package and its own submodules may import each other (re-exports).
                if target and not (target == name or name.startswith(target + ".") or target.startswith(name + ".")):
                    edges[name].add(target)
    return edges


def test_the_package_has_no_import_cycles() -> None:
    edges = _imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)


def test_the_core_does_not_import_the_cli() -> None:
    edges = _imports()
    for module, targets in edges.items():
        if not module.startswith(("docsearch.cli", "docsearch.__main__")):
            assert not any(t.startswith("docsearch.cli") for t in targets), module


def test_test_files_have_unique_names() -> None:
    """pytest imports test files by basename (rootdir mode): two of one name stop the whole run at collection."""
    names = [p.name for p in (REPO / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
