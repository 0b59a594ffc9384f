"""What the open-time integrity check costs, and the full check, on a large synthetic index.

Builds an index as ``docsearch index`` leaves one (index.json, a manifest of one row per source,
an Edge shard of embedding-shaped vectors with their record), without embedding anything, then
times: ``Index.open`` with and without :meth:`Index.verify` (cold process state, warm page cache),
each part of the check, the exact count the check avoids, one search's store query before and
after the check (unchanged: the check runs once per open), and ``docsearch check`` in full.

    python tests/bench/integrity_cost.py [--size 200000] [--per-source 10] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from docsearch import Index, ModelDir, Settings
from docsearch.eval import bench
from docsearch.integrity import check_index
from docsearch.manifest import SourceRow
from docsearch.store import QuerySpec, StorePoint, point_id
from docsearch.types import SparseVector


def build(settings: Settings, size: int, per_source: int) -> None:
    model = ModelDir.resolve("all-MiniLM-L6-v2")
    rng = np.random.default_rng(size)
    basis = bench.embedding_like_basis(model.dim, rng)
    with Index.create(settings, model) as index:
        rows = []
        for start in range(0, size, 2000):
            vecs = bench.embedding_like(min(2000, size - start), basis, rng).tolist()
            points = []
            for i, vec in enumerate(vecs, start):
                src, n = f"/corpus/doc{i // per_source:07}.txt", i % per_source
                points.append(StorePoint(point_id(src, src, n), vec, SparseVector([i % 5000], [1.0]),
                                         {"doc": src, "title": "", "path": src[1:], "chunk": n, "text": "x",
                                          "source": src}))
            index.store.upsert(points)
        for s in range(0, size, per_source):
            src = f"/corpus/doc{s // per_source:07}.txt"
            ids = tuple(point_id(src, src, n) for n in range(min(per_source, size - s)))
            rows.append(SourceRow(src, src[1:], 1, 1, "h", "done", ids, 1))
        index.manifest.put(rows)
        index.store.finish()


def timed(fn: Any, repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--per-source", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), index="big")
        t0 = time.perf_counter()
        build(settings, args.size, args.per_source)
        built = time.perf_counter() - t0

        def reopen(verify: bool) -> None:
            index = Index.open(settings, verify=verify)
            index.store  # noqa: B018 - a search opens the store either way
            index.close()

        out: dict[str, Any] = {"points": args.size, "sources": args.size // args.per_source, "build_s": built,
                               "open_ms": timed(lambda: reopen(False), args.repeat),
                               "open_verified_ms": timed(lambda: reopen(True), args.repeat)}
        with Index.open(settings) as index:
            store, manifest = index.store, index.manifest
            query = QuerySpec(limit=30, dense=[1 / index.meta.dim ** 0.5] * index.meta.dim, with_text=False)
            out["query_ms_before_check"] = timed(lambda: store.query(query), args.repeat * 5)
            out["verify_ms"] = timed(index.verify, args.repeat * 5)
            out["query_ms_after_check"] = timed(lambda: store.query(query), args.repeat * 5)
            out["record_ms"] = timed(store.record, args.repeat * 5)
            out["manifest_tally_ms"] = timed(manifest.tally, args.repeat * 5)
            out["count_estimate_ms"] = timed(lambda: store.count(exact=False), args.repeat * 5)
            out["count_exact_ms"] = timed(store.count, args.repeat)
        t0 = time.perf_counter()
        report = check_index(settings)
        out["full_check_s"] = time.perf_counter() - t0
        out["full_check_ok"] = report.ok
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
