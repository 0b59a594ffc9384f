"""The embedded store at 1M chunks (synthetic vectors), as `docsearch bench` measures sizes.

Built as ``docsearch index`` builds a large index: upserts, then int8 quantization and an HNSW graph
for every full segment. The vectors are embedding-shaped (``bench.embedding_like``: rank 24 plus
noise), queries drawn from the same distribution. ``--no-hnsw`` measures the exact scan used below
the HNSW threshold instead. ``--ef`` then searches the same shard with other graph widths, so the
recall/latency trade-off behind ``store.HNSW_EF`` is measured on one build.

    python tests/bench/store_1m.py [--size 1000000] [--queries 100] [--no-hnsw] [--no-quantize] [--ef 64,128,256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from docsearch.cli.bench import _queries
from docsearch.encoders import load_query_encoder
from docsearch.eval import bench
from docsearch.store import QuerySpec
from docsearch.store.edge import EdgeStore


def ef_sweep(path: Path, size: int, dim: int, efs: list[int], queries: int) -> list[dict[str, Any]]:
    """Recall@10 against exact search and store-only latency for each graph width, same queries."""
    basis = bench.embedding_like_basis(dim, np.random.default_rng(size))  # the generator's basis
    vecs = bench.embedding_like(queries, basis, np.random.default_rng(7)).tolist()
    store = EdgeStore(path, dim, create=False)
    truth = [store.query(QuerySpec(limit=10, dense=v, with_text=False, exact=True)) for v in vecs]
    rows = []
    for ef in efs:
        latencies, recalls = [], []
        for vec, exact in zip(vecs, truth, strict=True):
            t0 = time.perf_counter()
            hits = store.query(QuerySpec(limit=30, dense=vec, with_text=False, hnsw_ef=ef))
            latencies.append((time.perf_counter() - t0) * 1000)
            recalls.append(bench.recall_at_10(hits, exact))
        rows.append({"hnsw_ef": ef, "recall_at_10": statistics.fmean(recalls),
                     "store_p50_ms": statistics.median(latencies)})
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--no-hnsw", action="store_true")
    parser.add_argument("--no-quantize", action="store_true", help="float vectors in RAM, for the side-by-side")
    parser.add_argument("--ef", default="", help="comma-separated hnsw_ef values to sweep on the built shard")
    args = parser.parse_args()
    encoder = load_query_encoder("all-MiniLM-L6-v2")
    with tempfile.TemporaryDirectory(prefix="docsearch-1m-") as tmp:
        row = bench.scale(args.size, encoder.dim, lambda q: encoder.encode_queries([q])[0].tolist(),
                          _queries(args.queries), Path(tmp), quantize=not args.no_quantize,
                          hnsw_above=10**12 if args.no_hnsw else None)
        efs = [int(x) for x in args.ef.split(",") if x]
        sweep = ef_sweep(Path(tmp) / f"scale-{args.size}", args.size, encoder.dim, efs, args.queries) if efs else []
    print(json.dumps({"machine": asdict(bench.machine()), "scale": asdict(row), "ef_sweep": sweep}, indent=1))


if __name__ == "__main__":
    main()
