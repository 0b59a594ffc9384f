"""One test body, run against every backend: Edge in-process, qdrant-client's local
mode (the stand-in for a server), and a real server when DOCSEARCH_TEST_QDRANT_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from docsearch.encoders.sparse import sparse_encoder
from docsearch.store import QuerySpec, Store, StorePoint, open_store, point_id
from docsearch.types import Fusion

DIM = 8
BACKENDS = ["edge", "client-local"] + (["server"] if os.environ.get("DOCSEARCH_TEST_QDRANT_URL") else [])
TEXTS = {
    "garden": "Tomato plants need staking and regular watering in the garden",
    "stars": "A telescope gathers starlight so faint galaxies become visible",
    "router": "The router forwards packets between networks using routing tables",
    "zx": "Part number ZX-4471 is the replacement valve for the boiler",
}


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "edge":
        s = open_store(tmp_path, DIM)
    elif request.param == "client-local":
        s = open_store(tmp_path, DIM, url=f"local:{tmp_path / 'qdrant-local'}", collection="t")
    else:
        s = open_store(tmp_path, DIM, url=os.environ["DOCSEARCH_TEST_QDRANT_URL"],
                       api_key=os.environ.get("DOCSEARCH_TEST_QDRANT_API_KEY"), collection=f"t-{uuid.uuid4().hex[:8]}")
    yield s
    if request.param == "server":
        s.drop()
    else:
        s.close()


def vec(seed: int) -> list[float]:
    v = np.random.default_rng(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).tolist()


def points() -> list[StorePoint]:
    sparse = sparse_encoder().documents(list(TEXTS.values()))
    return [
        StorePoint(point_id("src", doc, 0), vec(i), sp,
                   {"doc": doc, "title": doc, "path": f"{doc}.txt", "chunk": 0, "text": text})
        for i, ((doc, text), sp) in enumerate(zip(TEXTS.items(), sparse, strict=False))
    ]


def test_upsert_count_and_idempotent_ids(store: Store) -> None:
    store.upsert(points())
    store.upsert(points())  # same ids: overwritten, never duplicated
    assert store.count() == len(TEXTS)
    ids = [point_id("src", d, 0) for d in TEXTS]
    assert store.existing([*ids, point_id("src", "nope", 0)]) == set(ids)


def test_dense_search_ranks_the_nearest_first(store: Store) -> None:
    store.upsert(points())
    hits = store.query(QuerySpec(limit=2, dense=vec(1)))
    assert hits[0].payload["doc"] == "stars"
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_sparse_search_finds_the_exact_term(store: Store) -> None:
    store.upsert(points())
    hits = store.query(QuerySpec(limit=2, mode="sparse", sparse=sparse_encoder().query("ZX-4471 valve")))
    assert hits[0].payload["doc"] == "zx"


def test_texts_pages_every_point_and_set_sparse_leaves_dense_alone(store: Store) -> None:
    store.upsert(points())
    pages = list(store.texts(page=3))
    assert [len(p) for p in pages] == [3, 1]
    texts = dict(item for page in pages for item in page)
    assert texts[point_id("src", "garden", 0)] == TEXTS["garden"]
    # Give "garden" the BM25 vector of another text: sparse search follows, dense does not move.
    garden = point_id("src", "garden", 0)
    store.set_sparse([(garden, sparse_encoder().documents(["orchids in the greenhouse"])[0])])
    assert store.query(QuerySpec(limit=1, mode="sparse", sparse=sparse_encoder().query("orchids")))[0].id == garden
    assert store.query(QuerySpec(limit=1, mode="sparse", sparse=sparse_encoder().query("tomato staking"))) == []
    assert store.query(QuerySpec(limit=1, dense=vec(0)))[0].score == pytest.approx(1.0, abs=1e-4)
    assert store.count() == len(TEXTS)


@pytest.mark.parametrize("fusion", [Fusion("rrf", 2, (1.0, 1.0)), Fusion("rrf", 60, (1.0, 3.0)), Fusion("dbsf")])
def test_hybrid_fuses_both_lists(store: Store, fusion: Fusion) -> None:
    store.upsert(points())
    # Dense points at "garden", sparse at "router": both must be in the fused top 2.
    query = sparse_encoder().query("routing tables packets")
    hits = store.query(QuerySpec(limit=2, mode="hybrid", dense=vec(0), sparse=query, fusion=fusion))
    assert {h.payload["doc"] for h in hits} == {"garden", "router"}


def test_path_filter_and_delete(store: Store) -> None:
    store.upsert(points())
    hits = store.query(QuerySpec(limit=4, dense=vec(1), paths=["garden.txt", "zx.txt"]))
    assert {h.payload["doc"] for h in hits} == {"garden", "zx"}
    store.delete([point_id("src", "garden", 0)])
    assert store.count() == len(TEXTS) - 1
    assert [c["doc"] for c in store.doc_chunks("zx")] == ["zx"]
    assert store.doc_chunks("garden") == []


def test_batch_queries_answer_in_order(store: Store) -> None:
    store.upsert(points())
    results = store.query_batch([QuerySpec(limit=1, dense=vec(i)) for i in range(4)])
    assert [r[0].payload["doc"] for r in results] == list(TEXTS)


def test_the_record_lives_with_the_vectors_and_is_no_point(store: Store) -> None:
    assert store.record() is None  # a store made before records, or before its first write
    record = {"format": 1, "meta": {"fingerprint": "abc", "dim": DIM}}
    store.write_record(record)
    store.write_record({**record, "meta": {**record["meta"], "fingerprint": "def"}})  # replaced, not merged
    assert store.record() == {"format": 1, "meta": {"fingerprint": "def", "dim": DIM}}
    store.upsert(points())
    assert store.count() == store.count(exact=False) == len(TEXTS)  # the record is not counted
    pages = list(store.payloads(page=3))
    assert [len(p) for p in pages] == [3, 1]
    assert {pid: p["doc"] for page in pages for pid, p in page} == {point_id("src", d, 0): d for d in TEXTS}


def test_a_damaged_record_is_one_clear_error(tmp_path: Path) -> None:
    from docsearch.errors import IndexDamagedError

    store = open_store(tmp_path, DIM)
    (tmp_path / "shard" / "docsearch.json").write_text("{not json")
    with pytest.raises(IndexDamagedError, match="record of the index shard"):
        store.record()
    store.close()


def test_large_segments_get_an_hnsw_graph_and_int8_vectors_and_keep_recall(tmp_path: Path) -> None:
    from docsearch.store.edge import EdgeStore
    from docsearch.types import SparseVector as Sparse

    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((6000, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store = EdgeStore(tmp_path / "big", 32, hnsw_above=2000)
    store.upsert([StorePoint(point_id("s", str(i), 0), v.tolist(), Sparse([], []), {"doc": str(i), "path": "p"})
                  for i, v in enumerate(vecs)])
    assert store.segments() and all(kind == "plain" and not q for kind, q in store.segments())
    store.finish(quantize=True)
    assert ("hnsw", True) in store.segments()  # what the optimizer built, not only what was configured
    hits = 0
    for q in vecs[:50]:
        found = {h.id for h in store.query(QuerySpec(limit=10, dense=q.tolist(), with_text=False))}
        exact = {h.id for h in store.query(QuerySpec(limit=10, dense=q.tolist(), with_text=False, exact=True))}
        hits += len(found & exact)
    assert hits / 500 >= 0.95
    before = store.query(QuerySpec(limit=5, dense=vecs[3].tolist(), with_text=False))
    store.close()
    # Reopened (files read ahead, keyword indexes and id tracker memory-mapped): the same answers,
    # and the on-disk keyword indexes still serve doc lookups and path filters.
    again = EdgeStore(tmp_path / "big", 32, create=False)
    assert again.query(QuerySpec(limit=5, dense=vecs[3].tolist(), with_text=False)) == before
    assert [c["doc"] for c in again.doc_chunks("4321")] == ["4321"]
    assert again.query(QuerySpec(limit=3, dense=vecs[3].tolist(), paths=["elsewhere"])) == []
    again.close()
