"""Retrieval quality on a BEIR dataset, measured through the real indexer and searcher.

The corpus is indexed with ``index_paths`` into an index keyed by the model's weight
fingerprint and the chunking, so a rerun reuses it for free. Every judged query of
the split then goes through ``Searcher.search_many``, and the ranked documents are
scored with ``metrics.score`` (nDCG@k, MRR@k, Recall@100, MAP@100). Latency is
measured separately, one ``search`` call per query, query encoding included, since
that is what a user waits for.

BEIR data and TREC run files are read and written by :mod:`docsearch.beir`.

Hybrid fusion is tuned, never guessed: ``tune_fusion`` grid-searches RRF and DBSF on
a dev split carved from the TRAIN qrels and stores the winner with the index.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..encoders import load_encoder
from ..encoders.base import EncoderBase
from ..errors import ConfigError, DataError
from ..index import Index
from ..indexer import update_index
from ..model import ModelDir
from ..searcher import Searcher
from ..settings import Settings
from ..types import Fusion, RecordFields
from .beir import (
    DEV_FRACTION,
    DEV_MAX,
    SEED,
    BeirData,
    dev_split,
    load_beir,
    read_qrels,
    sample_queries,
    slug,
)
from .metrics import score

if TYPE_CHECKING:
    import numpy as np

    from ..encoders import Encoder
    from ..indexer import IndexProgress
    from ..searcher import Searcher

MODES = ("auto", "dense", "sparse", "hybrid")
DEEP = 100  # Recall and MAP cut-off, as BEIR reports them
QUERY_BATCH = 64
LATENCY_SAMPLE = 100
RRF_KS = (1, 2, 5, 10, 20, 60)
RRF_WEIGHTS = ((1.0, 1.0), (2.0, 1.0), (1.0, 2.0), (3.0, 1.0), (1.0, 3.0), (1.5, 1.0), (1.0, 1.5))

Run = dict[str, dict[str, float]]


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class IndexUse:
    """Which index a model was evaluated on, and what bringing it up to date cost."""
    model: str
    index: str
    embedded: int  # chunks embedded now: 0 when the index was reused as it was
    chunks: int  # chunks in the index
    seconds: float


def eval_index_name(settings: Settings, data: BeirData, model: str) -> str:
    """``eval-<dataset>-<weights fingerprint>-<chunk tokens>x<overlap>[-<backend>]``: a new model, chunking or
    encoder backend gets a new index, so each backend's vectors are scored on their own."""
    model_dir = ModelDir.resolve(model)
    longest = model_dir.max_seq_length
    tokens = min(settings.chunk_tokens or longest, longest)
    suffix = "" if settings.backend in ("auto", "torch") else f"-{settings.backend}"  # the default index
    return f"eval-{data.name}-{model_dir.fingerprint}-{tokens}x{settings.overlap}{suffix}"


def prepare_index(settings: Settings, data: BeirData, model: str | None, index: str | None = None,
                  encoder: Encoder | None = None,
                  progress: Callable[[IndexProgress], None] | None = None) -> tuple[Settings, IndexUse]:
    """Index (or bring up to date) the corpus; returns the settings that open that index."""
    if index is None:
        model = model or settings.model_or_default
        index = eval_index_name(settings, data, model)
    s = settings.with_flags(index=index, model=model)
    with Index.open_or_create(s) as opened:
        _refuse_other_sources(opened, data)
        report = update_index(opened, [str(data.corpus)], RecordFields(), progress, encoder)
        chunks = opened.manifest.totals()[2]
        return s, IndexUse(opened.meta.model, index, report.chunks, chunks, report.seconds)


def _refuse_other_sources(index: Index, data: BeirData) -> None:
    """Documents from elsewhere would change every figure; say so before any embedding starts."""
    corpus = os.path.abspath(data.corpus)
    others = sorted(row.path for key, row in index.manifest.rows().items() if key != corpus)
    if others:
        raise DataError(
            f"index {index.name!r} holds other sources than {data.corpus} ({', '.join(others[:3])}); "
            "evaluate on an index of the corpus alone (drop --index to get one)"
        )


class _MemoEncoder(EncoderBase):
    """Remembers query vectors, so several modes or a fusion grid encode each query once.

    Latency is timed with ``remember`` off: a user's query is always encoded afresh.
    """

    def __init__(self, inner: Encoder) -> None:
        self._inner = inner
        self._cache: dict[str, np.ndarray] = {}
        self.remember = True
        self.model_id, self.fingerprint, self.variant = inner.model_id, inner.fingerprint, inner.variant
        self.dim, self.max_tokens = inner.dim, inner.max_tokens
        self.backend, self.device = inner.backend, inner.device

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not self.remember or not texts:
            return self._inner.encode_queries(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self._inner.encode_queries(missing), strict=True))
        return np.stack([self._cache[t] for t in texts])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.encode_documents(texts)


