"""metrics.score against an independent implementation (ranx) and a few hand-computed cases."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from docsearch.eval.metrics import score

NAMES = ("ndcg@10", "mrr@10", "recall@100", "map@100")
# ranx's ndcg kernel casts its cut-off while numba compiles it; harmless for cut-offs this small.
pytestmark = pytest.mark.filterwarnings("ignore:unsafe cast from uint64 to int64")


def _random_case(seed: int, graded: bool) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """Several queries over a shared pool; scores are distinct, so no tie-breaking rule is exercised."""
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(300)]
    run: dict[str, dict[str, float]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for q in range(12):
        qid = f"q{q}"
        docs = rng.sample(pool, rng.randint(5, 150))
        scores = rng.sample(range(100_000), len(docs))  # distinct
        run[qid] = {d: s / 1000.0 for d, s in zip(docs, scores, strict=False)}
        # Judged documents: some retrieved, some not, some judged non-relevant (0).
        judged = rng.sample(docs, min(len(docs), rng.randint(1, 6))) + rng.sample(pool, 3)
        grades = [rng.choice((0, 1, 2, 3)) if graded else rng.choice((0, 1, 1)) for _ in judged]
        grades[0] = max(grades[0], 1)  # every query has a relevant document: ranx averages over all of them
        qrels[qid] = dict(zip(judged, grades, strict=False))
    return run, qrels


def _ranx_score(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], k: int, deep: int) -> dict[str, float]:
    """The same means from ranx's metric kernels (trec_eval's definitions, Järvelin nDCG).

    Called on ranx's array form directly, not through ``ranx.evaluate``: its Run/Qrels
    containers cost ~40 s of numba compilation on a cold cache, the kernels ~13 s. A slip
    in building the arrays (say, qrels not best first) changes ranx's figures, so it fails
    loudly here; the hand-computed cases below pin the absolute values.
    """
    ranx = pytest.importorskip("ranx.metrics")
    from numba.typed import List

    ids: dict[str, float] = {}

    def rows(pairs: dict[str, float] | dict[str, int]) -> np.ndarray:
        ranked = sorted(pairs.items(), key=lambda x: -x[1])  # qrels by grade, run by score: both best first
        return np.array([[ids.setdefault(d, float(len(ids))), float(v)] for d, v in ranked], dtype=np.float64)

    qids = [q for q in qrels if any(r > 0 for r in qrels[q].values())]
    rel, ret = List([rows(qrels[q]) for q in qids]), List([rows(run[q]) for q in qids])
    means = [ranx.ndcg(rel, ret, k), ranx.reciprocal_rank(rel, ret, k), ranx.recall(rel, ret, deep),
             ranx.average_precision(rel, ret, deep)]
    names = (f"ndcg@{k}", f"mrr@{k}", f"recall@{deep}", f"map@{deep}")
    return {name: float(np.mean(values)) for name, values in zip(names, means, strict=True)}


@pytest.mark.parametrize("graded", [False, True], ids=["binary", "graded"])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.slow
def test_score_matches_ranx(seed: int, graded: bool) -> None:
    run, qrels = _random_case(seed, graded)
    ours, theirs = score(run, qrels, k=10, deep=100), _ranx_score(run, qrels, 10, 100)
    for name in NAMES:
        assert ours[name] == pytest.approx(theirs[name], abs=1e-9), name


def test_score_matches_ranx_at_other_cutoffs() -> None:
    run, qrels = _random_case(7, graded=True)
    assert score(run, qrels, k=5, deep=20) == pytest.approx(_ranx_score(run, qrels, 5, 20), abs=1e-9)


def test_hand_computed_graded_query() -> None:
    # Ranked: a (rel 2), x (0), b (rel 1); c (rel 1) never retrieved.
    run = {"q": {"a": 3.0, "x": 2.0, "b": 1.0}}
    qrels = {"q": {"a": 2, "b": 1, "c": 1}}
    got = score(run, qrels, k=10, deep=100)
    dcg = 2 / math.log2(2) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert got["ndcg@10"] == pytest.approx(dcg / idcg)
    assert got["mrr@10"] == 1.0
    assert got["recall@100"] == pytest.approx(2 / 3)
    assert got["map@100"] == pytest.approx((1 / 1 + 2 / 3) / 3)


def test_cutoffs_and_unjudged_queries() -> None:
    run = {"q1": {f"d{i}": float(100 - i) for i in range(20)}, "q2": {"z": 1.0}}
    # q1's only relevant document sits at rank 12: outside @10, inside @100. q3 has no relevant document.
    qrels = {"q1": {"d11": 1}, "q2": {"y": 1}, "q3": {"w": 0}}
    got = score(run, qrels, k=10, deep=100)
    assert got["ndcg@10"] == 0.0 and got["mrr@10"] == 0.0
    assert got["recall@100"] == pytest.approx(0.5)  # mean over q1 and q2 only: q3 is left out
    assert got["map@100"] == pytest.approx((1 / 12) / 2)


def test_missing_run_and_empty_qrels() -> None:
    assert score({}, {"q": {"d": 1}})["ndcg@10"] == 0.0
    assert score({"q": {"d": 1.0}}, {}) == dict.fromkeys(NAMES, 0.0)


def test_ties_broken_by_doc_id_descending_as_trec_eval() -> None:
    run = {"q": {"a": 1.0, "b": 1.0}}
    assert score(run, {"q": {"b": 1}})["mrr@10"] == 1.0
    assert score(run, {"q": {"a": 1}})["mrr@10"] == 0.5
