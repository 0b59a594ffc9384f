"""A BM25 that tokenizes each corpus's language properly, beside docsearch's own `--mode sparse` (issue #12).

Issue #12 asks docsearch's sparse search to come within 0.02 nDCG@10 of "a BM25 that tokenizes the
language properly" on CMRC 2018 (Chinese) and XQuAD German. This script is that yardstick: every
BEIR folder under ``--data`` (as ``multi_corpus.py`` finds them) is scored on its test split with
`bm25s` (Lucene BM25, k1 1.5, b 0.75, one vector per whole document: title + text) under

- ``en``: lowercase words (``\\w\\w+``), English stopwords, the Snowball English stemmer. Run on
  every corpus: on German and Chinese it is what an English analyzer does with them.
- ``de``: the same with German stopwords and the Snowball German stemmer.
- ``zh-bigram``: CJK runs cut into overlapping character bigrams (a lone character stays a
  unigram), other text as lowercase words; no stopwords, no stemming.
- ``zh-jieba``: jieba's search-mode word segmentation (``cut_for_search``), lowercase; only when
  jieba is installed.

With ``--edge``, more rows tell what separates docsearch's sparse figure from bm25s: ``en-qset`` is
``en`` with each query term counted once (as Edge's query vectors weigh them), and the ``edge-*`` rows
score Qdrant Edge's own BM25 vectors (the ones docsearch stores) over whole documents, in numpy:
``edge-en`` as docsearch configures it (English, ``avg_len`` fixed at 256 tokens, k 1.2, b 0.75,
repeated query terms counted once), ``edge-en-avglen`` with the corpus's true mean document length,
``edge-multilingual`` with Edge's ``TokenizerType.Multilingual`` (which segments Chinese words), and on
German ``edge-de`` with Edge's German stemmer and stopwords.

A corpus's language comes from its ``meta.json`` (``"language": "de ..."``), English when there is
none. Queries and judgements are read with ``docsearch.beir.load_beir`` and scored with
``docsearch.metrics.score``, exactly as ``docsearch eval`` reads and scores them, so the figures
compare one to one. When ``--compare`` (the JSON that ``multi_corpus.py`` writes) is there, its
sparse nDCG@10 is shown beside each row with the difference.

Not a docsearch dependency; install into the environment first::

    pip install bm25s PyStemmer          # and jieba, for the zh-jieba rows
    python tests/bench/bm25_reference.py [--data ../shared/datasets] [--corpus cmrc2018]

Indexing and querying all six corpora takes under a minute on two cores (jieba's dictionary
load adds a few seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's docsearch
sys.path.insert(0, str(Path(__file__).resolve().parent))  # multi_corpus, beside this file

from multi_corpus import DEFAULT_DATA, discover

from docsearch.eval.beir import load_beir
from docsearch.eval.metrics import score

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "bench" / "results" / "bm25_reference.json"
DEFAULT_COMPARE = REPO / "tests" / "bench" / "results" / "multi_corpus.json"
DEPTH = 100  # Recall@100 and MAP@100, as docsearch eval reports them
K1, B = 1.5, 0.75

WORD = re.compile(r"\w\w+")
# CJK Unified Ideographs (and extension A, compatibility ideographs): the characters a bigram pairs up.
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

Tokenizer = Callable[[str], list[str]]


def snowball(language: str, stopwords: list[str]) -> Tokenizer:
    import Stemmer

    stem = Stemmer.Stemmer(language).stemWord
    stop = set(stopwords)

    def tokenize(text: str) -> list[str]:
        return [stem(w) for w in WORD.findall(text.lower()) if w not in stop]

    return tokenize


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of every CJK run; what lies between runs as lowercase words."""
    tokens: list[str] = []
    last = 0
    for run in CJK.finditer(text):
        tokens += WORD.findall(text[last:run.start()].lower())
        chars = run.group()
        tokens += [chars] if len(chars) == 1 else [chars[i:i + 2] for i in range(len(chars) - 1)]
        last = run.end()
    tokens += WORD.findall(text[last:].lower())
    return tokens


def jieba_words() -> Tokenizer:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()

    def tokenize(text: str) -> list[str]:
        return [w for w in (t.strip().lower() for t in jieba.cut_for_search(text)) if w and re.search(r"\w", w)]

    return tokenize