@contextmanager
def _open(s: Settings, encoder: Encoder | None, needs_model: bool) -> Iterator[tuple[Searcher, _MemoEncoder | None]]:
    index = Index.open(s)
    try:
        memo = None
        if needs_model:
            memo = _MemoEncoder(encoder or load_encoder(index.model, s.device, s.batch_size, s.backend))
        searcher = Searcher(index, memo)
    except BaseException:
        index.close()
        raise
    try:
        yield searcher, memo
    finally:
        searcher.close()


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalRow:
    """One (model, mode): mean metrics over the split's judged queries and single-query latency."""
    model: str
    index: str
    mode: str
    fusion: Fusion | None  # auto and hybrid: the fusion the figures were measured with
    metrics: Mapping[str, float]
    queries: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    search_seconds: float  # the batched run over all queries
    run: Mapping[str, Mapping[str, float]] = field(default_factory=dict, repr=False, compare=False)
    backend: str = "torch"  # the encoder backend that embedded the corpus and encodes the queries

    @property
    def model_label(self) -> str:
        """The bundled name, or a model directory's last part."""
        return Path(self.model).name

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "index": self.index, "backend": self.backend, "mode": self.mode,
            "fusion": fusion_json(self.fusion) if self.fusion else None,
            **{name: round(value, 6) for name, value in self.metrics.items()},
            "queries": self.queries,
            "latency_ms": {"p50": _round(self.latency_p50_ms), "p95": _round(self.latency_p95_ms)},
            "search_s": round(self.search_seconds, 3),
        }


@dataclass(frozen=True)
class EvalReport:
    dataset: str
    split: str
    queries: int
    k: int
    deep: int
    rows: tuple[EvalRow, ...]
    indexes: tuple[IndexUse, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "split": self.split, "queries": self.queries, "k": self.k, "deep": self.deep,
            "rows": [r.to_json() for r in self.rows],
            "indexes": [{"model": u.model, "index": u.index, "chunks": u.chunks, "embedded": u.embedded,
                         "seconds": round(u.seconds, 3)} for u in self.indexes],
        }


def fusion_json(fusion: Fusion) -> dict[str, Any]:
    return fusion.to_json()


def fusion_label(fusion: Fusion) -> str:
    return fusion.label()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def evaluate(
    settings: Settings,
    dataset: BeirData | str | os.PathLike[str],
    models: Sequence[str] | None = None,
    modes: Sequence[str] = ("dense",),
    split: str = "test",
    k: int = 10,
    fusion: Fusion | None = None,
    *,
    deep: int = DEEP,
    index: str | None = None,
    limit_queries: int | None = None,
    latency_queries: int = LATENCY_SAMPLE,
    encoder: Encoder | None = None,
    progress: Callable[[str], None] | None = None,
    index_progress: Callable[[IndexProgress], None] | None = None,
    backends: Sequence[str] | None = None,
) -> EvalReport:
    """Metrics and latency for every (model, mode) on one split.

    ``models`` empty or None: the index's own model with ``index``, else ``settings.model`` or the default.
    ``index`` names the index to use instead of the derived ``eval-...`` one (one model only).
    ``fusion`` overrides the index's stored hybrid fusion for this run only.
    ``backends``: encoder backends to compare (default: ``settings.backend``); each embeds its own index.
    """
    data = dataset if isinstance(dataset, BeirData) else load_beir(dataset, split)
    data = sample_queries(data, limit_queries)
    modes = _check_modes(modes)
    names: list[str | None] = list(dict.fromkeys(models or [settings.model]))
    if k < 1 or deep < 1:
        raise ConfigError("k and the deep cut-off must be at least 1")
    if len(names) > 1 and (index is not None or encoder is not None):
        raise ConfigError("an explicit index (or encoder) serves one model; give one --model")
    say = progress or (lambda _msg: None)
    rows: list[EvalRow] = []
    uses: list[IndexUse] = []
    kinds = list(dict.fromkeys(backends or [settings.backend]))
    if len(kinds) > 1 and (index is not None or encoder is not None):
        raise ConfigError("an explicit index (or encoder) holds one backend's vectors; give one --backend")
    for model in names:
        for backend in kinds:
            say(f"indexing {data.corpus} for {model or 'the index model'} ({backend})")
            s, use = prepare_index(settings.with_flags(backend=backend), data, model, index, encoder, index_progress)
            uses.append(use)
            with _open(s, encoder, needs_model=any(m != "sparse" for m in modes)) as (searcher, memo):
                for mode in modes:
                    say(f"{use.model} ({backend}): {mode} on {len(data.queries)} queries")
                    row = _evaluate_mode(searcher, memo, data, use, mode, fusion, k, deep, latency_queries)
                    rows.append(replace(row, backend=backend))
    return EvalReport(data.name, data.split, len(data.queries), k, deep, tuple(rows), tuple(uses))


