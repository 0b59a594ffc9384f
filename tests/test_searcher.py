from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from docsearch.searcher import _best_per_doc, _roll_up, _zscore_fuse, best_sentence
from docsearch.store import StoreHit


def hit(doc: str, score: float, chunk: int = 0) -> StoreHit:
    return StoreHit(f"{doc}-{chunk}", score, {"doc": doc, "chunk": chunk, "text": f"text of {doc}", "path": doc})


def test_roll_up_keeps_each_documents_best_chunk_in_order() -> None:
    hits = [hit("a", 0.9, 1), hit("b", 0.8), hit("a", 0.7, 0), hit("c", 0.6)]
    out = _roll_up("q", hits, k=2)
    assert [(h.rank, h.doc, h.chunk) for h in out] == [(1, "a", 1), (2, "b", 0)]


def test_zscore_fusion_credits_a_document_found_by_both_lists() -> None:
    dense = _best_per_doc([hit("a", 0.9), hit("b", 0.5), hit("c", 0.4)])
    sparse = _best_per_doc([hit("c", 12.0), hit("d", 3.0), hit("a", 2.0)])
    fused = _zscore_fuse([dense, sparse], (0.5, 0.5))
    assert set(fused) == {"a", "b", "c", "d"}
    assert max(fused, key=fused.__getitem__) in {"a", "c"}  # found by both beats found by one
    assert fused["b"] < fused["a"] and fused["d"] < fused["c"]
    # hand check for "b": dense z = (0.5 - 0.6) / pstdev, sparse takes that list's floor
    mean_d, sd_d = 0.6, statistics.pstdev([0.9, 0.5, 0.4])
    mean_s, sd_s = 17 / 3, statistics.pstdev([12.0, 3.0, 2.0])
    expected_b = 0.5 * (0.5 - mean_d) / sd_d + 0.5 * (2.0 - mean_s) / sd_s
    assert fused["b"] == pytest.approx(expected_b, abs=1e-3)


def test_weights_shift_the_balance() -> None:
    dense = _best_per_doc([hit("a", 0.9), hit("b", 0.1)])
    sparse = _best_per_doc([hit("b", 9.0), hit("a", 1.0)])
    dense_heavy = _zscore_fuse([dense, sparse], (0.9, 0.1))
    sparse_heavy = _zscore_fuse([dense, sparse], (0.1, 0.9))
    assert max(dense_heavy, key=dense_heavy.__getitem__) == "a"
    assert max(sparse_heavy, key=sparse_heavy.__getitem__) == "b"


def test_best_sentence_spans_the_sentence_with_the_query_words() -> None:
    text = "Bread needs flour. Telescopes gather starlight with mirrors. Jazz swings."
    start, end = best_sentence("telescope mirrors", text) or (0, 0)
    assert text[start:end] == "Telescopes gather starlight with mirrors."


def test_k_documents_come_back_when_one_document_has_many_matching_chunks(tmp_path: Path) -> None:
    from fakes import FakeEncoder
    from helpers import write_files

    from docsearch import Index, Searcher, Settings, update_index

    files = {"long.txt": "\n\n".join("Memory leak in the allocator, memory leak again." for _ in range(120))}
    files.update({f"short{i}.txt": f"Topic {i}: a memory leak shows up under load {i}." for i in range(8)})
    root = write_files(tmp_path / "docs", files)
    settings = Settings(home=tmp_path / "home", index="t", chunk_tokens=16, overlap=0)
    with Index.open_or_create(settings) as index:
        update_index(index, [root], encoder=FakeEncoder())
        assert index.store.count() > 100  # the long file alone fills any first page of chunks
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        for mode in ("auto", "dense", "sparse", "hybrid"):
            hits = searcher.search("memory leak", k=9, mode=mode)
            assert len(hits) == 9 and len({h.doc for h in hits}) == 9, mode
            assert len(searcher.search("memory leak", k=5, mode=mode, offset=5)) == 4, mode  # 9 match in all
