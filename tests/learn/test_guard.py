"""The pure parts of learning: reading the session's judgements, the folds, the choice of mix, the
verdict and its plain words, and WiSE-FT's interpolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docsearch.learn import read_feedback
from docsearch.learn.feedback import TrainingSet, text_id
from docsearch.learn.guard import (
    FORGET,
    LARGE,
    LARGE_FOLDS,
    MIN_HELD_OUT,
    Comparison,
    best,
    choose,
    compare,
    confidence,
    folds,
    judge,
    paired_error,
)


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_the_last_judgement_of_a_result_wins_and_bad_lines_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "feedback.jsonl", [
        {"query": "q1", "doc": "a", "text": "A text", "label": 0},
        {"query": "q1", "doc": "b", "text": "B text", "label": 0},
        {"query": "q1", "doc": "a", "text": "A text", "label": 1},  # changed their mind
        {"query": "q2", "doc": "c", "text": "C text", "label": 0},
        {"query": "q3", "doc": "d", "label": 1},  # no text: read from the index
        '{"query": "q4", "doc": "e", "te',  # cut short by a crash
        {"query": "q5", "doc": "f", "text": "x", "label": "maybe"},
        {"query": "", "doc": "g", "text": "x", "label": 1},
    ])
    judgements = read_feedback(path, resolve_doc={"d": "D from the index"}.get)
    assert judgements.rows == 5 and judgements.count == 4
    assert [j.relevant for j in judgements.by_query["q1"].values()] == [False, True]  # b, then a (last)
    assert judgements.by_query["q3"]["d"].text == "D from the index"
    assert judgements.scorable() == ["q1", "q3"]
    assert judgements.qrels(["q1"]) == {"q1": {"b": 0, "a": 1}}
    assert len(judgements.warnings) == 3 and "feedback.jsonl:6: invalid JSON" in judgements.warnings[0]
    assert read_feedback(tmp_path / "none.jsonl").count == 0


def test_a_fold_holds_nothing_of_its_held_out_queries(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", [
        {"query": "q1", "doc": "a", "text": "A", "label": 1}, {"query": "q1", "doc": "b", "text": "B", "label": 0},
        {"query": "q2", "doc": "c", "text": "C", "label": 1}, {"query": "q3", "doc": "d", "text": "D", "label": 0},
    ])
    training = TrainingSet(read_feedback(path), filler=["F1", "F2"])
    data, train_q = training.fold(["q2"])
    assert train_q == ["q1", "q3"]  # q3 has only bad results: pair losses still use it
    assert data.positives == {"q1": (text_id("A"),)} and data.negatives == {"q1": (text_id("B"),), "q3": (text_id("D"),)}
    assert text_id("C") not in data.corpus and {text_id("F1"), text_id("F2")} <= set(data.corpus)


def test_folds_cover_every_query_once_and_many_queries_get_fewer_folds() -> None:
    queries = [f"q{i}" for i in range(23)]
    held = folds(queries, 5, seed=1)
    assert len(held) == 5 and sorted(q for f in held for q in f) == sorted(queries)
    assert folds(queries, 5, seed=1) == held and folds(queries, 5, seed=2) != held
    assert len(folds(queries[:3], 5)) == 3
    many = [f"q{i}" for i in range(LARGE + 2)]
    held = folds(many)
    assert len(held) == LARGE_FOLDS and sorted(q for f in held for q in f) == sorted(many)
    assert len(folds(many[: LARGE - 1])) == 5


def scores(*ndcg: float, mrr: float = 0.5) -> dict[str, dict[str, float]]:
    return {f"q{i}": {"ndcg@10": v, "mrr@10": mrr} for i, v in enumerate(ndcg)}


def test_the_best_mix_wins_and_ties_go_to_the_smaller_change() -> None:
    grid = {(1, 0.5): scores(0.55, 0.55), (1, 1.0): scores(0.7, 0.5), (2, 0.25): scores(0.7, 0.5), (2, 1.0): scores(0.4, 0.4)}
    assert best(grid) == (1, 1.0)  # (1, 1.0) and (2, 0.25) tie: the earlier epoch
    grid[(2, 0.25)] = scores(0.7, 0.5, mrr=0.6)
    assert best(grid) == (2, 0.25)  # MRR breaks the tie


def test_the_smallest_change_the_judgements_cannot_tell_from_the_best_is_chosen() -> None:
    steady = {(1, 0.25): scores(*[0.5] * 20), (1, 1.0): scores(*[0.6] * 20), (2, 1.0): scores(*[0.7] * 20)}
    assert choose(steady) == (2, 1.0)  # better on every query: no doubt
    # the best point wins by 0.005 on average, up on some queries and down on others: within its noise
    noisy = {(1, 0.25): scores(*[0.5] * 20), (2, 0.5): scores(*[0.4, 0.6] * 10),
             (2, 1.0): scores(*[0.3, 0.71] * 10)}
    assert best(noisy) == (2, 1.0) and choose(noisy) == (1, 0.25)
    assert paired_error(noisy[(2, 1.0)], noisy[(1, 0.25)]) > 0.005
    assert paired_error(steady[(2, 1.0)], steady[(1, 0.25)]) == pytest.approx(0.0)


def test_the_verdict_says_why_in_numbers_and_how_sure_in_words() -> None:
    before = scores(*[0.5] * 30)
    better = compare(before, scores(*[0.7] * 24, *[0.4] * 3, *[0.5] * 3))
    assert (better.better, better.worse, better.same) == (24, 3, 3) and better.p_value < 0.001
    verdict = judge(better, own=(0.9, 0.9 - FORGET / 2))
    assert verdict.accepted and "0.500 -> 0.650" in verdict.reason and "unlikely to be chance" in verdict.confidence
    forgot = judge(better, own=(0.9, 0.8))
    assert not forgot.accepted and "forget" in forgot.reason and "0.900 -> 0.800" in forgot.reason
    worse = judge(compare(before, scores(*[0.5] * 29, 0.4)))
    assert not worse.accepted and "does not beat" in worse.reason
    same = judge(compare(before, before))
    assert not same.accepted and "could be chance" in same.confidence
    lower_mrr = judge(compare(before, scores(*[0.6] * 30, mrr=0.4)))
    assert not lower_mrr.accepted and "first relevant result lower" in lower_mrr.reason
    few = compare(scores(0.5, 0.5, 0.5), scores(0.9, 0.9, 0.9))
    assert few.queries < MIN_HELD_OUT and not judge(few).accepted and "too few" in judge(few).reason
    small = compare(scores(*[0.5] * 8), scores(*[0.6] * 8))
    assert judge(small).accepted and "unlikely to be chance" in confidence(small) and "small sample" in confidence(small)
    assert Comparison(0, {}, {}, 0, 0, 0).p_value == 1.0


def test_wise_ft_interpolates_floating_weights_only() -> None:
    torch = pytest.importorskip("torch")
    from docsearch.learn.fit import interpolate

    base = {"w": torch.zeros(3), "ids": torch.arange(3)}
    tuned = {"w": torch.ones(3) * 2, "ids": torch.arange(3) + 5}
    assert interpolate(base, tuned, 0.0)["w"].tolist() == [0.0] * 3
    assert interpolate(base, tuned, 1.0)["w"].tolist() == [2.0] * 3
    mixed = interpolate(base, tuned, 0.25)
    assert mixed["w"].tolist() == [0.5] * 3 and mixed["ids"].tolist() == [0, 1, 2]