def analyzers(language: str) -> dict[str, Callable[[], Tokenizer]]:
    """Name -> a factory, English first (the analyzer docsearch's sparse side uses on every language)."""
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_GERMAN

    found: dict[str, Callable[[], Tokenizer]] = {"en": lambda: snowball("english", STOPWORDS_EN)}
    if language == "de":
        found["de"] = lambda: snowball("german", STOPWORDS_GERMAN)
    if language == "zh":
        found["zh-bigram"] = lambda: cjk_bigrams
        try:
            import jieba  # noqa: F401
        except ImportError:
            pass
        else:
            found["zh-jieba"] = jieba_words
    return found


def edge_run(doc_ids: list[str], texts: list[str], queries: dict[str, str], avg_len: float | None = 256.0,
             **config: Any) -> tuple[dict[str, dict[str, float]], float]:
    """Qdrant Edge's BM25 vectors scored as its IDF modifier scores them, whole documents, exact top 100.

    ``avg_len`` None: the corpus's mean length in the analyzer's own tokens (read back from vectors
    made with b = 0, whose values are tf (k+1) / (tf + k))."""
    import math
    from collections import defaultdict

    import qdrant_edge as qe

    if avg_len is None:
        flat = qe.Bm25(qe.Bm25Config(avg_len=256.0, b=0.0, k=1.2, **config))
        total = sum(round(1.2 * x / (2.2 - x)) for t in texts for x in flat.embed_document(t).values)
        avg_len = total / max(len(texts), 1)
    bm25 = qe.Bm25(qe.Bm25Config(avg_len=avg_len, **config))
    postings: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for n, text in enumerate(texts):
        vector = bm25.embed_document(text)
        for index, value in zip(vector.indices, vector.values, strict=True):
            postings[index].append((n, value))
    idf = {i: math.log(1 + (len(texts) - len(p) + 0.5) / (len(p) + 0.5)) for i, p in postings.items()}
    run: dict[str, dict[str, float]] = {}
    for qid, text in queries.items():
        scores: dict[int, float] = defaultdict(float)
        vector = bm25.embed_query(text)
        for index, weight in zip(vector.indices, vector.values, strict=True):
            for n, value in postings.get(index, ()):
                scores[n] += weight * value * idf[index]
        top = sorted(scores.items(), key=lambda x: -x[1])[:DEPTH]
        run[qid] = {doc_ids[n]: s for n, s in top}
    return run, avg_len


def edge_variants(language: str) -> dict[str, dict[str, Any]]:
    import qdrant_edge as qe

    found: dict[str, dict[str, Any]] = {
        "edge-en": {"language": "english"}, "edge-en-avglen": {"language": "english", "avg_len": None},
        "edge-multilingual": {"language": "english", "tokenizer": qe.TokenizerType.Multilingual}}
    if language == "de":
        found["edge-de"] = {"language": "german"}
    return found


def corpus_language(folder: Path) -> str:
    meta = folder / "meta.json"
    if meta.is_file():
        language = str(json.loads(meta.read_text(encoding="utf-8")).get("language", "en"))
        return language.split()[0].split("-")[0].lower()
    return "en"


def read_corpus(path: Path) -> tuple[list[str], list[str]]:
    """Document ids and texts, title + text as docsearch indexes a BEIR record."""
    ids, texts = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                ids.append(str(row["_id"]))
                texts.append(" ".join(p for p in (row.get("title") or "", row.get("text") or "") if p.strip()))
    return ids, texts


