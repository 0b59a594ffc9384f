"""Measurements, side by side in one run: raw encode vs end-to-end indexing, and the
store at several sizes (build, reopen, query latency, recall against exact search,
RSS, disk). Returns values; ``docsearch.cli.bench`` prints them."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..encoders import Encoder, calibrate, load_encoder, load_query_encoder
from ..encoders.base import quiet_transformers
from ..indexer import index_paths
from ..ingest import chunker_for, read_documents, walk
from ..model import ModelDir
from ..settings import Settings
from ..store import QuerySpec, StoreHit, StorePoint, point_id
from ..types import Document, Source, SparseVector
from .beir import load_beir
from .metrics import score


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    torch_threads: int
    gpu: str | None
    python: str


@dataclass(frozen=True)
class Throughput:
    device: str
    documents: int
    chunks: int
    raw_chunks_per_s: float
    index_chunks_per_s: float
    ratio: float
    raw_docs_per_s: float
    index_docs_per_s: float
    backend: str = ""  # the encoder backend that ran docsearch's side


@dataclass(frozen=True)
class ScaleRow:
    size: int
    build_s: float
    points_per_s: float
    reopen_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    recall_at_10: float
    rss_mib: float
    disk_mib: float
    quantized: bool  # some segment really holds int8 vectors (not only configured to)
    hnsw: bool = False  # some segment has an HNSW graph; else every query is an exact scan


@dataclass(frozen=True)
class RerunRow:
    files: int
    first_s: float
    rerun_s: float


def machine() -> Machine:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return Machine(cpu, os.cpu_count() or 1, torch.get_num_threads(), gpu, platform.python_version())


def load_corpus(path: str, limit: int) -> list[Document]:
    docs: list[Document] = []
    for item in walk([path]):
        if isinstance(item, Source):
            docs.extend(read_documents(item))
        if len(docs) >= limit:
            break
    return docs[:limit]


def throughput(encoder: Encoder, docs: list[Document], settings: Settings, workdir: Path) -> Throughput:
    """Raw ``SentenceTransformer.encode`` on exactly the chunk texts docsearch embeds, against
    ``index_paths`` end to end (read, chunk, embed, BM25, store, manifest, HNSW); raw runs before
    and after, averaged, so drift in the machine's speed cancels."""
    corpus = workdir / "corpus.jsonl"
    with open(corpus, "w") as fh:
        for d in docs:
            fh.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
    chunker = chunker_for(ModelDir.resolve(settings.model_or_default).tokenizer_file, encoder.max_tokens, settings.overlap)
    texts = [s.text for spans in chunker.chunk_many([d.body for d in docs]) for s in spans]
    model = reference_model(settings.model_or_default, encoder.device)

    def raw() -> float:
        t0 = time.perf_counter()
        model.encode(texts, batch_size=settings.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return time.perf_counter() - t0

    # Warm-up: first calls pay for allocation and kernel selection; a short batch of each suffices.
    # openvino-int8 quantizes (once per model) on these chunks before the clock starts.
    calibrate(encoder, texts)
    model.encode(texts[:64], batch_size=settings.batch_size)
    encoder.encode_documents(texts[:64])
    before = raw()
    home = workdir / "home"
    t0 = time.perf_counter()
    report = index_paths(Settings(home=home, index="bench", model=settings.model, batch_size=settings.batch_size,
                                  overlap=settings.overlap, index_batch=settings.index_batch, backend=encoder.backend),
                         [corpus], encoder=encoder)
    indexed = time.perf_counter() - t0
    after = raw()
    raw_s = (before + after) / 2
    return Throughput(
        device=encoder.device, documents=len(docs), chunks=report.chunks,
        raw_chunks_per_s=len(texts) / raw_s, index_chunks_per_s=report.chunks / indexed,
        ratio=(report.chunks / indexed) / (len(texts) / raw_s),
        raw_docs_per_s=len(docs) / raw_s, index_docs_per_s=len(docs) / indexed, backend=encoder.backend,
    )


def stage_shares(encoder: Encoder, settings: Settings, workdir: Path) -> Any:
    """The throughput run's corpus indexed once more, profiled (eval/stages.py)."""
    from .stages import profile_run

    home = workdir / "stages-home"
    run = Settings(home=home, index="stages", model=settings.model, batch_size=settings.batch_size,
                   overlap=settings.overlap, index_batch=settings.index_batch, backend=encoder.backend)
    return profile_run(lambda: index_paths(run, [workdir / "corpus.jsonl"], encoder=encoder))


def reference_model(name: str, device: str) -> Any:
    """Plain ``SentenceTransformer`` in fp32, as a user would load it: the yardstick."""
    from sentence_transformers import SentenceTransformer

    with quiet_transformers():
        return SentenceTransformer(str(ModelDir.resolve(name).path), device=device, local_files_only=True)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _disk_mib(path: Path) -> float:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file()) / 2**20


