"""The guard's arithmetic, pure Python: which queries are held out, which mix of weights wins, and
whether the new model beats the one in use, in numbers and in plain words.

* Held out: every judged query, by k-fold cross-validation (each query scored by a model trained
  without it): ``FOLDS`` folds, and ``LARGE_FOLDS`` from ``LARGE`` judged queries on, where each
  fold's model already trains on plenty and more folds would only cost time. Every query counts: an
  earlier version held out one 20 % split from 100 queries on, and at SciFact N = 200 its 34 held-out
  queries, 6 of which moved, could not tell a +0.042 model from a +0.022 one.
* The mix: WiSE-FT (Wortsman et al., "Robust fine-tuning of zero-shot models", 2022) interpolates
  the fine-tuned weights with the starting ones, theta = (1 - alpha) theta0 + alpha theta1. Every
  (epoch, alpha) is scored on the held-out queries of all folds (early stopping is the epoch), and
  the smallest change the judgements cannot tell from the best one wins: the "one standard error
  rule" (Breiman et al. 1984; Hastie et al., ESL 7.10), with the error paired query by query. With
  a few dozen held-out queries the best point often wins by a hair, and the largest change is the
  one that can cost most on queries nobody judged: on Cranfield N = 25 the best point (epoch 2,
  alpha 1.0, held-out +0.005 on 22 queries) lost 0.006 nDCG@10 on the test queries. alpha = 0,
  the model in use, is not in the grid: it is what the winner is compared with.
* The verdict: the new model is used only when its held-out nDCG@10 is higher, its MRR@10 not
  lower, and it still finds the index's own sentences (pseudo-queries) about as well as before:
  fitting a few dozen judgements must not cost what the model knew.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ALPHAS = (0.25, 0.5, 1.0)  # each point of the grid costs one encoding of every fold's pool
FOLDS = 5
LARGE = 100  # from this many judged queries, LARGE_FOLDS folds: six trainings of 80 % would cost 1.6x as much
LARGE_FOLDS = 3
MIN_HELD_OUT = 5  # below this, nothing can be told
FEW = 20  # below this, a gain is reported as resting on a small sample
CHANCE = 0.1  # sign-test p above this: "could be chance"
FORGET = 0.02  # the most own-sentence MRR@10 may drop
NDCG, MRR = "ndcg@10", "mrr@10"

PerQuery = Mapping[str, Mapping[str, float]]  # query -> {"ndcg@10": ..., "mrr@10": ...}


def folds(queries: Sequence[str], k: int = FOLDS, seed: int = 42) -> list[list[str]]:
    """The held-out queries of each fold: k folds (``LARGE_FOLDS`` for many queries) covering every
    query once."""
    order = sorted(queries)
    random.Random(seed).shuffle(order)
    if len(order) >= LARGE:
        k = min(k, LARGE_FOLDS)
    k = max(1, min(k, len(order)))
    return [order[i::k] for i in range(k)]


def scheme(held_out: Sequence[Sequence[str]]) -> str:
    return f"{len(held_out)}-fold cross-validation: each query scored by a model trained without it"


def mean(per_query: PerQuery, metric: str) -> float:
    return sum(m[metric] for m in per_query.values()) / len(per_query) if per_query else 0.0


def best(grid: Mapping[tuple[int, float], PerQuery]) -> tuple[int, float]:
    """The (epoch, alpha) with the best mean held-out nDCG@10, then MRR@10; ties to the smaller change."""
    def key(point: tuple[int, float]) -> tuple[float, float, int, float]:
        scores = grid[point]
        return round(mean(scores, NDCG), 9), round(mean(scores, MRR), 9), -point[0], -point[1]

    return max(grid, key=key)


def paired_error(a: PerQuery, b: PerQuery, metric: str = NDCG) -> float:
    """The standard error of the mean per-query difference between two rankings of the same queries."""
    deltas = [a[q][metric] - b[q][metric] for q in a]
    if len(deltas) < 2:
        return 0.0
    m = sum(deltas) / len(deltas)
    return math.sqrt(sum((d - m) ** 2 for d in deltas) / (len(deltas) - 1) / len(deltas))


def choose(grid: Mapping[tuple[int, float], PerQuery]) -> tuple[int, float]:
    """The smallest change (lowest alpha, then earliest epoch) whose held-out nDCG@10 is within one
    paired standard error of the best point's: what the judgements cannot tell from the best."""
    top = best(grid)
    peak = mean(grid[top], NDCG)

    def close(point: tuple[int, float]) -> bool:
        return peak - mean(grid[point], NDCG) <= paired_error(grid[top], grid[point]) + 1e-9

    return min((p for p in grid if close(p)), key=lambda p: (p[1], p[0]))


