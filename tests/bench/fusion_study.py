"""Fusion study for the `auto` mode (issue #12): dense and BM25 document lists per query, cached,
then every candidate fusion scored on every corpus side by side.

    python tests/bench/fusion_study.py --home /work/evalhome [--data ../shared/datasets]

Needs the eval indexes `docsearch eval` leaves in --home (tests/bench/multi_corpus.py makes them).
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from docsearch import Index, Searcher, Settings
from docsearch.encoders import load_query_encoder
from docsearch.eval.beir import load_beir
from docsearch.eval.evaluate import eval_index_name
from docsearch.eval.metrics import score

Lists = dict[str, dict[str, float]]  # doc -> score, per query


def collect(home: Path, dataset: Path, depth: int = 100) -> tuple[dict[str, Lists], dict, dict]:
    data = load_beir(dataset, "test")
    settings = Settings(home=home, index=eval_index_name(Settings(), data, "all-MiniLM-L6-v2"))
    index = Index.open(settings)
    with Searcher(index, load_query_encoder(index.model, "cpu")) as searcher:
        qids = list(data.queries)
        out: dict[str, Lists] = {"dense": {}, "sparse": {}}
        for mode in out:
            for start in range(0, len(qids), 64):
                ids = qids[start:start + 64]
                hits = searcher.search_many([data.queries[q] for q in ids], depth, mode, with_text=False)
                for q, hs in zip(ids, hits, strict=True):
                    out[mode][q] = {h.doc: h.score for h in hs}
    return out, dict(data.qrels), dict(data.queries)


# --- fusions: (dense scores, sparse scores) -> fused scores, per query --------------------------

def _z(scores: Mapping[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    v = list(scores.values())
    m, s = statistics.fmean(v), statistics.pstdev(v) or 1.0
    return {d: (x - m) / s for d, x in scores.items()}


def _minmax(scores: Mapping[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    return {d: (x - lo) / ((hi - lo) or 1.0) for d, x in scores.items()}


def _dbsf(scores: Mapping[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    v = list(scores.values())
    m, s = statistics.fmean(v), statistics.pstdev(v)
    lo, hi = m - 3 * s, m + 3 * s
    return {d: (x - lo) / ((hi - lo) or 1.0) for d, x in scores.items()}


def _tmm_dense(scores: Mapping[str, float]) -> dict[str, float]:
    hi = max(scores.values(), default=1.0)
    return {d: (x + 1) / ((hi + 1) or 1.0) for d, x in scores.items()}


def _tmm_sparse(scores: Mapping[str, float]) -> dict[str, float]:
    hi = max(scores.values(), default=1.0)
    return {d: x / (hi or 1.0) for d, x in scores.items()}


def tmm(a: float) -> Callable:
    def fuse(dense: Mapping[str, float], sparse: Mapping[str, float]) -> dict[str, float]:
        nd, ns = _tmm_dense(dense), _tmm_sparse(sparse)
        return {d: a * nd.get(d, 0.0) + (1 - a) * ns.get(d, 0.0) for d in set(nd) | set(ns)}
    return fuse


def combine(norm: Callable, a: float, floor_missing: bool = True) -> Callable:
    def fuse(dense: Mapping[str, float], sparse: Mapping[str, float]) -> dict[str, float]:
        nd, ns = norm(dense), norm(sparse)
        fd = min(nd.values(), default=0.0) if floor_missing else 0.0
        fs = min(ns.values(), default=0.0) if floor_missing else 0.0
        docs = set(nd) | set(ns)
        return {d: a * nd.get(d, fd) + (1 - a) * ns.get(d, fs) for d in docs}
    return fuse


def rrf(k: int, a: float = 0.5) -> Callable:
    def fuse(dense: Mapping[str, float], sparse: Mapping[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for w, scores in ((a, dense), (1 - a, sparse)):
            for r, d in enumerate(sorted(scores, key=scores.get, reverse=True)):
                out[d] = out.get(d, 0.0) + w / (k + r + 1)
        return out
    return fuse


def evaluate(lists: dict[str, Lists], qrels: dict, fuse: Callable) -> float:
    run = {q: fuse(lists["dense"].get(q, {}), lists["sparse"].get(q, {})) for q in qrels}
    return score(run, qrels)["ndcg@10"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "datasets")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/fusion_study.pkl"))
    ap.add_argument("--pseudo", action="store_true")
    ap.add_argument("--corpora", default="scifact,cranfield,cisi,cacm,xquad-de,cmrc2018")
    args = ap.parse_args()
    cache = pickle.loads(args.cache.read_bytes()) if args.cache.is_file() else {}
    for name in args.corpora.split(","):
        if name not in cache:
            print(f"collecting {name}…", file=sys.stderr)
            cache[name] = collect(args.home, args.data / name)
            args.cache.write_bytes(pickle.dumps(cache))
    candidates: dict[str, Callable] = {
        "dense": lambda d, s: dict(d), "sparse": lambda d, s: dict(s),
        "dbsf .5": combine(_dbsf, 0.5), "z .5": combine(_z, 0.5), "z .6": combine(_z, 0.6), "z .7": combine(_z, 0.7),
        "mm .5": combine(_minmax, 0.5), "mm .6": combine(_minmax, 0.6), "mm .7": combine(_minmax, 0.7),
        "rrf60": rrf(60), "rrf60 .6": rrf(60, 0.6), "rrf10": rrf(10),
        "tmm .5": tmm(0.5), "tmm .6": tmm(0.6), "tmm .7": tmm(0.7), "tmm .8": tmm(0.8),
        "mm .4": combine(_minmax, 0.4), "z .4": combine(_z, 0.4), "mm0 .5": combine(_minmax, 0.5, False),
        "adapt1": adaptive(), "adapt2": adaptive(2.0), "adapt-top3": adaptive(1.0, 3), "adapt-wide": adaptive(1.0, 1, 0.1, 0.9),
    }
    names = [n for n in cache if n != "pseudo"]
    print(f"{'fusion':12}" + "".join(f"{n[:9]:>10}" for n in names) + f"{'mean':>9}{'worst':>9}")
    for label, fuse in candidates.items():
        vals = [evaluate(cache[n][0], cache[n][1], fuse) for n in names]
        best = [max(evaluate(cache[n][0], cache[n][1], candidates["dense"]),
                    evaluate(cache[n][0], cache[n][1], candidates["sparse"])) for n in names]
        worst = min(v - b for v, b in zip(vals, best, strict=True))
        print(f"{label:12}" + "".join(f"{v:10.4f}" for v in vals) + f"{statistics.fmean(vals):9.4f}{worst:9.4f}")
    if args.pseudo:
        self_tuning(args, cache)




# --- per-query adaptive weights ----------------------------------------------------------------

def peak(scores: Mapping[str, float], top: int = 1) -> float:
    """How far the best scores stand out of the list: z-score of the top one."""
    if len(scores) < 3:
        return 0.0
    v = sorted(scores.values(), reverse=True)
    m, s = statistics.fmean(v), statistics.pstdev(v) or 1.0
    return max(0.0, (statistics.fmean(v[:top]) - m) / s)


def adaptive(power: float = 1.0, top: int = 1, lo: float = 0.2, hi: float = 0.8) -> Callable:
    def fuse(dense: Mapping[str, float], sparse: Mapping[str, float]) -> dict[str, float]:
        pd, ps = peak(dense, top) ** power, peak(sparse, top) ** power
        a = 0.5 if pd + ps == 0 else min(hi, max(lo, pd / (pd + ps)))
        return combine(_z, a)(dense, sparse)
    return fuse


def pseudo_queries(dataset: Path, n: int = 200, seed: int = 7) -> dict[str, tuple[str, str]]:
    """qid -> (a sentence of a document, that document's id)."""
    import json
    import random
    import re

    rng = random.Random(seed)
    docs = [json.loads(line) for line in open(dataset / "corpus.jsonl")]
    rng.shuffle(docs)
    out = {}
    for d in docs:
        sentences = [s for s in re.split(r"(?<=[.!?。！？])\s*", d.get("text", "")) if 6 <= len(s.split()) <= 40
                     or (len(s) >= 12 and not s.isascii())]
        if sentences:
            out[f"p{len(out)}"] = (rng.choice(sentences), str(d["_id"]))
        if len(out) == n:
            break
    return out



def collect_pseudo(home: Path, dataset: Path, n: int = 200) -> tuple[dict[str, Lists], dict]:
    data = load_beir(dataset, "test")
    pq = pseudo_queries(dataset, n)
    settings = Settings(home=home, index=eval_index_name(Settings(), data, "all-MiniLM-L6-v2"))
    index = Index.open(settings)
    with Searcher(index, load_query_encoder(index.model, "cpu")) as searcher:
        out: dict[str, Lists] = {"dense": {}, "sparse": {}}
        qids = list(pq)
        for mode in out:
            hits = searcher.search_many([pq[q][0] for q in qids], 100, mode, with_text=False)
            for q, hs in zip(qids, hits, strict=True):
                out[mode][q] = {h.doc: h.score for h in hs}
    return out, {q: {pq[q][1]: 1} for q in qids}


def self_tuning(args: argparse.Namespace, cache: dict) -> None:
    grid = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    key = "pseudo"
    pseudo = cache.setdefault(key, {})
    for name in args.corpora.split(","):
        if name not in pseudo:
            pseudo[name] = collect_pseudo(args.home, args.data / name)
            args.cache.write_bytes(pickle.dumps(cache))
        lists, qrels = pseudo[name]
        pm = {a: score({q: combine(_z, a)(lists["dense"][q], lists["sparse"][q]) for q in qrels}, qrels)["mrr@10"]
              for a in grid}
        dm = score({q: lists["dense"][q] for q in qrels}, qrels)["mrr@10"]
        sm = score({q: lists["sparse"][q] for q in qrels}, qrels)["mrr@10"]
        real = {a: evaluate(cache[name][0], cache[name][1], combine(_z, a)) for a in grid}
        pick = max(grid, key=lambda a: (pm[a], -abs(a - 0.5)))
        print(f"{name:10} pseudo dense {dm:.3f} sparse {sm:.3f} | " + " ".join(f"{a}:{pm[a]:.3f}/{real[a]:.3f}" for a in grid)
              + f" | pick {pick} -> {real[pick]:.4f}")


if __name__ == "__main__":
    main()