def scale(size: int, dim: int, encode_query: Callable[[str], Any], queries: Sequence[str], workdir: Path,
          quantize: bool | None = None, hnsw_above: int | None = None) -> ScaleRow:
    """Build an Edge shard of ``size`` synthetic unit vectors, then measure it as a user meets it."""
    import numpy as np

    from ..store.edge import EdgeStore

    path = workdir / f"scale-{size}"
    rng = np.random.default_rng(size)
    basis = embedding_like_basis(dim, rng)
    t0 = time.perf_counter()
    store = EdgeStore(path, dim) if hnsw_above is None else EdgeStore(path, dim, hnsw_above=hnsw_above)
    batch = 5000
    for lo in range(0, size, batch):
        vecs = embedding_like(min(batch, size - lo), basis, rng)
        store.upsert([StorePoint(point_id("bench", str(lo + i), 0), v.tolist(), SparseVector([], []),
                                 {"doc": str(lo + i), "path": "synthetic", "chunk": 0})
                      for i, v in enumerate(vecs)])
    store.finish(quantize=quantize)
    build = time.perf_counter() - t0
    layout = store.segments()
    quantized, hnsw = any(q for _, q in layout), any(kind == "hnsw" for kind, _ in layout)
    store.close()

    _evict(path)  # a user reopens an index whose files have long left the page cache
    t0 = time.perf_counter()
    store = EdgeStore(path, dim, create=False)
    reopen = time.perf_counter() - t0
    latencies, recalls = [], []
    targets = embedding_like(len(queries), basis, rng).tolist()
    for q, vec in zip(queries, targets, strict=True):
        t0 = time.perf_counter()
        encode_query(q)  # a real claim encoded, as a user waits for it; the vector searched is in-distribution
        hits = store.query(QuerySpec(limit=30, dense=vec, with_text=False))
        latencies.append((time.perf_counter() - t0) * 1000)
        recalls.append(recall_at_10(hits, store.query(QuerySpec(limit=10, dense=vec, with_text=False, exact=True))))
    store.close()
    return ScaleRow(size, build, size / build, reopen, statistics.median(latencies), _percentile(latencies, 0.95),
                    _percentile(latencies, 0.99), statistics.fmean(recalls), _rss_of_store(path, dim, size),
                    _disk_mib(path), quantized, hnsw)


def recall_at_10(found: Sequence[StoreHit], exact: Sequence[StoreHit]) -> float:
    """Share of the exact top 10 that a (graph, quantized) search found in its own top 10."""
    truth = {h.id for h in exact[:10]}
    return len(truth & {h.id for h in found[:10]}) / max(1, len(truth))


def embedding_like_basis(dim: int, rng: Any, rank: int = 24) -> Any:
    """An orthonormal ``dim`` x ``rank`` basis: the synthetic vectors live mostly in its span."""
    import numpy as np

    q, _ = np.linalg.qr(rng.standard_normal((dim, rank)))
    return q.astype(np.float32)


def embedding_like(n: int, basis: Any, rng: Any, noise: float = 0.1) -> Any:
    """Unit vectors shaped like text embeddings: a low intrinsic dimension (sentence embeddings
    measure 10-40) plus a little isotropic noise. Plain random 384-d vectors are the wrong yardstick
    for a graph index: every point is almost equally far from every query, there is no neighbourhood
    to follow, and HNSW recall collapses (1M of them measured 0.015 here), which says nothing about
    real data."""
    import numpy as np

    dim, rank = basis.shape
    vecs = rng.standard_normal((n, rank), dtype=np.float32) @ basis.T
    vecs += noise * rng.standard_normal((n, dim), dtype=np.float32) / np.sqrt(dim / rank)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


