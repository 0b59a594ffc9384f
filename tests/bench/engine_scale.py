"""Issue #16's "nothing gets worse": the engine's throughput from 1k to 100k chunks, and its memory
over the 100k run.

SciFact's abstracts are repeated (each copy its own document id) into a folder of JSONL files per size, then
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
DOCS_PER_FILE = 2500  # about 4 MB: a folder of record files, each read by an engine worker


def write_corpus(folder: Path, chunks: int) -> int:
    """About ``chunks`` chunks of SciFact abstracts, copies renamed, in JSONL files of
    ``DOCS_PER_FILE`` (under the 50 MB a file may have); returns the documents written."""
    docs = [json.loads(line) for line in SCIFACT.open()]
    want = max(1, round(chunks / CHUNKS_PER_DOC))
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, want, DOCS_PER_FILE):
        with (folder / f"part-{start // DOCS_PER_FILE:04d}.jsonl").open("w") as fh:
            for n in range(start, min(want, start + DOCS_PER_FILE)):
                d = docs[n % len(docs)]
                fh.write(json.dumps({**d, "_id": f"{d['_id']}-{n // len(docs)}"}) + "\n")
    return want


def rss_mib(pid: int) -> tuple[float, float]:
    """Resident memory of a process: (all of it, anonymous only), MiB; zeros once it has gone.
    File-backed pages (the shard's memory-mapped segments, libraries) are the kernel's to drop;
    anonymous ones are the heap."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            kib = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in fh if line.startswith("Rss"))}
    except OSError:
        return 0.0, 0.0
    total = kib.get("RssAnon", 0) + kib.get("RssFile", 0) + kib.get("RssShmem", 0)
    return total / 1024, kib.get("RssAnon", 0) / 1024


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
    main: list[float] = []  # the indexing process alone, anonymous memory
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            own = rss_mib(os.getpid())  # read once: the indexing process's share and its anonymous part
            samples.append(own[0] + sum(rss_mib(pid)[0] for pid in _children()))
            main.append(own[1])

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
                      "main_anon_peak_mib": max(main, default=0.0),
                      "main_anon_first_quarter_mib": statistics.median(main[:q]) if main else 0.0,
                      "main_anon_last_quarter_mib": statistics.median(main[-q:]) if main else 0.0,
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
            corpus = Path(tmp) / f"corpus-{size}"
            write_corpus(corpus, size)
            out = subprocess.run([sys.executable, __file__, "--child", str(corpus), "--engine-workers",
                                  args.engine_workers], check=True, capture_output=True, text=True).stdout
            row = {"target_chunks": size, **json.loads(out.strip().splitlines()[-1])}
            rows.append(row)
            print(f"{row['chunks']:>7} chunks: {row['chunks_per_s']:.0f} chunks/s, {row['documents_per_s']:.0f} "
                  f"documents/s, RSS peak {row['rss_peak_mib']:.0f} MiB (first quarter "
                  f"{row['rss_first_quarter_mib']:.0f}, last {row['rss_last_quarter_mib']:.0f}); indexing process, "
                  f"anonymous: peak {row['main_anon_peak_mib']:.0f}, first quarter "
                  f"{row['main_anon_first_quarter_mib']:.0f}, last {row['main_anon_last_quarter_mib']:.0f}", flush=True)
    base = rows[0]["chunks_per_s"]
    for row in rows:
        row["rate_against_first"] = row["chunks_per_s"] / base
    payload = {"machine": asdict(machine()), "engine_workers": args.engine_workers, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
