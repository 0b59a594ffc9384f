"""The least CPU any engine built on these libraries needs for SciFact (issue #16's engine-only ceiling).

``tests/bench/engine_only.py`` measures what ``docsearch index`` reaches with an encoder that costs
nothing. This script measures the floor under it: the libraries' own calls that every chunk must
pass through, each timed alone on one thread over the whole corpus, with nothing of docsearch's
around them:

* the model's tokenizer (``tokenizers``, batch encoding with offsets, its thread pool off so the
  time is CPU time), which chunking needs and no encoder can skip;
* language identification (CLD2, as ``docsearch.languages.detect`` asks it first);
* Qdrant's BM25 (``docsearch.encoders.sparse.document_vectors``) on the chunks;
* Qdrant Edge: building the points (pyo3 objects, which hold the GIL) and ``update``.

Their sum is CPU seconds a run cannot go below; divided by the cores it bounds documents/s from
above, however the work is spread over processes. Reading the file, cutting windows, payloads,
moving pieces between processes and the manifest come on top.

    python tests/bench/engine_floor.py [--cores 2] [--out tests/bench/results/engine_floor_cpu.json]
"""

from __future__ import annotations

import os

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # this script's own process: CPU time, one thread

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from docsearch.encoders.sparse import document_vectors  # noqa: E402
from docsearch.engine import Recipe, chunk_documents  # noqa: E402
from docsearch.ingest import read_source  # noqa: E402
from docsearch.languages import detect  # noqa: E402
from docsearch.model import ModelDir  # noqa: E402
from docsearch.store.base import StorePoint  # noqa: E402
from docsearch.store.edge import EdgeStore  # noqa: E402
from docsearch.types import Source  # noqa: E402

SCIFACT = REPO.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"
BATCH = 512


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """What ``fn`` returns, and the CPU seconds this process spent on it (all its threads)."""
    t0 = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=SCIFACT)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from tokenizers import Tokenizer

    model = ModelDir.resolve(args.model)
    st = args.corpus.stat()
    src = Source(str(args.corpus), args.corpus.name, st.st_size, st.st_mtime_ns)
    docs = read_source(src).documents
    bodies = [d.body for d in docs]
    tok = Tokenizer.from_file(str(model.tokenizer_file))
    tok.no_truncation()
    tok.no_padding()
    stages: dict[str, float] = {}
    _, stages["tokenizer"] = timed(lambda: [tok.encode_batch(bodies[i:i + 64], add_special_tokens=False)
                                            for i in range(0, len(bodies), 64)])
    languages, stages["language"] = timed(lambda: [detect(b) for b in bodies])
    recipe = Recipe(model.tokenizer_file, model.max_seq_length, 32)
    chunks = list(chunk_documents(recipe, src, docs, languages))  # not timed: docsearch's own cutting
    _, stages["bm25"] = timed(document_vectors, [c.text for c in chunks], [c.lang for c in chunks])
    sparse = document_vectors([c.text for c in chunks], [c.lang for c in chunks])
    unit = np.random.default_rng(0).standard_normal((len(chunks), model.dim)).astype(np.float32)
    rows = (unit / np.linalg.norm(unit, axis=1, keepdims=True)).tolist()
    points = [StorePoint(c.id, rows[i], sparse[i], c.payload) for i, c in enumerate(chunks)]
    with tempfile.TemporaryDirectory(prefix="docsearch-floor-") as tmp:
        store = EdgeStore(Path(tmp) / "shard", model.dim)
        qe = store._qe
        built: list = []
        _, stages["edge points"] = timed(lambda: built.extend(
            [qe.Point(p.id, {"dense": p.vector, "bm25": qe.SparseVector(p.sparse.indices, p.sparse.values)}, p.payload)
             for p in points]))
        _, stages["edge update"] = timed(lambda: [store._shard.update(qe.UpdateOperation.upsert_points(
            built[i:i + BATCH])) for i in range(0, len(built), BATCH)])
        store.close()
    total = sum(stages.values())
    ceiling = len(docs) / (total / args.cores)
    for name, seconds in stages.items():
        print(f"{name:>12}: {seconds:6.2f} CPU s  ({1e3 * seconds / len(docs):.3f} ms a document)")
    print(f"{'sum':>12}: {total:6.2f} CPU s for {len(docs):,} documents, {len(chunks):,} chunks; "
          f"on {args.cores} cores at best {ceiling:,.0f} documents/s, before any of docsearch's own work")
    result = {"corpus": str(args.corpus), "documents": len(docs), "chunks": len(chunks), "cores": args.cores,
              "cpu_seconds": stages, "sum": total, "ceiling_documents_per_s": ceiling}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
