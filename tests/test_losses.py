"""Each loss against a computation done by hand (plain math, no torch) on a tiny batch."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from docsearch.train import DEFAULT_MARGINS  # noqa: E402
from docsearch.train.losses import (  # noqa: E402
    ContrastiveLoss,
    MultipleNegativesRankingLoss,
    OnlineContrastiveLoss,
    TripletLoss,
    cosine_distance,
)

ANCHOR = [1.0, 0.0]


def at_distance(d: float, scale: float = 1.0) -> list[float]:
    """A 2-D vector whose cosine distance to ANCHOR is d (its length does not matter)."""
    angle = math.acos(1.0 - d)
    return [scale * math.cos(angle), scale * math.sin(angle)]


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64, requires_grad=True)


def test_cosine_distance_by_hand() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [1.0, 1.0]])
    got = cosine_distance(a, b).tolist()
    assert got == pytest.approx([0.0, 1.0, 2.0, 1 - 1 / math.sqrt(2)], abs=1e-6)


def test_contrastive_by_hand() -> None:
    # d = 0.3 relevant -> 0.3^2; d = 0.2 irrelevant -> (0.5 - 0.2)^2; d = 0.8 irrelevant -> beyond margin, 0
    docs = [at_distance(0.3, 2.0), at_distance(0.2), at_distance(0.8, 5.0)]
    loss = ContrastiveLoss(margin=0.5)(t([ANCHOR] * 3), t(docs), torch.tensor([1, 0, 0]))
    assert loss.item() == pytest.approx((0.3**2 + 0.3**2 + 0.0) / 3, abs=1e-9)
    loss.backward()


def test_contrastive_default_margin_matches_the_documented_one() -> None:
    assert ContrastiveLoss().margin == DEFAULT_MARGINS["contrastive"]
    assert OnlineContrastiveLoss().margin == DEFAULT_MARGINS["online-contrastive"]
    assert TripletLoss().margin == DEFAULT_MARGINS["triplet"]


def test_online_contrastive_keeps_only_hard_pairs() -> None:
    # positives at 0.1 and 0.6, negatives at 0.3 and 0.9.
    # hard positives: farther than the closest negative (0.3) -> 0.6
    # hard negatives: closer than the farthest positive (0.6) -> 0.3
    dists, labels = [0.1, 0.6, 0.3, 0.9], [1, 1, 0, 0]
    loss = OnlineContrastiveLoss(margin=0.5)(t([ANCHOR] * 4), t([at_distance(d) for d in dists]), torch.tensor(labels))
    assert loss.item() == pytest.approx((0.6**2 + (0.5 - 0.3) ** 2) / 2, abs=1e-9)


def test_online_contrastive_one_kind_only_uses_its_mean() -> None:
    # only positives, at 0.1 and 0.3: the mean (0.2) is the threshold -> only 0.3 counts
    loss = OnlineContrastiveLoss(margin=0.5)(t([ANCHOR] * 2), t([at_distance(0.1), at_distance(0.3)]), torch.tensor([1, 1]))
    assert loss.item() == pytest.approx(0.09, abs=1e-9)


def test_online_contrastive_no_hard_pair_is_zero_with_gradient() -> None:
    # the positive (0.1) is closer than the negative (0.9): nothing is hard
    a, b = t([ANCHOR] * 2), t([at_distance(0.1), at_distance(0.9)])
    loss = OnlineContrastiveLoss()(a, b, torch.tensor([1, 0]))
    assert loss.item() == 0.0
    loss.backward()  # still part of the graph
    assert a.grad is not None


def test_triplet_by_hand() -> None:
    # (d_pos 0.1, d_neg 0.2): 0.1 - 0.2 + 0.2 = 0.1;  (0.1, 0.5): negative -> 0
    q = t([ANCHOR, ANCHOR])
    p = t([at_distance(0.1), at_distance(0.1, 3.0)])
    n = t([at_distance(0.2), at_distance(0.5)])
    loss = TripletLoss(margin=0.2)(q, p, n)
    assert loss.item() == pytest.approx((0.1 + 0.0) / 2, abs=1e-9)
    loss.backward()
    assert q.grad is not None


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


def _ce(scores: list[float], target: int) -> float:
    """Cross-entropy of one row, by hand; -inf scores take no part."""
    kept = [s for s in scores if s != -math.inf]
    return -scores[target] + math.log(sum(math.exp(s) for s in kept))


def _mnrl_by_hand(q, p, n, scale, exclude=None) -> float:
    docs = p + n
    forward, backward = 0.0, 0.0
    for i, qi in enumerate(q):
        row = [scale * _cos(qi, d) for d in docs]
        if exclude:
            row = [(-math.inf if exclude[i][j] and j != i else s) for j, s in enumerate(row)]
        forward += _ce(row, i)
    for i, pi in enumerate(p):
        row = [scale * _cos(pi, qj) for qj in q]
        if exclude:
            row = [(-math.inf if exclude[j][i] and j != i else s) for j, s in enumerate(row)]
        backward += _ce(row, i)
    return (forward / len(q) + backward / len(p)) / 2


Q = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.7]]
P = [[0.9, 0.1, 0.0], [0.2, 1.0, 0.1], [0.3, 0.6, 0.9]]
N = [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def test_mnrl_in_batch_by_hand() -> None:
    loss = MultipleNegativesRankingLoss(scale=20.0)(t(Q), t(P))
    assert loss.item() == pytest.approx(_mnrl_by_hand(Q, P, [], 20.0), rel=1e-9)


def test_mnrl_with_hard_negatives_by_hand() -> None:
    loss = MultipleNegativesRankingLoss(scale=5.0)(t(Q), t(P), t(N))
    assert loss.item() == pytest.approx(_mnrl_by_hand(Q, P, N, 5.0), rel=1e-9)
    loss.backward()


def test_mnrl_exclude_masks_false_negatives_but_never_the_target() -> None:
    # query 0 has a second positive at column 1 (p_1) and at column 3 (n_0): both masked for row 0 only;
    # the diagonal is marked too but must stay.
    exclude = [[True, True, False, True, False], [False] * 5, [False] * 5]
    loss = MultipleNegativesRankingLoss(scale=5.0)(t(Q), t(P), t(N), torch.tensor(exclude))
    assert loss.item() == pytest.approx(_mnrl_by_hand(Q, P, N, 5.0, exclude), rel=1e-9)
    unmasked = MultipleNegativesRankingLoss(scale=5.0)(t(Q), t(P), t(N))
    assert loss.item() < unmasked.item()  # fewer competitors, lower loss
