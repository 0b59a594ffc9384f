"""Damaged indexes through the command line, as a user meets them: real subprocesses. The index is
built in-process with the fake encoder; every command here fails or checks before any model loads,
so these stay fast (one end-to-end repair with the real model is marked slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes import FakeEncoder
from helpers import REPO, write_files

from docsearch import Index, Settings, update_index
from docsearch.store import StorePoint, point_id
from docsearch.store.snapshots import mark_stale
from docsearch.types import SparseVector

DOCS = {f"notes/{w}.md": f"# {w.title()}\n\nA note about the {w} and its care." for w in
        ("tomato", "sourdough", "telescope", "router", "glacier", "violin", "kayak", "orchid")}


def ds(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCSEARCH_HOME": str(home), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "docsearch", *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=REPO)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Settings, Path]:
    root = write_files(tmp_path / "docs", DOCS)
    settings = Settings(home=tmp_path / "home", index="t", index_batch=2)
    with Index.open_or_create(settings) as index:
        update_index(index, [root], encoder=FakeEncoder())
    return settings, root


def one_error_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr  # never wrapped, however long
    for word in words:
        assert word in lines[0]


def _garbage_meta(d: Path) -> None:
    (d / "index.json").write_bytes(b"\x89PNG garbage")


def _truncated_meta(d: Path) -> None:
    (d / "index.json").write_text((d / "index.json").read_text()[:100])


def _meta_missing_a_field(d: Path) -> None:
    data = json.loads((d / "index.json").read_text())
    del data["dim"]
    (d / "index.json").write_text(json.dumps(data))


def _garbage_manifest(d: Path) -> None:
    for extra in ("-wal", "-shm"):
        (d / f"manifest.sqlite{extra}").unlink(missing_ok=True)
    (d / "manifest.sqlite").write_bytes(os.urandom(8192))


def _truncated_id_tracker(d: Path) -> None:
    for tracker in (d / "shard" / "segments").glob("*/mutable_id_tracker.mappings"):
        tracker.write_bytes(b"")
    mark_stale(d)  # as if the writer died: the next reader publishes the damaged shard


def _garbage_shard_config(d: Path) -> None:
    (d / "shard" / "edge_config.json").write_text("garbage")
    mark_stale(d)


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "index.json garbage": (_garbage_meta, "index.json of index 't' is damaged"),
    "index.json truncated": (_truncated_meta, "index.json of index 't' is damaged"),
    "index.json missing a field": (_meta_missing_a_field, "missing dim"),
    "manifest garbage": (_garbage_manifest, "manifest"),
    "id tracker truncated": (_truncated_id_tracker, "missing"),
    "shard config garbage": (_garbage_shard_config, "cannot be loaded"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.slow
def test_a_damaged_index_is_one_red_line_for_every_command(built: tuple[Settings, Path], damage: str) -> None:
    settings, root = built
    harm, words = DAMAGE[damage]
    harm(settings.index_dir)
    # A shard that cannot load stops the writer; searches answer from the last state published.
    commands = [["index", str(root), "--quiet"]]
    if damage != "shard config garbage":
        commands = [["info"], ["search", "kayak"], *commands]
    for args in commands:
        one_error_line(ds(*args, "--index", "t", home=settings.home), words)


@pytest.mark.slow
def test_check_reports_and_repairs_orphans_with_an_exit_code(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    sound = ds("check", "--index", "t", "--json", home=settings.home)
    assert sound.returncode == 0, sound.stderr
    report = json.loads(sound.stdout)
    assert report["ok"] and (report["points"], report["sources"], report["problems"]) == (8, 8, [])

    with Index.open_or_create(settings) as index:  # a writer's change behind the manifest's back
        index.store.upsert([StorePoint(point_id("/elsewhere", "x", 0), [1.0] + [0.0] * 383, SparseVector([], []),
                                       {"doc": "x"})])
    one_error_line(ds("info", "--index", "t", home=settings.home), "no source in the manifest owns")
    found = ds("check", "--index", "t", home=settings.home)
    assert found.returncode == 1 and "1 points in the store belong to no source" in found.stdout
    fixed = ds("check", "--index", "t", "--repair", "--json", home=settings.home)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["repaired"] == ["deleted 1 points that belonged to no source"]
    assert ds("info", "--index", "t", home=settings.home).returncode == 0


@pytest.mark.slow
def test_a_lost_index_json_recovers_with_its_model_and_refuses_another(built: tuple[Settings, Path],
                                                                         tmp_path: Path) -> None:
    from docsearch import ModelDir

    settings, root = built
    (settings.index_dir / "index.json").unlink()
    one_error_line(ds("info", "--index", "t", home=settings.home), "lost its index.json")
    other = tmp_path / "other-model"
    shutil.copytree(ModelDir.resolve("all-MiniLM-L6-v2").path, other)
    with open(other / "model.safetensors", "ab") as fh:
        fh.write(b"\0")
    refused = ds("index", str(root), "--index", "t", "--model", str(other), home=settings.home)
    one_error_line(refused, "all-MiniLM-L6-v2", "--rebuild")
    restored = ds("check", "--index", "t", "--repair", home=settings.home)
    assert restored.returncode == 0 and "restored index.json" in restored.stdout
    assert ds("info", "--index", "t", home=settings.home).returncode == 0


@pytest.mark.slow
def test_check_repair_embeds_what_a_truncated_store_lost_with_the_real_model(built: tuple[Settings, Path]) -> None:
    settings, root = built
    _truncated_id_tracker(settings.index_dir)
    repaired = ds("check", "--index", "t", "--repair", home=settings.home)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "missing chunks" in repaired.stdout
    again = ds("index", str(root), "--index", "t", home=settings.home)
    assert again.returncode == 0 and "unchanged 8" in " ".join(again.stdout.split())
    hit = ds("search", "kayak care", "--index", "t", "--mode", "sparse", "--json", "-k", "1", home=settings.home)
    assert json.loads(hit.stdout)["results"][0]["path"] == "notes/kayak.md"
