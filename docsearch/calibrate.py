"""The same/different threshold of document similarity, per index.

By default it comes from the index's own score distribution: a sample of documents, each one's
similarity to its nearest other document (``nearest``). Most documents' nearest neighbour is merely
related, a broad bulk; copies and near-copies form a separate mode close to 1. The threshold is the
middle of the widest gap between those similarities within [``LOWEST``, ``HIGHEST``]: the valley
between the two. Measured (tests/bench/dupes.py): on SciFact the nearest other abstract scores at
most 0.912 (median 0.69), so the threshold lands at 0.946; with 5 % of 500 abstracts planted again,
lightly edited (copies scoring 0.962 and up, their nearest non-copy at most 0.759), at 0.906, and
``dupes`` finds every planted pair and nothing else. From labelled pairs (``from_pairs``) it is the
threshold that is most accurate on a training split, reported, as face verification reports its
operating point, with accuracy, precision and recall on the held-out split.

The threshold is kept in ``indexes/NAME/similarity.json`` with the model's fingerprint and the
document count it was measured on: a re-embedding with another model, or an index that has grown
or shrunk by more than a quarter, calibrates again on first use.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import DataError
from .index import Index
from .similar import AGGREGATION, DocChunks, candidates, load_docs, scored

THRESHOLD_FILE = "similarity.json"
SAMPLE = 500  # documents whose nearest neighbour the distribution is made of
LOWEST, HIGHEST = 0.85, 0.98
STALE = 0.25  # recalibrate when the document count moved by more than this share
HELD_OUT = 0.3


@dataclass(frozen=True)
class Threshold:
    value: float
    source: str  # distribution | pairs | given
    fingerprint: str = ""
    documents: int = 0
    aggregation: str = AGGREGATION
    created: float = 0.0
    # From pairs: the operating point on the held-out split (accuracy, precision, recall, counts);
    # from the distribution: the median, the gap the threshold sits in, how many sampled documents are above.
    figures: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Threshold:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def nearest(index: Index, sample: int = SAMPLE, seed: int = 0,
            aggregation: str = AGGREGATION) -> tuple[list[float], int]:
    """Each sampled document's similarity to its nearest other document, and the document count."""
    docs = sorted({str(p.get("doc")) for page in index.store.payloads(("doc",)) for _, p in page})
    chosen = random.Random(seed).sample(docs, min(sample, len(docs)))
    targets = load_docs(index, chosen)
    order = [targets[d] for d in chosen if d in targets]
    pools = candidates(index, order, 8)
    known = {**targets, **load_docs(index, {d for pool in pools for d in pool} - set(targets))}
    sims = []
    for target, pool in zip(order, pools, strict=True):
        best = scored(target, pool, known, aggregation)
        if best:
            sims.append(best[0][1])
    return sims, len(docs)


def from_distribution(sims: Sequence[float]) -> tuple[float, dict[str, float]]:
    """The middle of the widest gap between nearest-neighbour similarities in [LOWEST, HIGHEST]
    (the range's ends count as values): the valley between the bulk of merely related documents
    and the mode of copies (see the module's docstring)."""
    values = np.sort(np.asarray(sims, dtype=np.float64))
    inside = values[(values > LOWEST) & (values < HIGHEST)]
    edges = np.concatenate([[LOWEST], inside, [HIGHEST]])
    widest = int(np.argmax(np.diff(edges)))
    value = float((edges[widest] + edges[widest + 1]) / 2)
    return value, {"median": float(np.median(values)) if values.size else 0.0, "gap_low": float(edges[widest]),
                   "gap_high": float(edges[widest + 1]), "above": float((values >= value).sum()),
                   "sampled": float(values.size)}


def calibrate_distribution(index: Index, sample: int = SAMPLE, seed: int = 0) -> Threshold:
    sims, documents = nearest(index, sample, seed)
    value, figures = from_distribution(sims)
    return Threshold(round(value, 4), "distribution", index.meta.fingerprint, documents, AGGREGATION, time.time(),
                     figures)


@dataclass(frozen=True)
class PairFit:
    """A threshold chosen on labelled pairs' training split, scored on the held-out split."""

    threshold: float
    accuracy: float
    precision: float
    recall: float
    train: int
    held_out: int
    train_accuracy: float


def from_pairs(scores: Sequence[float], labels: Sequence[int], held_out: float = HELD_OUT, seed: int = 0) -> PairFit:
    """The most accurate threshold on a seeded split of the pairs (stratified by label), scored on
    the rest; with fewer than 10 pairs of either label there is too little to tell."""
    same = [i for i, y in enumerate(labels) if y]
    diff = [i for i, y in enumerate(labels) if not y]
    if len(same) < 10 or len(diff) < 10:
        raise DataError(f"calibrating needs at least 10 'same' and 10 'different' pairs; got {len(same)} and {len(diff)}")
    rng = random.Random(seed)
    test: set[int] = set()
    for group in (same, diff):
        rng.shuffle(group)
        test.update(group[:max(1, round(len(group) * held_out))])
    train = [i for i in range(len(labels)) if i not in test]
    s, y = np.asarray(scores), np.asarray(labels, dtype=bool)
    cuts = np.unique(s[train])
    accuracy = [float(((s[train] >= c) == y[train]).mean()) for c in cuts]
    best = int(np.argmax(accuracy))
    # Between the chosen score and the next one below: the middle of the gap generalises best.
    below = cuts[best - 1] if best > 0 else cuts[best]
    threshold = float((cuts[best] + below) / 2)
    idx = sorted(test)
    predicted, truth = s[idx] >= threshold, y[idx]
    tp = int((predicted & truth).sum())
    precision = tp / int(predicted.sum()) if predicted.any() else 1.0
    recall = tp / int(truth.sum())
    return PairFit(threshold, float((predicted == truth).mean()), precision, recall, len(train), len(idx),
                   accuracy[best])


