"""Near-duplicates, similar documents and collapsed results, measured (issue #17).

``planted``: SciFact plus a copy of 5 % of its abstracts, each lightly edited (a sentence dropped,
or one reworded), indexed with the real model into a temporary home; then ``dupes`` at the
index's calibrated threshold, scored as recall and precision of the planted pairs; each document
aggregation's separation of planted pairs from the nearest other document; and search with and
without collapsing (nDCG@10 and the number of distinct relevant documents in the top 10, a copy
of a relevant abstract counting as relevant but not as a distinct document).

``scale``: ``dupes`` over N synthetic embedding-shaped chunks (two per document, 1 % of documents
planted again with a little noise) written straight to a store, timed.

``collapse``: nDCG@10 of an existing index of a BEIR corpus (``--data``, default SciFact) with and
without collapsing (read from a copy).

    python tests/bench/dupes.py planted [--limit 500] [--share 0.05] [--data ../shared/datasets/cranfield]
    python tests/bench/dupes.py scale [--chunks 100000]
    python tests/bench/dupes.py collapse --home /work/evalhome2 --index eval-scifact-...
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "scifact"
RESULTS = Path(__file__).parent / "results"
_SENTENCES = re.compile(r"(?<=[.!?])\s+")
SYNONYMS = {"show": "demonstrate", "showed": "demonstrated", "increase": "rise", "increased": "raised",
            "patients": "subjects", "study": "investigation", "results": "findings", "significant": "notable",
            "significantly": "notably", "use": "employ", "used": "employed", "associated": "linked",
            "reduced": "lowered", "higher": "greater", "effect": "impact", "effects": "impacts",
            "cells": "cell populations", "however": "yet", "we": "the authors", "found": "observed",
            "suggest": "indicate", "important": "key", "role": "function", "levels": "concentrations"}


def edit(text: str, rng: random.Random) -> tuple[str, str]:
    """A light edit: drop one sentence (not the first) or reword one; returns (text, what was done)."""
    sentences = _SENTENCES.split(text)
    if len(sentences) >= 3 and rng.random() < 0.5:
        del sentences[rng.randrange(1, len(sentences))]
        return " ".join(sentences), "dropped a sentence"
    i = rng.randrange(len(sentences))
    words = sentences[i].split(" ")
    swapped = 0
    for j, w in enumerate(words):
        if w.lower() in SYNONYMS and swapped < 3:
            words[j], swapped = SYNONYMS[w.lower()], swapped + 1
    if not swapped and len(words) > 4:  # nothing to swap: reorder the sentence's two halves
        half = len(words) // 2
        words = words[half:] + words[:half]
    sentences[i] = " ".join(words)
    return " ".join(sentences), "reworded a sentence"


def planted_corpus(out: Path, limit: int | None, share: float, seed: int = 0, data: Path = SCIFACT) -> dict[str, str]:
    """A BEIR corpus (the first ``limit`` records) plus edited copies; returns copy id -> original id."""
    rows = [json.loads(line) for line in (data / "corpus.jsonl").open()]
    rows = rows[:limit] if limit else rows
    rng = random.Random(seed)
    chosen = rng.sample(rows, max(1, round(len(rows) * share)))
    planted = {}
    with out.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
        for row in chosen:
            text, _ = edit(row["text"], rng)
            copy = {"_id": f"{row['_id']}-copy", "title": row.get("title", ""), "text": text}
            planted[copy["_id"]] = row["_id"]
            fh.write(json.dumps(copy) + "\n")
    return planted


def separation(index: Any, planted: dict[str, str]) -> dict[str, Any]:
    """Per aggregation: planted pair scores against each original's nearest other document."""
    from docsearch.similar import AGGREGATIONS, candidates, load_docs, similarity

    known = load_docs(index)
    originals = [known[o] for o in planted.values() if o in known]
    pools = candidates(index, originals, 16)
    rows = {}
    for agg in AGGREGATIONS:
        pos = [similarity(known[c], known[o], agg) for c, o in planted.items() if c in known and o in known]
        neg = []
        for target, pool in zip(originals, pools, strict=True):
            others = [similarity(target, known[d], agg) for d in pool if d in known and planted.get(d) != target.doc]
            if others:
                neg.append(max(others))
        auc = float(np.mean([p > n for p in pos for n in neg])) if pos and neg else None
        rows[agg] = {"planted_min": min(pos), "planted_p5": float(np.percentile(pos, 5)),
                     "nearest_other_max": max(neg), "nearest_other_p95": float(np.percentile(neg, 95)), "auc": auc,
                     "margin_p5_p95": float(np.percentile(pos, 5) - np.percentile(neg, 95))}
    return rows


