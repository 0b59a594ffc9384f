"""Training losses over sentence embeddings, small enough to check by hand.

Every loss takes embeddings (not texts), so a test can feed a few hand-made
vectors and compare with a computation on paper. Distances are cosine
distances, ``d = 1 - cos``, because the saved models are L2-normalised and the
index scores by cosine: training on the same geometry as search.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Default margins (cosine-distance units) live in docsearch.train.DEFAULT_MARGINS,
# which imports no torch so that the CLI can show them; the literals below match.


def cosine_distance(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise ``1 - cos(a_i, b_i)``."""
    return 1.0 - F.cosine_similarity(a, b, dim=-1)


class ContrastiveLoss(nn.Module):
    """Hadsell et al. 2006 on cosine distance: ``y*d^2 + (1-y)*max(0, m-d)^2``, mean over pairs."""

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, a: Tensor, b: Tensor, labels: Tensor) -> Tensor:
        d = cosine_distance(a, b)
        y = labels.to(d.dtype)
        return (y * d.pow(2) + (1 - y) * F.relu(self.margin - d).pow(2)).mean()


class OnlineContrastiveLoss(nn.Module):
    """Contrastive loss on the hard pairs of the batch only.

    Hard positives lie farther apart than the closest negative; hard negatives
    lie closer than the farthest positive. With only one kind of pair in the
    batch, that kind's own mean distance is the threshold. The loss is the mean
    over the selected pairs (zero, with a gradient path, when none is hard).
    """

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, a: Tensor, b: Tensor, labels: Tensor) -> Tensor:
        d = cosine_distance(a, b)
        pos, neg = d[labels == 1], d[labels == 0]
        hard_pos = pos[pos > (neg.min() if len(neg) else pos.mean())]
        hard_neg = neg[neg < (pos.max() if len(pos) else neg.mean())]
        terms = torch.cat([hard_pos.pow(2), F.relu(self.margin - hard_neg).pow(2)])
        return terms.mean() if len(terms) else d.sum() * 0.0


class TripletLoss(nn.Module):
    """``max(0, d(q,p) - d(q,n) + m)`` on cosine distance, mean over triplets."""

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, q: Tensor, p: Tensor, n: Tensor) -> Tensor:
        return F.relu(cosine_distance(q, p) - cosine_distance(q, n) + self.margin).mean()


class MultipleNegativesRankingLoss(nn.Module):
    """In-batch negatives, symmetric (van den Oord et al. 2018; Henderson et al. 2017).

    Query i must pick its positive p_i among all positives of the batch plus
    the extra negatives ``n`` (shared by every query), by softmax over
    ``scale * cos``; and, the other way round, p_i must pick q_i among the
    batch's queries. The two cross-entropies are averaged.

    ``exclude`` (rows = queries, columns = the candidates ``[p; n]``), when
    given, masks candidates that are not negatives for that query (another
    copy of one of its positives): they take no part in its softmax. The
    backward direction masks ``exclude[:, :B]`` transposed.
    """

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, q: Tensor, p: Tensor, n: Tensor | None = None, exclude: Tensor | None = None) -> Tensor:
        docs = p if n is None or len(n) == 0 else torch.cat([p, n])
        qn, dn = F.normalize(q, dim=-1), F.normalize(docs, dim=-1)
        scores = self.scale * qn @ dn.T  # (B, B + M)
        target = torch.arange(len(q), device=q.device)
        back = scores[:, : len(q)].T  # (B, B): positive i against every query
        if exclude is not None:
            exclude = exclude.clone()
            exclude[target, target] = False  # a query's own positive is never masked
            scores = scores.masked_fill(exclude, float("-inf"))
            back = back.masked_fill(exclude[:, : len(q)].T, float("-inf"))
        return (F.cross_entropy(scores, target) + F.cross_entropy(back, target)) / 2
