"""int8 + HNSW on real embeddings: SciFact's chunks, forced through the large-index layout.

SciFact (9,881 chunks) sits below the size where `docsearch index` quantizes and builds a graph, so
its own index is scanned exactly. This copies an existing SciFact index's vectors into a shard that
is quantized and graphed the way a 100k+ index is, then asks all test claims of both: recall@10
against exact search, and document nDCG@10 (best chunk per document) of each.

    docsearch index ../shared/datasets/scifact/corpus.jsonl --index scifact
    python tests/bench/quantized_scifact.py --index indexes/scifact --data ../shared/datasets/scifact
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from docsearch.encoders import load_query_encoder
from docsearch.eval import metrics
from docsearch.eval.beir import load_beir
from docsearch.eval.bench import recall_at_10
from docsearch.store import DENSE, QuerySpec, StoreHit, StorePoint
from docsearch.store.edge import EdgeStore
from docsearch.types import SparseVector as Sparse


def read_points(shard: Path) -> list[StorePoint]:
    """Every point of a shard with its dense vector (a bench-only read; the product never needs it)."""
    source = qe.EdgeShard.load(str(shard))
    points, offset = [], None
    while True:
        records, offset = source.scroll(qe.ScrollRequest(limit=2000, offset=offset, with_payload=True,
                                                         with_vector=[DENSE]))
        points += [StorePoint(str(r.id), list(r.vector[DENSE]), Sparse([], []), dict(r.payload or {}))
                   for r in records]
        if offset is None:
            return points


def doc_ranking(hits: list[StoreHit]) -> list[str]:
    best: dict[str, float] = {}
    for h in hits:
        best[h.payload["doc"]] = max(best.get(h.payload["doc"], -1.0), h.score)
    return sorted(best, key=lambda d: -best[d])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True, help="an index directory built from SciFact")
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    meta = json.loads((args.index / "index.json").read_text())
    data = load_beir(args.data, "test")
    encoder = load_query_encoder(meta["model"])
    vectors = encoder.encode_queries(list(data.queries.values()))
    points = read_points(args.index / "shard")
    with tempfile.TemporaryDirectory(prefix="docsearch-q-") as tmp:
        store = EdgeStore(Path(tmp) / "shard", meta["dim"], hnsw_above=1000)  # graph + int8 as at 100k+
        for lo in range(0, len(points), 1000):
            store.upsert(points[lo:lo + 1000])
        store.finish(quantize=True)
        layout = store.segments()
        recalls, ndcg_q, ndcg_x = [], [], []
        for qid, vec in zip(data.queries, vectors, strict=True):
            fast = store.query(QuerySpec(limit=100, dense=vec.tolist(), with_text=False))
            exact = store.query(QuerySpec(limit=100, dense=vec.tolist(), with_text=False, exact=True))
            recalls.append(recall_at_10(fast, exact))
            ndcg_q.append(metrics.ndcg(doc_ranking(fast), data.qrels[qid], 10))
            ndcg_x.append(metrics.ndcg(doc_ranking(exact), data.qrels[qid], 10))
        store.close()
    out: dict[str, Any] = {"index": meta["name"], "model": meta["model_id"], "chunks": len(points),
                           "segments": layout, "queries": len(vectors),
                           "recall_at_10": statistics.fmean(recalls),
                           "ndcg_at_10_int8_hnsw": statistics.fmean(ndcg_q),
                           "ndcg_at_10_exact": statistics.fmean(ndcg_x)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