def score_dupes(report: Any, planted: dict[str, str]) -> dict[str, Any]:
    truth = {frozenset((c, o)) for c, o in planted.items()}
    found = report.pairs()
    hit = len(found & truth)
    return {"planted_pairs": len(truth), "found_pairs": len(found), "recall": hit / len(truth),
            "precision": hit / len(found) if found else 1.0, "seconds": report.seconds,
            "groups": len(report.groups), "threshold": report.threshold,
            "false_pairs": sorted(sorted(p) for p in found - truth)[:20]}


def collapse_quality(searcher: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                     planted: dict[str, str] | None = None) -> dict[str, Any]:
    """nDCG@10 with and without collapsing; with ``planted``, a copy of a relevant abstract is
    relevant too, and distinct relevant documents in the top 10 count an original and its copy once."""
    from docsearch.eval.metrics import score

    planted = planted or {}
    qrels = {q: {**rel, **{c: rel[o] for c, o in planted.items() if o in rel}} for q, rel in qrels.items()}
    ids = [q for q in qrels if q in queries]
    out = {}
    for collapse in (False, True):
        started = time.perf_counter()
        results = searcher.search_many([queries[q] for q in ids], 10, "auto", collapse=collapse)
        seconds = time.perf_counter() - started
        run = {q: {h.doc: h.score for h in hits} for q, hits in zip(ids, results, strict=True)}
        distinct = [len({planted.get(h.doc, h.doc) for h in hits if qrels[q].get(h.doc, 0) > 0})
                    for q, hits in zip(ids, results, strict=True)]
        unique = [len({planted.get(h.doc, h.doc) for h in hits}) for hits in results]
        out["collapsed" if collapse else "plain"] = {
            **{k: round(v, 4) for k, v in score(run, qrels).items()},
            "distinct_relevant_top10": statistics.fmean(distinct), "distinct_docs_top10": statistics.fmean(unique),
            "queries": len(ids), "ms_per_query": 1000 * seconds / max(1, len(ids))}
    return out


