"""What `docsearch index` costs around the encoder: SciFact indexed with an encoder that costs nothing.

Reading, chunking with the model's tokenizer, BM25 sparse vectors, payloads, upserts into the Edge
shard and the manifest all run as in a real run; only the model's forward pass is replaced by
ready-made unit vectors. The documents/s printed is the ceiling any encoder (a GPU included) can
reach on this machine; ``--profile`` shows where the time goes.

    python tests/bench/engine_only.py [--corpus ../shared/datasets/scifact/corpus.jsonl] [--engine-workers 0,1,2]
        [--out tests/bench/results/engine_only_cpu.json] [--profile]

Each setting runs ``--repeat`` times (the best kept: the machine is shared); the ratio is to the
first setting, measured in the same run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from docsearch.encoders import load_encoder
from docsearch.eval.bench import machine
from docsearch.indexer import index_paths
from docsearch.settings import Settings


class FreeEncoder:
    """The real model's identity (so the index is the real one's), vectors that cost nothing."""

    accepts_token_ids = True

    def __init__(self, model: str) -> None:
        real = load_encoder(model)
        self.model_id, self.fingerprint, self.variant = real.model_id, real.fingerprint, real.variant
        self.dim, self.max_tokens = real.dim, real.max_tokens
        unit = np.random.default_rng(0).standard_normal((4096, self.dim)).astype(np.float32)
        self._unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)

    def _vectors(self, n: int) -> Any:
        return self._unit[np.arange(n) % len(self._unit)]

    def encode_document_ids(self, ids: Sequence[Sequence[int]]) -> Any:
        return self._vectors(len(ids))

    def encode_documents(self, texts: Sequence[str]) -> Any:
        return self._vectors(len(texts))

    def encode_queries(self, texts: Sequence[str]) -> Any:
        return self._vectors(len(texts))


def run(args: argparse.Namespace, encoder: FreeEncoder, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="docsearch-engine-") as home:
        settings = Settings(home=Path(home), index="engine", model=args.model, engine_workers=workers)
        profile = cProfile.Profile()
        t0 = time.perf_counter()
        if args.profile:
            profile.enable()
        report = index_paths(settings, [args.corpus], encoder=encoder)
        profile.disable()
        seconds = time.perf_counter() - t0
    if args.profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)
    return {"engine_workers": workers, "processes": 1 + workers, "documents": report.documents,
            "chunks": report.chunks, "seconds": seconds, "documents_per_s": report.documents / seconds,
            "chunks_per_s": report.chunks / seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="../shared/datasets/scifact/corpus.jsonl")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--engine-workers", default="0,1,2",
                        help="worker processes per run, comma-separated (0: all on the indexing thread)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting; the best is kept")
    parser.add_argument("--out", type=Path, default=None, help="JSON results")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    encoder = FreeEncoder(args.model)
    rows = []
    for workers in (int(w) for w in args.engine_workers.split(",")):
        runs = [run(args, encoder, workers) for _ in range(args.repeat)]
        best = max(runs, key=lambda r: r["documents_per_s"])
        best["runs_documents_per_s"] = [round(r["documents_per_s"], 1) for r in runs]
        rows.append(best)
        print(f"engine workers {workers} ({1 + workers} processes): {best['documents_per_s']:.0f} documents/s "
              f"(runs: {best['runs_documents_per_s']}), x{best['documents_per_s'] / rows[0]['documents_per_s']:.2f} "
              f"against {rows[0]['engine_workers']} workers", flush=True)
    payload = {"machine": machine().__dict__, "corpus": args.corpus, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
