"""The engine-only ceiling: what ``docsearch index`` reaches when encoding costs nothing, over a
range of engine worker processes.

Reading, language detection, chunking with the model's tokenizer, BM25 vectors, payloads, upserts
into the Edge shard and the manifest run as in a real run; only the forward pass is replaced by
ready-made unit vectors. The documents/s is the most any encoder (a GPU included) can get out of
this machine, and its curve over ``--engine-workers`` shows how the engine scales with cores.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..encoders.base import EncoderBase
from ..indexer import index_paths
from ..model import ModelDir
from ..settings import Settings


class FreeEncoder(EncoderBase):
    """The real model's identity (so the index is the real one's), vectors that cost nothing."""

    backend = "free"

    def __init__(self, model: str) -> None:
        resolved = ModelDir.resolve(model)  # torch-free: id, fingerprint, dimension
        self.model_id, self.fingerprint, self.variant = resolved.id, resolved.fingerprint, resolved.variant
        self.dim, self.max_tokens = resolved.dim, resolved.max_seq_length
        unit = np.random.default_rng(0).standard_normal((4096, self.dim)).astype(np.float32)
        self._unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)

    @property
    def accepts_token_ids(self) -> bool:
        return True

    def _vectors(self, n: int) -> np.ndarray:
        return self._unit[np.arange(n) % len(self._unit)]

    def encode_document_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        return self._vectors(len(ids))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(len(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(len(texts))


@dataclass(frozen=True)
class CeilingRow:
    engine_workers: int
    processes: int  # the indexing process and its workers
    documents: int
    chunks: int
    seconds: float  # the best of the repeats
    documents_per_s: float
    chunks_per_s: float
    speedup: float  # against the first row, measured in the same run
    runs_documents_per_s: tuple[float, ...]


def default_workers(cpus: int | None = None) -> list[int]:
    """0 (everything on the indexing thread), then up to one worker per core."""
    cpus = cpus or os.cpu_count() or 1
    return sorted({0, *range(1, cpus + 1)})


def engine_ceiling(paths: Sequence[str | os.PathLike[str]], model: str, workers: Sequence[int] | None = None,
                   repeat: int = 3, say: Callable[[str], None] = lambda _msg: None) -> list[CeilingRow]:
    """Index ``paths`` with a free encoder ``repeat`` times per worker count (the best counts: a
    shared machine is noisy), each into a new temporary index."""
    encoder = FreeEncoder(model)
    rows: list[CeilingRow] = []
    for count in workers if workers is not None else default_workers():
        runs = []
        for _ in range(repeat):
            say(f"engine only, {count} engine workers…")
            runs.append(_one(paths, model, count, encoder))
        best = min(runs, key=lambda r: r[0])
        seconds, documents, chunks = best
        rate = documents / seconds
        base = rows[0].documents_per_s if rows else rate
        rows.append(CeilingRow(count, 1 + count, documents, chunks, seconds, rate, chunks / seconds, rate / base,
                               tuple(round(d / s, 1) for s, d, _ in runs)))
    return rows


def _one(paths: Sequence[str | os.PathLike[str]], model: str, workers: int, encoder: Any) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory(prefix="docsearch-engine-") as home:
        settings = Settings(home=Path(home), index="engine", model=model, engine_workers=workers)
        t0 = time.perf_counter()
        report = index_paths(settings, list(paths), encoder=encoder)
        return time.perf_counter() - t0, report.documents, report.chunks