def run_planted(args: argparse.Namespace) -> dict[str, Any]:
    from docsearch import Index, Searcher, Settings, index_paths
    from docsearch.calibrate import calibrate_distribution, save
    from docsearch.dupes import find_dupes
    from docsearch.eval.beir import read_qrels, read_queries

    with tempfile.TemporaryDirectory(prefix="docsearch-dupes-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        planted = planted_corpus(corpus, args.limit, args.share, data=args.data)
        settings = Settings(home=Path(tmp) / "home", index="planted")
        started = time.perf_counter()
        index_paths(settings, [corpus])
        index_seconds = time.perf_counter() - started
        with Index.open(settings) as index:
            threshold = calibrate_distribution(index)
            save(index, threshold)
            seps = separation(index, planted)
            report = find_dupes(index, threshold.value)
            found = score_dupes(report, planted)
            at = {t: score_dupes(find_dupes(index, t), planted) for t in (0.9, 0.92, 0.94, 0.96)}
        qrels = read_qrels(args.data / "qrels" / "test.tsv")
        queries = read_queries(args.data / "queries.jsonl", set(qrels))
        with Searcher.open(settings) as searcher:
            docs = {d for page in searcher.index.store.payloads(("doc",)) for _, p in page for d in [str(p["doc"])]}
            qrels = {q: rel for q, rel in qrels.items() if any(d in docs for d in rel)}
            quality = collapse_quality(searcher, queries, qrels, planted)
    return {"mode": "planted", "corpus": args.data.name, "limit": args.limit, "share": args.share, "documents": report.documents,
            "index_seconds": index_seconds, "threshold": threshold.to_json(), "dupes": found,
            "dupes_at_fixed_thresholds": {str(t): {k: v for k, v in r.items() if k != "false_pairs"} for t, r in at.items()},
            "aggregations": seps, "collapse": quality}


def run_scale(args: argparse.Namespace) -> dict[str, Any]:
    from docsearch import Index, Settings
    from docsearch.dupes import find_dupes
    from docsearch.eval import bench
    from docsearch.store import StorePoint, point_id
    from docsearch.types import SparseVector

    rng = np.random.default_rng(args.chunks)
    docs = args.chunks // 2
    basis = bench.embedding_like_basis(384, rng)
    with tempfile.TemporaryDirectory(prefix="docsearch-dupes-scale-") as tmp:
        settings = Settings(home=Path(tmp), index="scale")
        with Index.open_or_create(settings) as index:
            started = time.perf_counter()
            planted = docs // 100
            for start in range(0, docs, 2500):
                n = min(2500, docs - start)
                vecs = bench.embedding_like(2 * n, basis, rng)
                for i in range(min(n, max(0, planted - start))):  # the first documents: near-copies of the next
                    for c in (0, 1):
                        v = vecs[2 * (i + n // 2) + c] + 0.005 * rng.standard_normal(384).astype(np.float32)
                        vecs[2 * i + c] = v / np.linalg.norm(v)
                points = [StorePoint(point_id("s", f"d{start + i}", c), vecs[2 * i + c].tolist(), SparseVector([], []),
                                     {"doc": f"d{start + i}", "chunk": c, "path": "synthetic", "text": f"d{start + i} {c}"})
                          for i in range(n) for c in (0, 1)]
                index.store.upsert(points)
            index.store.finish()
            build = time.perf_counter() - started
            report = find_dupes(index, 0.95)
    return {"mode": "scale", "chunks": args.chunks, "documents": report.documents, "build_seconds": build,
            "dupes_seconds": report.seconds, "groups": len(report.groups), "planted": planted}


def run_collapse(args: argparse.Namespace) -> dict[str, Any]:
    from docsearch import Searcher, Settings
    from docsearch.eval.beir import read_qrels, read_queries

    with tempfile.TemporaryDirectory(prefix="docsearch-collapse-") as tmp:
        shutil.copytree(Path(args.home) / args.index, Path(tmp) / args.index,
                        ignore=shutil.ignore_patterns("readers", "writer.lock"))
        qrels = read_qrels(args.data / "qrels" / "test.tsv")
        queries = read_queries(args.data / "queries.jsonl", set(qrels))
        with Searcher.open(Settings(home=Path(tmp), index=args.index)) as searcher:
            return {"mode": "collapse", "corpus": args.data.name, "index": args.index, "threshold": searcher.duplicate_threshold,
                    "collapse": collapse_quality(searcher, queries, qrels)}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("planted")
    p.add_argument("--limit", type=int, default=None, help="only the first N SciFact abstracts")
    p.add_argument("--share", type=float, default=0.05)
    p.add_argument("--data", type=Path, default=SCIFACT, help="a BEIR folder with qrels/test.tsv (default: SciFact)")
    s = sub.add_parser("scale")
    s.add_argument("--chunks", type=int, default=100_000)
    c = sub.add_parser("collapse")
    c.add_argument("--home", required=True)
    c.add_argument("--index", required=True)
    c.add_argument("--data", type=Path, default=SCIFACT, help="the index's BEIR folder (qrels/test.tsv scores)")
    args = parser.parse_args()
    result = {"planted": run_planted, "scale": run_scale, "collapse": run_collapse}[args.mode](args)
    text = json.dumps(result, indent=1, default=float)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    corpus = getattr(args, "data", SCIFACT).name
    suffix = ("" if corpus == "scifact" else f"_{corpus}") + (f"_{args.limit}" if getattr(args, "limit", None) else "")
    suffix += f"_share{args.share}" if getattr(args, "share", 0.05) != 0.05 else ""
    (RESULTS / f"dupes_{args.mode}{suffix}.json").write_text(text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
