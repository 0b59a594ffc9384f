"""The engine's worker processes make exactly the chunks the indexing thread makes, in order, and
an index built with them is the same index. Fast: the model's tokenizer, a fake encoder."""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest
from fakes import FakeEncoder
from helpers import write_mixed

import docsearch.engine as engine_mod
from docsearch import Index, ModelDir, Settings, update_index
from docsearch.engine import Engine, Piece, Recipe, auto_workers
from docsearch.ingest import PathRules, walk
from docsearch.types import Document, Source


def _tree(root: Path) -> Path:
    write_mixed(root)
    records = [{"_id": f"r{i}", "title": f"Record {i}", "text": f"Claim {i} about protein {i % 7} " * (i % 40 + 1)}
               for i in range(400)]
    (root / "big.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (root / "de.txt").write_text("Der Hund läuft schnell über die Straße, und die Katze schläft im Garten. " * 20)
    return root


def _sources(root: Path) -> list[Source]:
    return [item for item in walk([root], PathRules()) if isinstance(item, Source)]


def _recipe() -> Recipe:
    return Recipe(ModelDir.resolve("all-MiniLM-L6-v2").tokenizer_file, 64, 8)


@pytest.mark.slow
def test_workers_make_the_same_pieces_in_the_same_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "READ_BYTES", 10_000)  # big.jsonl is read here and sent in slices
    monkeypatch.setattr(engine_mod, "SLICE_CHARS", 20_000)
    sources = _sources(_tree(tmp_path / "docs"))
    with Engine(_recipe(), 0) as inline:
        alone = list(inline.pieces(sources))
    with Engine(_recipe(), 2) as pooled:
        together = list(pooled.pieces(sources))
    chunks = [c for p in alone for c in p.chunks]
    # Token ids travel from a worker as an int32 array: the same ids.
    assert [replace(c, tokens=tuple(c.tokens)) for p in together for c in p.chunks] == chunks
    assert [(p.key, p.languages, p.error, p.partial) for p in together if p.last] == \
        [(p.key, p.languages, p.error, p.partial) for p in alone if p.last]
    big = [p for p in together if p.key.endswith("big.jsonl")]
    assert len(big) > 1 and [p.last for p in big] == [False] * (len(big) - 1) + [True]  # sliced
    assert sum(len(p.languages) for p in big) == 400
    assert all(c.sparse.indices for c in chunks if c.text.strip())
    errors = {Path(p.key).name: p.error for p in together if p.error}
    assert list(errors) == ["broken.docx"] and errors["broken.docx"]
    assert {c.lang for c in chunks if c.key.endswith("de.txt")} == {"de"}


def test_a_long_document_is_streamed_here_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "STREAM_CHARS", 5_000)
    monkeypatch.setattr(engine_mod, "SPARSE_BATCH", 4)
    long = tmp_path / "long.txt"
    long.write_text("A sentence about the long document and its many parts. " * 400)
    src = Source(str(long), "long.txt", long.stat().st_size, long.stat().st_mtime_ns)
    with Engine(_recipe(), 0) as inline:
        pieces = list(inline.pieces([src]))
    assert len(pieces) > 3 and all(len(p.chunks) <= 4 for p in pieces) and pieces[-1].last
    assert sum(len(p.languages) for p in pieces) == 1  # the document's language, given once


def test_slices_keep_long_documents_alone() -> None:
    docs = [Document(str(i), "", "x" * n, "f") for i, n in enumerate([10, 10, 9_000_000, 10, 300_000, 10])]
    assert list(engine_mod._slices(docs)) == [(0, 2), (2, 3), (3, 4), (4, 5), (5, 6)]  # 300k > SLICE_CHARS


def test_auto_workers_start_none_for_a_small_run() -> None:
    assert auto_workers(1000, cpus=16) == 0
    assert auto_workers(1 << 30, cpus=1) == 0
    assert auto_workers(1 << 30, cpus=2) == 1
    assert auto_workers(1 << 30, cpus=64) == engine_mod.MAX_AUTO_WORKERS


@pytest.mark.slow
def test_an_index_built_with_workers_is_the_same_index(tmp_path: Path) -> None:
    root = _tree(tmp_path / "docs")
    stored = []
    for workers in (0, 2):
        settings = Settings(home=tmp_path / f"home{workers}", index="t", engine_workers=workers)
        with Index.open_or_create(settings) as index:
            report = update_index(index, [root], encoder=FakeEncoder())
            rows = {Path(k).name: (r.ids, r.docs, r.langs, r.state) for k, r in index.manifest.rows().items()}
            points = sorted((pid, json.dumps(p, sort_keys=True)) for page in index.store.payloads() for pid, p in page)
        stored.append((report.chunks, report.documents, [s.path for s in report.skipped], rows, points))
    assert stored[0] == stored[1]
    assert stored[0][2] == ["broken.docx"]


def test_process_counts_take_a_number_or_auto() -> None:
    from docsearch.cli.app import settings_from
    from docsearch.errors import ConfigError
    from docsearch.settings import AUTO, load_settings

    assert load_settings({}).engine_workers == AUTO and load_settings({}).workers == 1
    assert load_settings({"DOCSEARCH_ENGINE_WORKERS": "0"}).engine_workers == 0
    assert load_settings({"DOCSEARCH_WORKERS": "auto"}).workers == AUTO
    assert settings_from(workers="auto", engine_workers="3").engine_workers == 3
    with pytest.raises(ConfigError, match="--engine-workers must be a number of processes or 'auto'"):
        settings_from(engine_workers="many")
    with pytest.raises(ConfigError, match="DOCSEARCH_WORKERS"):
        load_settings({"DOCSEARCH_WORKERS": "-3"})


def test_the_window_ahead_is_bounded_by_bytes_as_well_as_tasks() -> None:
    engine = Engine(_recipe(), 0)
    engine.workers = 2  # the rule alone: no pool is started
    done: Future[list[Piece]] = Future()
    small = deque([(done, 1_000)] * 8)
    assert not engine._too_far(small, 8) and engine._too_far(deque([(done, 1_000)] * 9), 8)
    big = engine_mod.AHEAD_BYTES // 2
    assert not engine._too_far(deque([(done, big)] * 2), 8)  # one task per worker is always allowed
    assert engine._too_far(deque([(done, big)] * 3), 8)  # a third would queue more than AHEAD_BYTES
    assert not engine._too_far(deque([(iter(()), big)] * 3), 8)  # work done here does not count


def test_workers_share_the_cores_out_between_their_tokenizer_pools() -> None:
    assert [engine_mod.tokenizer_threads(w, cpus=2) for w in (1, 2, 3)] == [2, 1, 1]
    assert [engine_mod.tokenizer_threads(w, cpus=16) for w in (1, 7, 8)] == [16, 2, 2]


@pytest.mark.slow
def test_a_worker_sizes_its_own_tokenizer_pool_and_leaves_the_host_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    monkeypatch.setattr(engine_mod.os, "cpu_count", lambda: 4)
    with Engine(_recipe(), 2) as pooled:
        seen = pooled._pool.submit(_pool_env).result()  # type: ignore[union-attr]
    assert seen == (None, "2")  # 4 cores, 2 workers: two threads each
    assert "TOKENIZERS_PARALLELISM" not in engine_mod.os.environ and "RAYON_NUM_THREADS" not in engine_mod.os.environ


def _pool_env() -> tuple[str | None, str | None]:
    import os

    return os.environ.get("TOKENIZERS_PARALLELISM"), os.environ.get("RAYON_NUM_THREADS")