_RSS_PROBE = """
import sys, numpy as np
from pathlib import Path
from docsearch.eval.bench import embedding_like, embedding_like_basis
from docsearch.store import QuerySpec
from docsearch.store.edge import EdgeStore
s = EdgeStore(Path(sys.argv[1]), int(sys.argv[2]), create=False)
basis = embedding_like_basis(int(sys.argv[2]), np.random.default_rng(int(sys.argv[3])))
for v in embedding_like(200, basis, np.random.default_rng(0)):
    s.query(QuerySpec(limit=30, dense=v.tolist(), with_text=False))
# VmHWM, not ru_maxrss: the latter starts at the parent's peak when the child is forked.
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


def _rss_of_store(path: Path, dim: int, size: int) -> float:
    """Peak RSS (MiB) of a fresh process that opens the shard and answers 200 in-distribution
    queries, model excluded. File pages the process maps (vectors read to rescore) count too."""
    out = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(path), str(dim), str(size)], capture_output=True,
                         text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def _evict(path: Path) -> None:
    """Drop a shard's files from the page cache (no root needed), so a reopen reads the disk."""
    if not hasattr(os, "posix_fadvise"):
        return
    for file in path.rglob("*"):
        if file.is_file():
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)  # dirty pages are not dropped
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def rerun(encoder: Encoder, files: int, workdir: Path) -> RerunRow:
    """Index ``files`` small files, then time an unchanged rerun (model already loaded)."""
    root = workdir / "rerun-files"
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (root / f"note-{i:05}.txt").write_text(f"Note {i}: a short file about subject {i % 37}.\n")
    settings = Settings(home=workdir / "rerun-home", index="rerun")
    t0 = time.perf_counter()
    index_paths(settings, [root], encoder=encoder)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = index_paths(settings, [root], encoder=encoder)
    again = time.perf_counter() - t0
    assert report.unchanged == files and report.chunks == 0, "an unchanged rerun must embed nothing"
    return RerunRow(files, first, again)


def tempdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="docsearch-bench-")


@dataclass(frozen=True)
class BackendRow:
    backend: str
    device: str
    chunks_per_s: float
    speedup: float  # over torch-fp32 measured in the same run
    cosine_min: float
    cosine_mean: float
    ndcg_at_10: float | None
    subset: str


def backends(names: Sequence[str], model: str, dataset: Path | None, docs: list[Document], device: str | None,
             batch_size: int, queries: int = 100) -> list[BackendRow]:
    """Each backend on the same chunk texts: throughput, cosine to torch fp32, and nDCG@10 on a
    SciFact subset (the documents judged for the first ``queries`` test claims, plus the sample)."""
    import numpy as np

    docs, qrels, qtexts = _quality_subset(dataset, docs, queries)
    chunker = chunker_for(ModelDir.resolve(model).tokenizer_file, 256, 32)
    spans = chunker.chunk_many([d.body for d in docs])
    owners = [d.doc_id for d, ss in zip(docs, spans, strict=True) for _ in ss]
    texts = [s.text for ss in spans for s in ss]
    reference = None
    rows = []
    for name in ["torch-fp32", *[n for n in names if n != "torch-fp32"]]:
        encoder = load_encoder(model, device, batch_size, name)
        calibrate(encoder, texts)  # openvino-int8: quantized on these chunks (once per model), not timed
        encoder.encode_documents(texts[:16])  # warm-up
        t0 = time.perf_counter()
        vectors = encoder.encode_documents(texts)
        rate = len(texts) / (time.perf_counter() - t0)
        if reference is None:
            reference = (vectors, rate)
        cos = np.sum(vectors * reference[0], axis=1)
        ndcg = None
        if qrels:
            qv = encoder.encode_queries(list(qtexts.values()))
            sims = qv @ vectors.T
            run = {}
            for qid, row in zip(qtexts, sims, strict=True):
                best: dict[str, float] = {}
                for doc, s in zip(owners, row.tolist(), strict=True):
                    best[doc] = max(best.get(doc, -1.0), s)
                run[qid] = best
            ndcg = score(run, qrels)["ndcg@10"]
        subset = f"SciFact: {len(docs)} docs, {len(qtexts)} test queries" if qrels else f"{len(docs)} docs, no qrels"
        rows.append(BackendRow(name, encoder.device, rate, rate / reference[1],
                               float(cos.min()), float(cos.mean()), ndcg, subset))
    return rows


