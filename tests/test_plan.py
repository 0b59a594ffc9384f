"""index --dry-run's library side: the plan agrees with the run it stands for, and writes nothing.
Fast: a fake encoder for the real runs, the real embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fakes import FakeEncoder
from helpers import REPO, write_mixed

from docsearch import Index, PathRules, Settings, update_index
from docsearch.plan import plan_index


def mixed(tmp_path: Path) -> Path:
    root = write_mixed(tmp_path / "mixed")
    (root / "empty.md").write_text("")  # skipped when read: a plan must read it to know
    return root


def run(settings: Settings, root: Path):  # type: ignore[no-untyped-def]
    with Index.open_or_create(settings) as index:
        return update_index(index, [root], encoder=FakeEncoder())


def tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every file's size and mtime, but SQLite's -wal and -shm, which any reader of a WAL database may create."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.rglob("*"))
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def test_a_plan_says_what_the_run_then_does(tmp_path: Path) -> None:
    root, settings = mixed(tmp_path), Settings(home=tmp_path / "home", index="t")
    plan = plan_index(settings, [root])
    assert not plan.exists and not settings.home.exists()  # nothing created
    done = run(settings, root)
    r = plan.report
    assert (r.walked, r.indexed, r.documents, r.unchanged, r.removed) == (done.walked, done.indexed, done.documents, 0, 0)
    assert set(r.indexed_paths) == set(done.indexed_paths)
    assert r.skipped == done.skipped == (type(r.skipped[0])("empty.md", "empty file"),)
    assert r.excluded == done.excluded and r.partial == done.partial
    assert dict(plan.by_type) == {".csv": 1, ".html": 1, ".jsonl": 1, ".pdf": 1, "text": 1, "text (gzip)": 1}
    data = plan.to_json()
    assert data["dry_run"] is True and data["indexed"] == 6 and data["skipped_paths"][0]["reason"] == "empty file"
    assert "chunks" not in data and data["by_type"]["text (gzip)"] == 1
    json.dumps(data)  # plain JSON values


def test_a_plan_over_an_index_counts_changed_new_and_removed_and_writes_nothing(tmp_path: Path) -> None:
    root, settings = mixed(tmp_path), Settings(home=tmp_path / "home", index="t")
    run(settings, root)
    (root / "README").write_text("SSH client\n\nA changed text, longer than before.\n")
    (root / "page.html").unlink()
    (root / "new.md").write_text("# New\n\nA note that was never indexed.\n")
    before = tree(settings.home)
    plan = plan_index(settings, [root])
    assert tree(settings.home) == before  # not the manifest, not a lock file, not the store
    r = plan.report
    assert plan.exists and sorted(r.indexed_paths) == ["README", "new.md"]
    assert (r.unchanged, r.removed) == (4, 1)
    assert plan_index(settings, [root], rebuild=True).report.indexed == 6  # --rebuild embeds everything again


def test_dry_run_loads_no_model_and_prints_the_plan(tmp_path: Path) -> None:
    root, home = mixed(tmp_path), tmp_path / "home"
    code = (
        "import sys; from docsearch.cli import main\n"
        f"sys.argv = ['docsearch', 'index', {str(root)!r}, '--dry-run', '--json', '--home', {str(home)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sentence_transformers', 'qdrant_edge'))\n"
        "print(heavy, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
    data = json.loads(done.stdout)
    assert (data["index_exists"], data["indexed"], data["skipped"], data["excluded"]) == (False, 6, 1, 2)
    assert not home.exists()


def test_a_plan_walks_by_the_same_exclude_and_include_rules_as_the_run(tmp_path: Path) -> None:
    root, settings = mixed(tmp_path), Settings(home=tmp_path / "home", index="t")
    rules = PathRules(exclude=("*.pdf",))
    plan = plan_index(settings, [root], rules=rules)
    assert ".pdf" not in dict(plan.by_type) and dict(plan.by_type)[".csv"] == 1
    with Index.open_or_create(settings) as index:
        done = update_index(index, [root], encoder=FakeEncoder(), rules=rules)
    assert sorted(plan.report.indexed_paths) == sorted(done.indexed_paths)
    only = plan_index(settings, [root], rebuild=True, rules=PathRules(include=("*.csv",)))
    assert dict(only.by_type) == {".csv": 1}