def _check_modes(modes: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(modes))
    if not wanted:
        raise ConfigError("no search mode to evaluate")
    for mode in wanted:
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    return wanted


def _evaluate_mode(searcher: Searcher, memo: _MemoEncoder | None, data: BeirData, use: IndexUse, mode: str,
                   fusion: Fusion | None, k: int, deep: int, latency_queries: int) -> EvalRow:
    used = searcher.answering(mode, fusion if mode == "hybrid" else None)[1]
    started = time.perf_counter()
    run = run_queries(searcher, data.queries, mode, max(k, deep), used)
    seconds = time.perf_counter() - started
    p50 = p95 = None
    if latency_queries > 0:
        p50, p95 = _latency(searcher, memo, sample_queries(data, latency_queries), mode, used, k)
    return EvalRow(use.model, use.index, mode, used, score(run, data.qrels, k, deep), len(data.queries),
                   p50, p95, seconds, run)


def run_queries(searcher: Searcher, queries: Mapping[str, str], mode: str, depth: int,
                fusion: Fusion | None = None, batch: int = QUERY_BATCH) -> Run:
    """Query id -> {doc id: score} for the top ``depth`` documents, ``batch`` queries per request."""
    qids = list(queries)
    run: Run = {}
    for start in range(0, len(qids), batch):
        ids = qids[start:start + batch]
        results = searcher.search_many([queries[q] for q in ids], depth, mode, fusion=fusion, with_text=False)
        for qid, hits in zip(ids, results, strict=True):
            run[qid] = {h.doc: h.score for h in hits}
    return run


def _latency(searcher: Searcher, memo: _MemoEncoder | None, data: BeirData, mode: str, fusion: Fusion | None,
             k: int) -> tuple[float, float]:
    """p50 and p95 of one ``search`` call each, in ms; two untimed calls first warm the caches."""
    texts = list(data.queries.values())
    if memo is not None:
        memo.remember = False
    try:
        for text in texts[:2]:
            searcher.search(text, k, mode, fusion=fusion)
        times = []
        for text in texts:
            started = time.perf_counter()
            searcher.search(text, k, mode, fusion=fusion)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        if memo is not None:
            memo.remember = True
    return percentile(times, 50), percentile(times, 95)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks, as numpy's default."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def run_file_paths(base: str | os.PathLike[str], rows: Sequence[EvalRow]) -> list[Path]:
    """One path per row: ``base`` itself for one row, else ``base`` with ``.MODE`` (and the model) before its suffix."""
    base = Path(base)
    if len(rows) <= 1:
        return [base] * len(rows)
    models = list(dict.fromkeys(r.model for r in rows))
    labels = [slug(Path(m).name) for m in models]
    if len(set(labels)) < len(labels):  # two directories of the same name
        labels = [f"{label}-{n}" for n, label in enumerate(labels, start=1)]
    label = dict(zip(models, labels, strict=True))
    tags = [f"{label[r.model]}.{r.mode}" if len(models) > 1 else r.mode for r in rows]
    if len({r.backend for r in rows}) > 1:
        tags = [f"{tag}.{r.backend}" for tag, r in zip(tags, rows, strict=True)]
    return [base.with_name(f"{base.stem}.{tag}{base.suffix}") for tag in tags]


def run_tag(row: EvalRow) -> str:
    backend = "" if row.backend in ("auto", "torch") else f"-{row.backend}"  # the default, as before auto
    return f"docsearch-{slug(row.model_label)}{backend}-{row.mode}"


# --------------------------------------------------------------------------- fusion tuning


