"""What readers-during-writes cost: publishing committed states, and opening a reader's view.

Either loads N synthetic embedding-shaped chunks (``--size``) through ``WriterStore`` as
``docsearch index`` does (a batch of 512 at a time, publishing when due, optimizing at the end),
or takes an existing index's shard (``--shard``, copied first) and adds one batch. Then opens a
reader's view and times it against opening the shard itself.

    python tests/bench/publish_cost.py --size 200000
    python tests/bench/publish_cost.py --shard ../evalhome/eval-scifact-.../shard
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from docsearch.diskspace import allocated
from docsearch.eval import bench
from docsearch.store import StorePoint
from docsearch.store import snapshots as snap
from docsearch.store.edge import EdgeStore
from docsearch.store.shared import ReaderStore, WriterStore
from docsearch.types import SparseVector

BATCH = 512


def batch(n: int, start: int, dim: int, basis: Any, rng: Any) -> list[StorePoint]:
    vecs = bench.embedding_like(n, basis, rng).tolist()
    return [StorePoint(str(uuid.uuid5(uuid.NAMESPACE_OID, str(i))), v, SparseVector([i % 3000, 3001], [1.0, 0.5]),
                       {"doc": f"d{i // 4}", "path": f"p{i % 997}.txt", "chunk": i % 4, "text": "word " * 150})
            for i, v in zip(range(start, start + n), vecs, strict=True)]


class Timed(WriterStore):
    """Counts publications, their time and the bytes they copied."""

    publications, seconds, copied = 0, 0.0, 0

    def commit(self, force: bool = False) -> bool:
        need = snap.copy_need(self._live, self._dir) if self._dirty else 0
        t0 = time.perf_counter()
        done = super().commit(force)
        if done:
            self.publications += 1
            self.seconds += time.perf_counter() - t0
            self.copied += need
        return done


def load(index_dir: Path, size: int, dim: int, existing: int) -> dict[str, Any]:
    rng, basis = np.random.default_rng(size), bench.embedding_like_basis(dim, np.random.default_rng(size))
    writer = Timed(index_dir, dim)
    t0 = time.perf_counter()
    for start in range(existing, existing + size, BATCH):
        writer.upsert(batch(min(BATCH, existing + size - start), start, dim, basis, rng))
        writer.commit()
    during = {"publications": writer.publications, "publish_s": writer.seconds, "copied_mib": writer.copied / 2**20}
    writer.finish()
    t1 = time.perf_counter()
    need = snap.copy_need(index_dir / "shard", index_dir)
    writer.commit(force=True)
    final = {"final_publish_s": time.perf_counter() - t1, "final_copied_mib": need / 2**20}
    total = time.perf_counter() - t0
    writer.close()
    return {"chunks_added": size, "load_s": total, **during, **final,
            "publish_share": (writer.seconds + final["final_publish_s"]) / total}


def reader_cost(index_dir: Path, dim: int) -> dict[str, Any]:
    gen = snap.current(index_dir)
    assert gen is not None
    t0 = time.perf_counter()
    reader = ReaderStore(index_dir, dim)
    opened = time.perf_counter() - t0
    row = {"view_open_s": opened, "view_copied_mib": snap.view_need(gen.path) / 2**20, "points": reader.count()}
    reader.close()
    t0 = time.perf_counter()
    direct = EdgeStore(index_dir / "shard", dim, create=False)
    row["direct_open_s"] = time.perf_counter() - t0
    assert direct.count() == row["points"]
    direct.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=0, help="synthetic chunks to load")
    parser.add_argument("--shard", type=Path, help="an existing index's shard folder, copied; one batch is added")
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docsearch-publish-") as tmp:
        index_dir = Path(tmp)
        existing = 0
        if args.shard:
            shutil.copytree(args.shard, index_dir / "shard")
            edge = EdgeStore(index_dir / "shard", args.dim, create=False)
            existing = edge.count()
            edge.close()
        size = args.size or BATCH
        row = load(index_dir, size, args.dim, existing)
        row.update(reader_cost(index_dir, args.dim))
        row["live_mib"] = allocated(index_dir / "shard") / 2**20
        row["published_mib"] = allocated(index_dir / "published") / 2**20
        print(json.dumps({"machine": asdict(bench.machine()), "existing": existing, **row}, indent=1))


if __name__ == "__main__":
    main()
