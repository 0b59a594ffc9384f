"""The multi-process encoder: same vectors as one process, in the caller's order, and stopped after a run."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from docsearch.encoders import load_encoder
from docsearch.encoders.pool import PooledEncoder, worker_devices
from docsearch.errors import ConfigError
from docsearch.indexer import index_paths
from docsearch.model import ModelDir
from docsearch.searcher import Searcher
from docsearch.settings import Settings

pytestmark = pytest.mark.slow

TEXTS = [
    "A reflecting telescope gathers faint starlight with a curved mirror.",
    "Tomatoes.",
    "Routers forward packets between networks using routing tables, hop by hop, until they arrive.",
    "Vitamin D deficiency raises the risk of fractures in older adults. " * 6,
    "Sourdough needs a lively starter.",
]


def test_pool_matches_one_process_in_order() -> None:
    single = load_encoder("all-MiniLM-L6-v2", "cpu", backend="torch-fp32")
    pool = PooledEncoder(ModelDir.resolve("all-MiniLM-L6-v2"), 2, "cpu", backend="torch-fp32")
    try:
        assert pool.dim == single.dim and pool.fingerprint == single.fingerprint
        got, want = pool.encode_documents(TEXTS), single.encode_documents(TEXTS)
        assert np.min(np.sum(got * want, axis=1)) > 0.9999  # same rows in the same order
        ids = [[101, 7592, 2088, 102], [101, 2088, 102]]
        assert np.allclose(pool.encode_document_ids(ids), single.encode_document_ids(ids), atol=1e-5)  # type: ignore[attr-defined]
        assert pool.encode_documents([]).shape == (0, pool.dim)
    finally:
        pool.close()


def test_index_with_workers_searches_like_one_process_and_stops_its_pool(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n, text in enumerate(TEXTS):
        (docs / f"{n}.txt").write_text(text)
    s = Settings(home=tmp_path / "home", index="pooled", workers=2)
    report = index_paths(s, [docs])
    assert report.documents == len(TEXTS) and not multiprocessing.active_children()
    with Searcher.open(s) as searcher:
        assert searcher.search("looking at distant stars", k=1)[0].path == "0.txt"


def test_pool_refuses_fewer_than_two_workers_and_spreads_gpus() -> None:
    with pytest.raises(ConfigError):
        PooledEncoder(ModelDir.resolve("all-MiniLM-L6-v2"), 1)
    assert worker_devices(3, "cpu") == ["cpu", "cpu", "cpu"]
