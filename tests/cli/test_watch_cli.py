"""`docsearch watch` end to end: the real model and CLI as processes. The watch picks up a created,
a modified, a renamed and a deleted file and a burst of 500, `docsearch search --json` sees them,
and Ctrl-C leaves with exit code 130 and an index that opens."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, write_files


class Batches:
    """The JSON lines a `docsearch watch --json` process prints, one batch each."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout: float = 300) -> dict[str, Any]:
        while True:
            line = self.lines.get(timeout=timeout)
            assert line is not None, "docsearch watch ended"
            batch = json.loads(line)
            if batch["first"] or batch["added"] or batch["changed"] or batch["removed"] or batch["skipped"]:
                return batch


def search(query: str, env: dict[str, str]) -> list[dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "docsearch", "search", query, "--index", "w", "--json", "-k", "1000"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["results"]


@pytest.mark.slow
def test_watch_follows_changes_and_search_sees_them(tmp_path: Path) -> None:
    docs = write_files(tmp_path / "docs", {
        "kites.md": "# Kites\n\nA kite flies when the wind pushes against its sail.\n",
        "bread.md": "# Sourdough\n\nSourdough bread rises because a starter of wild yeast ferments the dough.\n",
        "notes.md": "# Meeting notes\n\nThe quarterly budget meeting moved to Thursday.\n",
    })
    env = {**os.environ, "DOCSEARCH_HOME": str(tmp_path / "home"), "COLUMNS": "200", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "docsearch", "watch", str(docs), "--index", "w", "--json",
                             "--debounce", "500"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        batches = Batches(proc)
        first = batches.next()
        assert first["first"] and sorted(first["added"]) == ["bread.md", "kites.md", "notes.md"]

        (docs / "volcano.md").write_text("# Volcanoes\n\nMolten lava erupts from the crater of a volcano.\n")
        assert batches.next()["added"] == ["volcano.md"]
        (docs / "kites.md").write_text("# Submarines\n\nA submarine dives under the sea by flooding its ballast tanks.\n")
        assert batches.next()["changed"] == ["kites.md"]
        (docs / "garden").mkdir()
        os.rename(docs / "bread.md", docs / "garden" / "loaf.md")
        renamed = batches.next()
        assert (renamed["added"], renamed["removed"]) == (["garden/loaf.md"], ["bread.md"])
        (docs / "notes.md").unlink()
        assert batches.next()["removed"] == ["notes.md"]

        for i in range(500):
            (docs / "burst" / f"{i // 100}").mkdir(parents=True, exist_ok=True)
            (docs / "burst" / f"{i // 100}" / f"n{i:03}.md").write_text(f"Note {i}: item {i} of the inventory list.\n")
        added, count = 0, 0
        while added < 500:
            added += len(batches.next()["added"])
            count += 1
        assert added == 500 and count <= 3, count

        hits = search("submarine under the sea", env)
        paths = {h["path"] for h in hits}
        assert hits[0]["path"] == "kites.md"
        assert {"volcano.md", "garden/loaf.md"} <= paths and not {"bread.md", "notes.md"} & paths
        assert len(paths) == 503
        assert search("lava erupting from a volcano", env)[0]["path"] == "volcano.md"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert proc.returncode == 130, err
    assert "interrupted: stopped watching after" in err and "Traceback" not in err, err
    info = subprocess.run([sys.executable, "-m", "docsearch", "info", "--index", "w"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert info.returncode == 0, info.stderr


FAKE_CLI = REPO / "tests" / "fake_cli.py"


def fake(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI with the fake encoder (tests/fake_cli.py): no torch, so no model to load."""
    env = {**os.environ, "DOCSEARCH_HOME": str(home), "COLUMNS": "200", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(FAKE_CLI), *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_exclude_and_include_on_index_and_search(tmp_path: Path) -> None:
    docs = write_files(tmp_path / "docs", {
        "guide/a.md": "apple orchard", "guide/b.txt": "apple cider", "drafts/c.md": "apple pie", "d.md": "apple tart",
    })
    home = tmp_path / "home"
    done = fake("index", str(docs), "--index", "w", "--exclude", "*.txt", "--json", home=home)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["indexed_paths"]) == ["d.md", "drafts/c.md", "guide/a.md"]
    assert report["by_rule"]["ignored"] == 1

    def found(*flags: str) -> list[str]:
        done = fake("search", "apple", "--index", "w", "--json", *flags, home=home)
        assert done.returncode == 0, done.stderr
        return sorted(r["path"] for r in json.loads(done.stdout)["results"])

    assert found("--exclude", "drafts/") == ["d.md", "guide/a.md"]
    assert found("--include", "guide/", "--include", "drafts/") == ["drafts/c.md", "guide/a.md"]
    assert found("--include", "*.md", "--exclude", "d.md", "--exclude", "guide/") == ["drafts/c.md"]
    # The patterns are the run's own: on a rerun what no longer matches is removed (and counted),
    # and what was excluded before is indexed now.
    again = json.loads(fake("index", str(docs), "--index", "w", "--include", "guide/", "--json", home=home).stdout)
    assert (again["removed"], again["indexed_paths"]) == (2, ["guide/b.txt"])
    assert found() == ["guide/a.md", "guide/b.txt"]
