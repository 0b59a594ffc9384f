"""Issue #16's CPU figure in one run: `docsearch index` per encoder backend against raw fp32
``SentenceTransformer.encode``, side by side on the same SciFact slice, with each backend's nDCG@10.

For each backend (default torch-fp32, torch, openvino, openvino-int8) the slice is indexed end to end
through the eval library (read, chunk, embed, BM25, store, manifest), timed, then its test claims are
searched (dense, and auto as users get it). Raw fp32 encode of exactly the chunk texts docsearch
embeds runs before and after all backends and is averaged, so drift in the machine's speed cancels.
openvino-int8 is quantized (once per model, cached next to the export) on the slice's first 512
chunks, as the indexer does with its first batch; that one-off time is shown apart.

The slice: every document judged for the first ``--queries`` test claims plus the first ``--docs``
documents (0, 0: all of SciFact, 5,183 abstracts and 300 claims: about 20 minutes on 2 cores).

    python tests/bench/backend_speed.py                         # the full figure, on a quiet machine
    python tests/bench/backend_speed.py --docs 300 --queries 30 # a smoke run
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from docsearch.encoders import calibrate, load_encoder
from docsearch.eval.beir import BeirData, load_beir
from docsearch.eval.bench import load_corpus, machine, reference_model
from docsearch.eval.evaluate import evaluate
from docsearch.ingest import chunker_for
from docsearch.model import ModelDir
from docsearch.settings import Settings
from docsearch.types import Document

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "scifact"


def slice_of(data: BeirData, docs: int, queries: int) -> tuple[BeirData, list[Document]]:
    """The judged documents of the first ``queries`` claims plus the first ``docs`` documents."""
    qids = list(data.queries)[: queries or None]
    judged = {d for q in qids for d in data.qrels[q]}
    corpus = load_corpus(str(data.corpus), 10**9)
    kept = [d for i, d in enumerate(corpus) if d.doc_id in judged or not docs or i < docs]
    sub = BeirData(data.root, data.name, data.split, data.corpus, {q: data.queries[q] for q in qids},
                   {q: data.qrels[q] for q in qids})
    return sub, kept


def write_corpus(docs: list[Document], path: Path) -> Path:
    with open(path, "w") as fh:
        for d in docs:
            fh.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
    return path


def raw_fp32(model: object, texts: list[str], batch_size: int) -> float:
    t0 = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def run_backend(name: str, model: str, data: BeirData, texts: list[str], home: Path, batch_size: int) -> dict:
    encoder = load_encoder(model, "cpu", batch_size, name)
    t0 = time.perf_counter()
    calibrate(encoder, texts[:512])  # openvino-int8: quantized once per model, as the indexer's first batch
    prepare = time.perf_counter() - t0
    encoder.encode_documents(texts[:64])  # warm-up
    settings = Settings(home=home, model=model, batch_size=batch_size, backend=encoder.backend)
    report = evaluate(settings, data, modes=("dense", "auto"), index=f"bench-{name}", encoder=encoder,
                      latency_queries=0)
    use = report.indexes[0]
    row = {"backend": name, "ran": encoder.backend, "chunks": use.chunks, "index_s": use.seconds,
           "index_chunks_per_s": use.chunks / use.seconds, "prepare_s": prepare,
           **{f"ndcg@10 {r.mode}": r.metrics["ndcg@10"] for r in report.rows}}
    made = getattr(encoder, "int8", None)
    if made is not None:
        row |= {"int8_cosine_min": made.cosine_min, "int8_cosine_mean": made.cosine_mean, "int8_texts": made.texts}
    encoder.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=0, help="first N documents besides the judged ones (0: all)")
    parser.add_argument("--queries", type=int, default=0, help="first N test claims (0: all)")
    parser.add_argument("--backends", default="torch-fp32,torch,openvino,openvino-int8")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args()
    data, docs = slice_of(load_beir(args.data, "test"), args.docs, args.queries)
    chunker = chunker_for(ModelDir.resolve(args.model).tokenizer_file, 256, 32)
    texts = [s.text for spans in chunker.chunk_many([d.body for d in docs]) for s in spans]
    reference = reference_model(args.model, "cpu")
    reference.encode(texts[:64], batch_size=args.batch_size)  # warm-up
    with tempfile.TemporaryDirectory(prefix="docsearch-backend-speed-") as tmp:
        data = BeirData(data.root, data.name, data.split, write_corpus(docs, Path(tmp) / "corpus.jsonl"),
                        data.queries, data.qrels)
        before = raw_fp32(reference, texts, args.batch_size)
        rows = [run_backend(b.strip(), args.model, data, texts, Path(tmp) / "home", args.batch_size)
                for b in args.backends.split(",") if b.strip()]
        after = raw_fp32(reference, texts, args.batch_size)
    raw = len(texts) / ((before + after) / 2)
    fp32 = next((r for r in rows if r["backend"] == "torch-fp32"), None)
    m = machine()
    print(f"{m.cpu}, {m.cores} cores; {len(docs)} documents, {len(texts)} chunks, {len(data.queries)} claims")
    print(f"raw fp32 SentenceTransformer.encode: {raw:.1f} chunks/s (before {len(texts) / before:.1f}, "
          f"after {len(texts) / after:.1f})")
    print(f"{'backend':<14} {'ran':<14} {'index chunks/s':>14} {'x raw fp32':>10} {'nDCG dense':>10} "
          f"{'Δ fp32':>7} {'nDCG auto':>9} {'Δ fp32':>7} {'prepare s':>9}")
    for r in rows:
        dd = r["ndcg@10 dense"] - fp32["ndcg@10 dense"] if fp32 else float("nan")
        da = r["ndcg@10 auto"] - fp32["ndcg@10 auto"] if fp32 else float("nan")
        print(f"{r['backend']:<14} {r['ran']:<14} {r['index_chunks_per_s']:>14.1f} {r['index_chunks_per_s'] / raw:>10.2f} "
              f"{r['ndcg@10 dense']:>10.4f} {dd:>+7.4f} {r['ndcg@10 auto']:>9.4f} {da:>+7.4f} {r['prepare_s']:>9.1f}")
        if "int8_cosine_min" in r:
            print(f"  int8 vs fp32 at quantization (probes + held-out chunks): min cosine {r['int8_cosine_min']:.4f}, "
                  f"mean {r['int8_cosine_mean']:.4f}; calibrated on {r['int8_texts']} chunks")
    if args.out:
        args.out.write_text(json.dumps({"machine": asdict(m), "raw_fp32_chunks_per_s": raw, "chunks": len(texts),
                                        "documents": len(docs), "queries": len(data.queries), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
