"""metrics.score against an independent implementation (ranx) and a few hand-computed cases."""

from __future__ import annotations

import math
import random

import pytest

from docsearch.metrics import score

NAMES = ("ndcg@10", "mrr@10", "recall@100", "map@100")


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


@pytest.mark.parametrize("graded", [False, True], ids=["binary", "graded"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_score_matches_ranx(seed: int, graded: bool) -> None:
    ranx = pytest.importorskip("ranx")
    run, qrels = _random_case(seed, graded)
    ours = score(run, qrels, k=10, deep=100)
    theirs = ranx.evaluate(ranx.Qrels.from_dict(qrels), ranx.Run.from_dict(run), list(NAMES))
    for name in NAMES:
        assert ours[name] == pytest.approx(theirs[name], abs=1e-9), name


def test_score_matches_ranx_at_other_cutoffs() -> None:
    ranx = pytest.importorskip("ranx")
    run, qrels = _random_case(7, graded=True)
    ours = score(run, qrels, k=5, deep=20)
    theirs = ranx.evaluate(ranx.Qrels.from_dict(qrels), ranx.Run.from_dict(run), ["ndcg@5", "mrr@5", "recall@20", "map@20"])
    assert [ours[n] for n in ("ndcg@5", "mrr@5", "recall@20", "map@20")] == pytest.approx(list(theirs.values()), abs=1e-9)


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