@dataclass(frozen=True)
class TuneRow:
    fusion: Fusion
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class TuneResult:
    """The grid on the dev split, best first, and the fusion chosen (by nDCG@k; ties keep the previous one)."""
    model: str
    index: str
    dev_queries: int
    k: int
    grid: tuple[TuneRow, ...]
    best: Fusion
    previous: Fusion
    saved: bool
    dev_source: str = "train"  # "train": carved from the train qrels; "held-out": the model's own dev split

    @property
    def best_metrics(self) -> Mapping[str, float]:
        return self.grid[0].metrics

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "index": self.index, "dev_queries": self.dev_queries, "dev_source": self.dev_source,
            "saved": self.saved,
            "best": fusion_json(self.best), "previous": fusion_json(self.previous),
            "grid": [{"fusion": fusion_json(r.fusion), **{n: round(v, 6) for n, v in r.metrics.items()}} for r in self.grid],
        }


ZSCORE_ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7)


def fusion_grid(ks: Sequence[int] = RRF_KS, weights: Sequence[tuple[float, float]] = RRF_WEIGHTS,
                dbsf: bool = True) -> list[Fusion]:
    """Every RRF (k, weights) pair, then DBSF (which has no parameters), then document-level
    z-score fusion at dense shares 0.3-0.7."""
    grid = [Fusion("rrf", k, (float(d), float(s))) for k in ks for d, s in weights]
    if not dbsf:
        return grid
    zscore = [Fusion("zscore", 0, (a, round(1 - a, 2))) for a in ZSCORE_ALPHAS]
    return [*grid, Fusion("dbsf"), *zscore]


def tune_fusion(
    settings: Settings,
    dataset: str | os.PathLike[str],
    model: str | None = None,
    *,
    index: str | None = None,
    grid: Sequence[Fusion] | None = None,
    k: int = 10,
    fraction: float = DEV_FRACTION,
    cap: int = DEV_MAX,
    seed: int = SEED,
    save: bool = True,
    encoder: Encoder | None = None,
    progress: Callable[[str], None] | None = None,
    index_progress: Callable[[IndexProgress], None] | None = None,
) -> TuneResult:
    """Grid-search hybrid fusion on a dev split of the TRAIN qrels; store the best with the index.

    Test queries are never looked at: the dev split is carved from ``qrels/train.tsv``, and
    any query that the test qrels also judge is left out of it. A model docsearch fine-tuned on
    these train qrels has learned most of them, so its dense scores would look better there than
    on new queries and the tuning would lean too far to dense: for such a model the dev split is
    the queries its training held out (``held_out`` in its training report), when there are any.
    """
    say = progress or (lambda _msg: None)
    configs = fusion_grid() if grid is None else list(grid)
    if not configs:
        raise ConfigError("the fusion grid is empty")
    train, test_ids = load_beir(dataset, "train"), _test_qids(dataset)
    dev, source = _held_out_split(train, settings.model if model is None else model, test_ids), "held-out"
    if dev is None:
        dev, source = dev_split(train, fraction, cap, seed, exclude=test_ids), "train"
    s, use = prepare_index(settings, dev, model, index, encoder, index_progress)
    rows = []
    with _open(s, encoder, needs_model=True) as (searcher, _memo):
        previous = searcher.meta.fusion
        for n, fusion in enumerate(configs, start=1):
            say(f"{use.model}: fusion {n}/{len(configs)} ({fusion_label(fusion)}) on {len(dev.queries)} dev queries")
            run = run_queries(searcher, dev.queries, "hybrid", max(k, DEEP), fusion)
            rows.append(TuneRow(fusion, score(run, dev.qrels, k, DEEP)))
    ndcg = f"ndcg@{k}"
    # A tie keeps the fusion already in use (no change without evidence), then grid order (the sort is stable).
    ranked = sorted(rows, key=lambda r: (-r.metrics[ndcg], r.fusion != previous))
    best = ranked[0].fusion
    if save:
        with Index.open(s) as saved:
            saved.set_fusion(best)
    return TuneResult(use.model, use.index, len(dev.queries), k, tuple(ranked), best, previous, save, source)


def _held_out_split(train: BeirData, model: str | None, exclude: Sequence[str]) -> BeirData | None:
    """The train queries that ``model``'s own training held out, or None if it records none of them."""
    from ..train import held_out_queries  # torch-free, but train is a heavy package: only when tuning

    if model is None:
        return None
    banned = set(exclude)
    keep = [q for q in held_out_queries(model) if q in train.queries and q not in banned]
    if not keep:
        return None
    return replace(train, queries={q: train.queries[q] for q in keep}, qrels={q: train.qrels[q] for q in keep},
                   split=f"{train.split}-held-out")


def _test_qids(dataset: str | os.PathLike[str]) -> list[str]:
    test = Path(dataset) / "qrels" / "test.tsv"
    return list(read_qrels(test)) if test.is_file() else []
