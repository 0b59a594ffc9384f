"""Issue #16's "nothing gets worse": the engine's throughput from 1k to 100k chunks, and its memory
over the 100k run.

SciFact's abstracts are repeated (each copy its own document id) into one JSONL file per size, then
indexed through ``index_paths`` with an encoder that costs nothing (``docsearch.eval.ceiling``), so
the engine (reading, language detection, chunking, BM25, points, upserts, manifest, the HNSW and
int8 build past 100k chunks) is all that is timed. Each size runs in a fresh process, which samples
its resident memory (and its engine workers') every 0.2 s: the peak, and the median of the first
and the last quarter of the run, show whether memory grows with the corpus or stays flat.

    python tests/bench/engine_scale.py [--sizes 1000,10000,100000] [--engine-workers auto]
        [--out tests/bench/results/engine_scale_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

SCIFACT = REPO.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"
CHUNKS_PER_DOC = 9881 / 5183  # SciFact's abstracts at 256 tokens, 32 overlap


def write_corpus(path: Path, chunks: int) -> int:
    """About ``chunks`` chunks of SciFact abstracts, copies renamed; returns the documents written."""
    docs = [json.loads(line) for line in SCIFACT.open()]
    want = max(1, round(chunks / CHUNKS_PER_DOC))
    with path.open("w") as fh:
        for n in range(want):
            d = docs[n % len(docs)]
            fh.write(json.dumps({**d, "_id": f"{d['_id']}-{n // len(docs)}"}) + "\n")
    return want


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total / 2**20


def _children() -> list[int]:
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def child(corpus: str, workers: str) -> None:
    """In a fresh process: index ``corpus`` once, print one JSON line."""
    from docsearch.eval.ceiling import FreeEncoder
    from docsearch.indexer import index_paths
    from docsearch.settings import Settings, parse_count

    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            samples.append(_rss_mib([os.getpid(), *_children()]))

    encoder = FreeEncoder("all-MiniLM-L6-v2")
    with tempfile.TemporaryDirectory(prefix="docsearch-scale-") as home:
        settings = Settings(home=Path(home), index="scale", model="all-MiniLM-L6-v2",
                            engine_workers=parse_count(workers, "--engine-workers"))
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        t0 = time.perf_counter()
        report = index_paths(settings, [corpus], encoder=encoder)
        seconds = time.perf_counter() - t0
        done.set()
        thread.join()
    q = max(1, len(samples) // 4)
    print(json.dumps({"documents": report.documents, "chunks": report.chunks, "seconds": seconds,
                      "documents_per_s": report.documents / seconds, "chunks_per_s": report.chunks / seconds,
                      "rss_peak_mib": max(samples, default=0.0),
                      "rss_first_quarter_mib": statistics.median(samples[:q]) if samples else 0.0,
                      "rss_last_quarter_mib": statistics.median(samples[-q:]) if samples else 0.0,
                      "samples": len(samples)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000", help="chunks per run, comma-separated")
    parser.add_argument("--engine-workers", default="auto")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.engine_workers)
        return
    from docsearch.eval.bench import machine

    rows = []
    with tempfile.TemporaryDirectory(prefix="docsearch-scale-data-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            corpus = Path(tmp) / f"corpus-{size}.jsonl"
            write_corpus(corpus, size)
            out = subprocess.run([sys.executable, __file__, "--child", str(corpus), "--engine-workers",
                                  args.engine_workers], check=True, capture_output=True, text=True).stdout
            row = {"target_chunks": size, **json.loads(out.strip().splitlines()[-1])}
            rows.append(row)
            print(f"{row['chunks']:>7} chunks: {row['chunks_per_s']:.0f} chunks/s, {row['documents_per_s']:.0f} "
                  f"documents/s, RSS peak {row['rss_peak_mib']:.0f} MiB (first quarter "
                  f"{row['rss_first_quarter_mib']:.0f}, last {row['rss_last_quarter_mib']:.0f})", flush=True)
    base = rows[0]["chunks_per_s"]
    for row in rows:
        row["rate_against_first"] = row["chunks_per_s"] / base
    payload = {"machine": asdict(machine()), "engine_workers": args.engine_workers, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