def pair_scores(a: Sequence[DocChunks], b: Sequence[DocChunks], aggregation: str = AGGREGATION) -> list[float]:
    from .similar import similarity

    return [similarity(x, y, aggregation) for x, y in zip(a, b, strict=True)]


def load(index: Index) -> Threshold | None:
    """The stored threshold, unless it belongs to another model or a much changed index."""
    path = index.dir / THRESHOLD_FILE
    try:
        threshold = Threshold.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if threshold.fingerprint != index.meta.fingerprint or threshold.aggregation != AGGREGATION:
        return None
    if threshold.source == "distribution":
        documents = index.manifest.totals()[1]
        if documents and abs(documents - threshold.documents) > STALE * max(threshold.documents, 1):
            return None
    return threshold


def save(index: Index, threshold: Threshold) -> None:
    """Written whole or not at all (a rename), by a reader as well as a writer."""
    path = index.dir / THRESHOLD_FILE
    tmp = path.with_name(f"{THRESHOLD_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(threshold.to_json(), indent=2) + "\n")
    os.replace(tmp, path)


def threshold_for(index: Index) -> Threshold:
    """The index's threshold: stored, or calibrated from its distribution now (and stored)."""
    threshold = load(index)
    if threshold is None:
        threshold = calibrate_distribution(index)
        try:
            save(index, threshold)
        except OSError:
            pass  # a read-only index home: calibrate again next time
    return threshold


# --- labelled pairs ------------------------------------------------------------------------

_SIDES = (("a", "b"), ("text1", "text2"), ("query", "text"))


@dataclass(frozen=True)
class PairsCalibration:
    threshold: Threshold
    fit: PairFit
    pairs: int
    skipped: tuple[str, ...]  # one line each: "line 7: no label"


def read_pairs(path: str | os.PathLike[str]) -> tuple[list[tuple[str, str, int]], list[str]]:
    """Labelled pairs from JSONL: ``{"a", "b", "label"}`` (also ``text1``/``text2``, or a training
    file's ``query``/``text``); each side a document id of the index or a text. Bad lines are
    returned as one-line reasons, never raised."""
    rows, bad = [], []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad.append(f"line {n}: broken JSON")
            continue
        keys = next((k for k in _SIDES if isinstance(row, dict) and k[0] in row and k[1] in row), None)
        label = row.get("label") if isinstance(row, dict) else None
        if keys is None:
            bad.append(f"line {n}: no pair (a and b, text1 and text2, or query and text)")
        elif isinstance(label, bool) or label not in (0, 1):
            bad.append(f"line {n}: label must be 0 or 1, not {label!r}")
        elif not all(isinstance(row[k], str) and row[k].strip() for k in keys):
            bad.append(f"line {n}: an empty side")
        else:
            rows.append((row[keys[0]], row[keys[1]], int(label)))
    return rows, bad


def calibrate_pairs(index: Index, path: str | os.PathLike[str], encoder: Any = None, seed: int = 0) -> PairsCalibration:
    """The threshold from labelled pairs (held-out figures in ``fit``); sides that are document ids
    of the index use its stored vectors, other sides are embedded with its document side."""
    from .encoders import load_encoder
    from .similar import embed_text

    rows, bad = read_pairs(path)
    if not rows:
        raise DataError(f"no usable pair in {path}" + (f" ({bad[0]})" if bad else ""))
    known = load_docs(index, {x for a, b, _ in rows for x in (a, b)})
    needs_model = any(x not in known for a, b, _ in rows for x in (a, b))
    if needs_model and encoder is None:
        s = index.settings
        encoder = load_encoder(index.model, s.device, s.batch_size, s.backend)

    def side(value: str) -> DocChunks:
        return known[value] if value in known else embed_text(index, value, value[:60], encoder=encoder)

    scores = pair_scores([side(a) for a, _, _ in rows], [side(b) for _, b, _ in rows])
    fit = from_pairs(scores, [y for _, _, y in rows], seed=seed)
    figures = {"accuracy": fit.accuracy, "precision": fit.precision, "recall": fit.recall,
               "held_out": float(fit.held_out), "train": float(fit.train), "train_accuracy": fit.train_accuracy}
    threshold = Threshold(round(fit.threshold, 4), "pairs", index.meta.fingerprint, index.manifest.totals()[1],
                          AGGREGATION, time.time(), figures)
    return PairsCalibration(threshold, fit, len(rows), tuple(bad))
