"""`docsearch index --dry-run`, `docsearch info --json` and `--engine-workers` as the CLI runs them.
Fast: an index built with a fake encoder, commands that load no model; one slow test runs the
real model through `python -m docsearch`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fakes import FakeEncoder
from helpers import write_files
from typer.testing import CliRunner

from docsearch import Index, Settings, update_index
from docsearch.cli import app

FILES = {"a.md": "# Alpha\n\nThe first note.\n", "b.txt": "The second note.\n", "c.png": b"\x89PNG\r\n\x1a\n"}


def build(tmp_path: Path) -> tuple[Path, Path]:
    root, home = write_files(tmp_path / "docs", FILES), tmp_path / "home"
    with Index.open_or_create(Settings(home=home, index="t")) as index:
        update_index(index, [root], encoder=FakeEncoder())
    return root, home


def test_info_json_is_one_object_with_counts_and_the_index_record(tmp_path: Path) -> None:
    _, home = build(tmp_path)
    done = CliRunner().invoke(app, ["info", "--index", "t", "--home", str(home), "--json"])
    assert done.exit_code == 0, done.stderr
    info = json.loads(done.stdout)
    assert (info["name"], info["sources"], info["documents"], info["chunks"], info["points"]) == ("t", 2, 2, 2, 2)
    assert info["meta"]["model_id"].endswith("all-MiniLM-L6-v2") and info["meta"]["languages"]
    assert info["bytes_on_disk"] > 0 and info["previous"] is None and info["writer"] is None


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    root, home = build(tmp_path)
    (root / "a.md").write_text("# Alpha\n\nThe first note, changed.\n")
    (root / "d.md").write_text("")
    done = CliRunner().invoke(app, ["index", str(root), "--index", "t", "--home", str(home), "--dry-run"],
                              env={"COLUMNS": "300"})
    assert done.exit_code == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert "would index 1 file(s), 1 document(s) (.md 1); unchanged 1; would remove 0; would skip 1" in first
    assert "skipped d.md: empty file" in done.stdout and "unsupported 1 (.png 1)" in done.stdout
    data = json.loads(CliRunner().invoke(app, ["index", str(root), "--index", "t", "--home", str(home), "--dry-run",
                                               "--json"]).stdout)
    assert (data["indexed"], data["unchanged"], data["skipped"], data["by_type"]) == (1, 1, 1, {".md": 1})
    with Index.open(Settings(home=home, index="t")) as index:
        assert index.manifest.totals() == (2, 2, 2)  # as it was


@pytest.mark.slow
def test_engine_workers_index_the_same_through_the_cli(tmp_path: Path) -> None:
    """The real model and `python -m docsearch` (spawned workers must not rerun the CLI)."""
    import subprocess
    import sys

    notes = {f"n{i:02}.md": f"# Note {i}\n\nNote {i} is about {word} and how {word}s are kept.\n"
             for i, word in enumerate(["ferns", "owls", "tides", "kilns", "comets", "looms"] * 4)}
    root = write_files(tmp_path / "docs", notes)
    answers = []
    for workers in ("0", "2"):
        home = tmp_path / f"home{workers}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        run = subprocess.run([sys.executable, "-m", "docsearch", "index", str(root), "--index", "t", "--home", str(home),
                              "--engine-workers", workers, "--json"], capture_output=True, text=True, env=env, timeout=600)
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        found = subprocess.run([sys.executable, "-m", "docsearch", "search", "nocturnal birds", "--index", "t", "--home",
                                str(home), "--json", "-k", "4"], capture_output=True, text=True, env=env, timeout=600)
        assert found.returncode == 0, found.stderr
        answers.append((report["indexed"], report["chunks"], [r["path"] for r in json.loads(found.stdout)["results"]]))
    assert answers[0] == answers[1] and answers[0][:2] == (24, 24)
    assert answers[0][2][0].startswith("n")