def bm25_run(doc_ids: list[str], doc_tokens: list[list[str]], queries: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    import bm25s

    retriever = bm25s.BM25(k1=K1, b=B)
    retriever.index(doc_tokens, show_progress=False)
    qids = [q for q, toks in queries.items() if toks]
    run: dict[str, dict[str, float]] = {q: {} for q in queries}
    if not qids:
        return run
    depth = min(DEPTH, len(doc_ids))
    found, scores = retriever.retrieve([queries[q] for q in qids], k=depth, show_progress=False, n_threads=1)
    for qid, rows, vals in zip(qids, found, scores, strict=True):
        run[qid] = {doc_ids[int(i)]: float(s) for i, s in zip(rows, vals, strict=True) if s > 0}
    return run


def docsearch_sparse(compare: Path | None) -> dict[str, float]:
    if compare is None or not compare.is_file():
        return {}
    summary = json.loads(compare.read_text(encoding="utf-8")).get("summary", {}).get("per_corpus", {})
    return {name: t["ndcg@10"]["sparse"] for name, t in summary.items() if "sparse" in t.get("ndcg@10", {})}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of BEIR folders (default: %(default)s)")
    parser.add_argument("--corpus", action="append", help="only this corpus (folder name); repeat for several")
    parser.add_argument("--compare", type=Path, default=DEFAULT_COMPARE,
                        help="multi_corpus.py's JSON, for docsearch's sparse figures (default: %(default)s)")
    parser.add_argument("--edge", action="store_true", help="also en-qset and Qdrant Edge's BM25 vectors (see above)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON (default: %(default)s)")
    return parser.parse_args()


def main() -> int:
    args = _parse()
    try:
        import bm25s
        import Stemmer  # noqa: F401
    except ImportError as exc:
        print(f"error: {exc.name} is missing: pip install bm25s PyStemmer (and jieba for Chinese words)", file=sys.stderr)
        return 1
    corpora = [c for c in discover(args.data) if not args.corpus or c.name in args.corpus]
    if not corpora:
        print(f"error: no BEIR folder under {args.data}", file=sys.stderr)
        return 1
    sparse = docsearch_sparse(args.compare)
    rows: list[dict[str, Any]] = []
    for folder in corpora:
        language = corpus_language(folder)
        data = load_beir(folder, "test")
        doc_ids, texts = read_corpus(folder / "corpus.jsonl")
        for name, factory in analyzers(language).items():
            started = time.perf_counter()
            tokenize = factory()
            run = bm25_run(doc_ids, [tokenize(t) for t in texts], {q: tokenize(t) for q, t in data.queries.items()})
            rows.append(_row(folder.name, language, name, data, len(doc_ids), run, started, sparse))
            if args.edge and name == "en":
                started = time.perf_counter()
                once = {q: list(dict.fromkeys(tokenize(t))) for q, t in data.queries.items()}
                run = bm25_run(doc_ids, [tokenize(t) for t in texts], once)
                rows.append(_row(folder.name, language, "en-qset", data, len(doc_ids), run, started, sparse))
        for name, config in (edge_variants(language) if args.edge else {}).items():
            started = time.perf_counter()
            config = dict(config)
            run, avg_len = edge_run(doc_ids, texts, dict(data.queries), config.pop("avg_len", 256.0), **config)
            rows.append(_row(folder.name, language, name, data, len(doc_ids), run, started, sparse, avg_len=round(avg_len, 1)))
    _print(rows)
    payload = {"command": shlex.join(["python", "tests/bench/bm25_reference.py", *sys.argv[1:]]),
               "bm25": {"implementation": f"bm25s {bm25s.__version__}", "method": "lucene", "k1": K1, "b": B},
               "compare": str(args.compare) if sparse else None, "cpus": os.cpu_count(),
               "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _row(corpus: str, language: str, analyzer: str, data: Any, docs: int, run: dict[str, dict[str, float]],
         started: float, sparse: dict[str, float], **extra: Any) -> dict[str, Any]:
    metrics = score(run, data.qrels, 10, DEPTH)
    row = {"corpus": corpus, "language": language, "analyzer": analyzer, "queries": len(data.queries), "docs": docs,
           **extra, **{m: round(v, 6) for m, v in metrics.items()}, "seconds": round(time.perf_counter() - started, 2)}
    if corpus in sparse:
        row["docsearch_sparse_ndcg@10"] = sparse[corpus]
    print(f"[{time.strftime('%H:%M:%S')}] {corpus} {analyzer}: nDCG@10 {metrics['ndcg@10']:.4f} ({row['seconds']:.1f} s)",
          file=sys.stderr, flush=True)
    return row


def _print(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    title = "[bold]BM25[/] by analyzer, test split (bm25s; edge-*: Qdrant Edge's vectors, whole documents)"
    table = Table(title=title, title_justify="left", collapse_padding=True, pad_edge=False)
    for header in ("corpus", "analyzer", "nDCG@10", "MRR@10", "R@100", "docsearch sparse", "sparse-this"):
        table.add_column(header, justify="left" if header in ("corpus", "analyzer") else "right", no_wrap=True)
    for r in rows:
        ours = r.get("docsearch_sparse_ndcg@10")
        table.add_row(r["corpus"], r["analyzer"], f"{r['ndcg@10']:.3f}", f"{r['mrr@10']:.3f}", f"{r['recall@100']:.3f}",
                      "-" if ours is None else f"{ours:.3f}", "-" if ours is None else f"{ours - r['ndcg@10']:+.3f}")
    Console(width=None if sys.stdout.isatty() else 120).print(table)


if __name__ == "__main__":
    sys.exit(main())
