"""Where an index run's time goes: each stage's share of the wall-clock time, from one profiled run.

The indexer reads, chunks, makes BM25 vectors, upserts and writes the manifest on its own thread
while the encoder works on the previous batch on another, so the shares of the main thread's stages
add up to the wall time together with the time it waited for the encoder; the encoder's share is
its own busy time (the two overlap). The profile is taken on a run of its own (cProfile's overhead
would distort the throughput figure) and read by function: nothing in the indexer changes for it.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Stage -> (module path suffix, function name) pairs whose cumulative times add up to the stage's;
# wrappers of one another (a writer's upsert around the shard's) are alternatives: the largest counts.
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "read and parse": (("ingest/files.py", "read_source"), ("ingest/walk.py", "content_hash"),
                       ("docsearch/languages.py", "detect")),
    "chunking": (("ingest/chunking.py", "chunk_stream"),),
    "BM25": (("encoders/sparse.py", "document_vectors"),),
    "upsert": (("store/shared.py", "upsert"), ("store/edge.py", "upsert"), ("store/server.py", "upsert")),
    "manifest": (("docsearch/manifest.py", "put"),),
    "publish": (("docsearch/index.py", "commit"),),  # at most every 2 s, and at most 5 % of a run
    "waiting for the encoder": (("docsearch/indexer.py", "_result"),),
}


@dataclass(frozen=True)
class StageShares:
    seconds: float  # wall time of the profiled run
    chunks: int
    encode: float  # the encoder's busy share (its own thread)
    shares: tuple[tuple[str, float], ...]  # main-thread stages, share of the wall time

    @property
    def other(self) -> float:
        """The main thread's time in none of the named stages (walk, payloads, bookkeeping)."""
        return max(0.0, 1.0 - sum(share for _, share in self.shares))


def profile_run(index: Callable[[], Any]) -> StageShares:
    """Run ``index()`` (an index run returning an IndexReport) under cProfile and split its time."""
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    report = profiler.runcall(index)
    wall = time.perf_counter() - t0
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    shares = []
    for stage, names in STAGES.items():
        times = [cum for (file, _, func), (_, _, _, cum, _) in stats.items()
                 if any(func == f and file.endswith(m) for m, f in names)]
        spent = max(times, default=0.0) if stage == "upsert" else sum(times)
        shares.append((stage, min(1.0, spent / wall)))
    return StageShares(wall, int(report.chunks), min(1.0, report.embed_seconds / wall), tuple(shares))
