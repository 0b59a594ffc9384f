"""Where an index's memory goes while it is written (issue #16, "RSS flat over a 100k-chunk run").

Writes ``--points`` points into a new Edge shard through docsearch's own store (``EdgeStore``: the
index's real configuration), in batches as the indexer does, and prints the process's anonymous
resident memory (the heap: what the kernel cannot drop) every ``--every`` points. The points are
shaped like SciFact's: its chunk texts and payload fields, their real BM25 vectors (Qdrant's, in
English), random unit dense vectors; each part can be left out (``--without sparse`` /
``payload``) to see what it costs. No engine, no encoder: the store alone.

    python tests/bench/store_rss.py [--points 100000] [--without sparse] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
sys.path.insert(0, str(REPO / "tests" / "bench"))

from engine_scale import rss_mib  # noqa: E402

from docsearch.encoders.sparse import document_vectors  # noqa: E402
from docsearch.store.base import StorePoint  # noqa: E402
from docsearch.store.edge import EdgeStore  # noqa: E402
from docsearch.types import SparseVector  # noqa: E402

SCIFACT = REPO.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"
BATCH = 512


def anon_mib() -> float:
    return rss_mib(os.getpid())[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=20_000)
    ap.add_argument("--without", choices=["sparse", "payload"], action="append", default=[])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    docs = [json.loads(line) for line in SCIFACT.open()]
    texts = [d["text"][:1400] for d in docs]  # about one 256-token chunk each
    sparse = ([SparseVector([], [])] * len(texts) if "sparse" in args.without
              else document_vectors(texts, ["en"] * len(texts)))
    unit = np.random.default_rng(0).standard_normal((1024, 384)).astype(np.float32)
    rows = (unit / np.linalg.norm(unit, axis=1, keepdims=True)).tolist()
    with tempfile.TemporaryDirectory(prefix="docsearch-rss-") as tmp:
        store = EdgeStore(Path(tmp) / "shard", 384)
        curve = [(0, anon_mib())]
        for start in range(0, args.points, BATCH):
            batch = []
            for n in range(start, min(args.points, start + BATCH)):
                d = docs[n % len(docs)]
                payload = {} if "payload" in args.without else {
                    "doc": f"{d['_id']}-{n}", "title": d["title"], "path": "corpus.jsonl", "chunk": 0,
                    "text": texts[n % len(texts)], "start": 0, "line": n + 1, "source": str(SCIFACT),
                    "mapped": False, "lang": "en"}
                batch.append(StorePoint(str(uuid.UUID(int=n + 1)), rows[n % len(rows)], sparse[n % len(sparse)],
                                        payload))
            store.upsert(batch)
            done = start + len(batch)
            if done % args.every < BATCH:
                curve.append((done, anon_mib()))
                print(f"{done:>8} points: anonymous RSS {curve[-1][1]:.0f} MiB", flush=True)
        store.close()
    result = {"points": args.points, "without": args.without, "anon_mib": curve}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
