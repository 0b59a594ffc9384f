"""What the learning command prints: which (epoch, mix) was taken and why, whether or not it won."""

from __future__ import annotations

import io

from rich.console import Console

from docsearch.cli.learn import print_learning
from docsearch.learn import LearnReport
from docsearch.learn.guard import Verdict, compare


def report(accepted: bool, best: tuple[int, float] | None) -> LearnReport:
    before = {f"q{i}": {"ndcg@10": 0.5, "mrr@10": 0.5} for i in range(6)}
    after = {q: {"ndcg@10": 0.6 if accepted else 0.4, "mrr@10": 0.5} for q in before}
    return LearnReport(index="notes", base="m", judgements=60, queries=6, scheme="5-fold cross-validation",
                       verdict=Verdict(accepted, "why", "how sure"), comparison=compare(before, after),
                       epoch=1, alpha=0.25, best=best)


def printed(r: LearnReport) -> str:
    out = io.StringIO()
    print_learning(Console(file=out, width=200), r, "notes", None, asked_to_apply=False)
    return out.getvalue()


def test_a_smaller_change_than_the_best_is_named_with_the_best_point() -> None:
    for accepted in (True, False):
        text = printed(report(accepted, best=(2, 1.0)))
        assert "chosen: epoch 1, mix 0.25" in text and "best point (epoch 2, mix 1)" in text
    assert "chosen:" not in printed(report(True, best=None))
    assert "nothing changed" in printed(report(False, best=(2, 1.0)))