@dataclass(frozen=True)
class Comparison:
    """The model in use and the new one on the same held-out queries."""

    queries: int
    before: Mapping[str, float]
    after: Mapping[str, float]
    better: int  # queries whose nDCG@10 rose
    worse: int
    same: int

    @property
    def p_value(self) -> float:
        """Two-sided sign test over the queries that changed."""
        n, low = self.better + self.worse, min(self.better, self.worse)
        if n == 0:
            return 1.0
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(low + 1)) / 2**n)

    def gain(self, metric: str = NDCG) -> float:
        return self.after[metric] - self.before[metric]


def compare(before: PerQuery, after: PerQuery) -> Comparison:
    queries = sorted(before)
    deltas = [after[q][NDCG] - before[q][NDCG] for q in queries]
    return Comparison(
        queries=len(queries),
        before={m: mean(before, m) for m in (NDCG, MRR)},
        after={m: mean({q: after[q] for q in queries}, m) for m in (NDCG, MRR)},
        better=sum(d > 1e-9 for d in deltas),
        worse=sum(d < -1e-9 for d in deltas),
        same=sum(abs(d) <= 1e-9 for d in deltas),
    )


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str  # one sentence: why it is used, or why not
    confidence: str  # in plain words: how much the figures rest on


def judge(c: Comparison, own: tuple[float, float] | None = None) -> Verdict:
    """Whether the new model may replace the one in use. ``own``: own-sentence MRR@10 before, after."""
    words = confidence(c)
    if c.queries < MIN_HELD_OUT:
        return Verdict(False, f"only {c.queries} judged queries with a relevant result: too few to tell "
                              f"(judge at least {MIN_HELD_OUT})", words)
    figures = f"nDCG@10 {c.before[NDCG]:.3f} -> {c.after[NDCG]:.3f}, MRR@10 {c.before[MRR]:.3f} -> {c.after[MRR]:.3f}"
    if c.gain(NDCG) <= 1e-9:
        return Verdict(False, f"the new model does not beat the one in use on the held-out judgements ({figures})", words)
    if c.gain(MRR) < -1e-9:
        return Verdict(False, f"the new model ranks the first relevant result lower on the held-out judgements ({figures})",
                       words)
    if own is not None and own[1] < own[0] - FORGET:
        return Verdict(False, f"the new model would forget: it finds the index's own sentences less often "
                              f"(MRR@10 {own[0]:.3f} -> {own[1]:.3f})", words)
    return Verdict(True, f"the new model beats the one in use on the held-out judgements ({figures})", words)


def confidence(c: Comparison) -> str:
    """How much the figures rest on, in plain words: the count of queries, how many changed which way,
    whether a sign test says the difference could be chance, and whether the sample is small."""
    if c.queries < MIN_HELD_OUT:
        return f"{c.queries} held-out queries are too few to tell anything"
    counts = f"{c.queries} queries: better on {c.better}, worse on {c.worse}, unchanged on {c.same}"
    chance = (f"the difference could be chance (sign test p = {c.p_value:.2f})" if c.p_value > CHANCE
              else f"unlikely to be chance (sign test p = {c.p_value:.3f})")
    small = "; but that is a small sample: judge more queries to know it holds for others" if c.queries < FEW else ""
    return f"{counts}; {chance}{small}"