def _quality_subset(dataset: Path | None, sample: list[Document], queries: int
                    ) -> tuple[list[Document], dict[str, dict[str, int]], dict[str, str]]:
    if dataset is None or not (dataset / "qrels" / "test.tsv").is_file():
        return sample, {}, {}
    data = load_beir(dataset, "test")
    qids = list(data.queries)[:queries]
    qrels = {q: data.qrels[q] for q in qids}
    judged = {d for q in qids for d in qrels[q]}
    by_id = {d.doc_id: d for d in load_corpus(str(data.corpus), 10**9) if d.doc_id in judged}
    pool = [by_id[d] for d in sorted(by_id)] + [d for d in sample if d.doc_id not in judged]
    return pool, qrels, {q: data.queries[q] for q in qids}


@dataclass(frozen=True)
class BenchPlan:
    """What one ``docsearch bench`` run measures."""
    corpus: str
    model: str
    docs: int = 500
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    queries: tuple[str, ...] = ()
    rerun_files: int = 1000
    device: str | None = None
    batch_size: int = 64
    index_batch: int = 512
    backend: str = "auto"
    backends: tuple[str, ...] = ()
    workers: int = 1
    quality_queries: int = 100
    stages: bool = False  # one more, profiled, index run: each stage's share of the time
    engine: tuple[int, ...] = ()  # engine-only ceiling at these engine worker counts (empty: skipped)
    engine_repeat: int = 3


def run_bench(plan: BenchPlan, say: Callable[[str], None] = lambda _msg: None) -> dict[str, Any]:
    """Every figure of one bench run, side by side, as one JSON-ready dict."""
    settings = Settings(model=plan.model, batch_size=plan.batch_size, index_batch=plan.index_batch, backend=plan.backend)
    with load_encoder(plan.model, plan.device, plan.batch_size, plan.backend, workers=plan.workers) as encoder:
        result: dict[str, Any] = {"machine": asdict(machine()), "corpus": plan.corpus, "model": encoder.model_id,
                                  "workers": plan.workers, "backend": encoder.backend}
        with tempdir() as tmp:
            work = Path(tmp)
            if plan.docs > 0:
                say(f"throughput: {plan.docs} documents from {plan.corpus}…")
                result["throughput"] = asdict(throughput(encoder, load_corpus(plan.corpus, plan.docs), settings, work))
                if plan.stages:
                    say("where the time goes: one profiled index run…")
                    result["stages"] = asdict(stage_shares(encoder, settings, work))
            if plan.backends:
                say(f"backends: {', '.join(plan.backends)}…")
                sample = load_corpus(plan.corpus, plan.docs)
                dataset = Path(plan.corpus).parent if Path(plan.corpus).name == "corpus.jsonl" else None
                result["backends"] = [asdict(r) for r in backends(
                    list(plan.backends), plan.model, dataset, sample, plan.device, plan.batch_size, plan.quality_queries)]
            query_encoder = load_query_encoder(plan.model, plan.device, plan.batch_size, plan.backend)  # as search uses
            rows = []
            for size in [s for s in plan.sizes if s > 0]:
                say(f"store at {size:,} chunks…")
                rows.append(asdict(scale(size, encoder.dim, lambda q: query_encoder.encode_queries([q])[0].tolist(),
                                         plan.queries, work)))
            result["scale"] = rows
            if plan.rerun_files > 0:
                say(f"unchanged rerun over {plan.rerun_files} files…")
                result["rerun"] = asdict(rerun(encoder, plan.rerun_files, work))
    if plan.engine:
        from .ceiling import engine_ceiling

        result["engine"] = [asdict(r) for r in engine_ceiling([plan.corpus], plan.model, plan.engine,
                                                              plan.engine_repeat, say)]
    return result
