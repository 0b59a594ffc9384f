"""Applying a new model as a user's processes meet it: `docsearch index --reembed` in one process while
another searches, and a `kill -9` in the middle of it. Real subprocesses on the tiny models; the
re-embedding is held in the middle (SIGSTOP once it has stored some chunks) so that "during" does not
depend on how fast this machine is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docsearch import Index, Searcher, Settings, index_paths
from docsearch.meta import read_meta
from docsearch.reembed import STATE_FILE, reembed

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
RECORDS = 3000


def env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "HF_HUB_OFFLINE": "1", "DOCSEARCH_HOME": str(home), "DOCSEARCH_BACKEND": "torch-fp32",
            "DOCSEARCH_DEVICE": "cpu", "OMP_NUM_THREADS": "1", **extra}


@pytest.fixture
def big(tmp_path: Path, tiny_model: Path) -> Settings:
    """3000 one-line records, embedded with the tiny model."""
    records = tmp_path / "records.jsonl"
    rows = [{"_id": f"r{i}", "title": f"record {i}", "text": f"Record {i} is about topic {i % 97}."} for i in range(RECORDS)]
    records.write_text("".join(json.dumps(row) + "\n" for row in rows))
    settings = Settings(home=tmp_path / "home", index="big", model=str(tiny_model), device="cpu", backend="torch-fp32")
    index_paths(settings, [records])
    return Settings(home=settings.home, index="big", device="cpu", backend="torch-fp32")


def start_reembed(settings: Settings, model: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "docsearch", "index", "--index", settings.index, "--model", str(model),
                             "--reembed", "--quiet"], env=env(settings.home, DOCSEARCH_BATCH_SIZE="4"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_progress(settings: Settings, proc: subprocess.Popen[str], at_least: int, timeout: float = 300) -> int:
    """Chunks the running re-embedding has stored, once it has stored ``at_least``."""
    deadline = time.monotonic() + timeout
    state = settings.index_dir / STATE_FILE
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            done = json.loads(state.read_text())["done"]
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= at_least:
            return done
        time.sleep(0.2)
    raise AssertionError("the re-embedding made no progress")


def search_cli(settings: Settings, query: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "docsearch", "search", query, "--index", settings.index, "--json",
                           "-k", "3", "--mode", "dense"], env=env(settings.home), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return [r["doc"] for r in json.loads(done.stdout)["results"]]


def test_searches_answer_from_the_old_index_while_a_new_model_is_applied(
    big: Settings, tiny_model: Path, tiny_model_2: Path
) -> None:
    before = search_cli(big, "Record 1234 is about topic 70.")
    proc = start_reembed(big, tiny_model_2)
    try:
        done = wait_for_progress(big, proc, 256)
        os.kill(proc.pid, signal.SIGSTOP)  # held in the middle of the re-embedding
        assert done < RECORDS
        during = search_cli(big, "Record 1234 is about topic 70.")
        assert during == before and read_meta(big.index_dir).model == str(tiny_model)
        os.kill(proc.pid, signal.SIGCONT)
        assert proc.wait(timeout=600) == 0, proc.communicate()
    finally:
        proc.kill()
    meta = read_meta(big.index_dir)
    assert meta.model == str(tiny_model_2) and not (big.index_dir / STATE_FILE).exists()
    assert search_cli(big, "Record 1234 is about topic 70.")  # the new index answers


def test_a_kill_during_apply_leaves_the_old_index_answering_and_a_rerun_completes(
    big: Settings, tiny_model: Path, tiny_model_2: Path
) -> None:
    before = read_meta(big.index_dir)
    proc = start_reembed(big, tiny_model_2)
    try:
        wait_for_progress(big, proc, 512)
        os.kill(proc.pid, signal.SIGSTOP)
        done = json.loads((big.index_dir / STATE_FILE).read_text())["done"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert done < RECORDS
    assert read_meta(big.index_dir) == before
    with Searcher.open(big) as searcher:  # the old index, its own model
        assert searcher.search("Record 7 is about topic 7.", k=1, mode="dense")[0].doc == "r7"
    report = reembed(big, tiny_model_2)  # resumes what the killed run stored
    assert report.resumed >= done and report.resumed + report.embedded == RECORDS
    meta = read_meta(big.index_dir)
    assert meta.model == str(tiny_model_2)
    with Index.open(big) as index:
        assert index.store.count() == RECORDS and index.info().chunks == RECORDS
    with Searcher.open(big) as searcher:
        assert len(searcher.search("Record 7 is about topic 7.", k=3, mode="dense")) == 3
