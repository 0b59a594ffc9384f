"""``--loss`` to a sentence-transformers loss, and the batch sampler that loss wants.

Every loss measures cosine distance ``d = 1 - cos``, because the saved models are L2-normalised
and the index scores by cosine: training on the same geometry as search. These are the
library's own losses, so their reductions are the library's: contrastive is
``0.5 * (y d^2 + (1-y) relu(m-d)^2)`` averaged over pairs, online contrastive sums its hard
pairs, triplet averages ``relu(d(q,p) - d(q,n) + m)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import IN_BATCH_LOSSES, TrainConfig

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn

# mnrl and cached-mnrl rank both ways, as docsearch's own loss did before the move to the library:
# each query picks its positive among all the batch's documents, and each positive picks its query
# among the batch's queries; the two cross-entropies are averaged.
MNRL_DIRECTIONS = ("query_to_doc", "doc_to_query")


def make_loss(config: TrainConfig, model: SentenceTransformer, world_size: int = 1) -> nn.Module:
    """The library loss for ``config.loss``, with the configured margin or scale.

    With several processes the ranking losses gather every process's embeddings, so each query
    still meets the whole global batch as negatives rather than only its own process's share.
    """
    from sentence_transformers.sentence_transformer import losses

    margin = config.resolved_margin
    if config.loss in IN_BATCH_LOSSES:
        common = {
            "scale": config.scale,
            "directions": MNRL_DIRECTIONS,
            "partition_mode": "per_direction",
            "gather_across_devices": world_size > 1,
        }
        if config.loss == "cached-mnrl":
            return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size, **common)
        return losses.MultipleNegativesRankingLoss(model, **common)
    assert margin is not None  # every other loss has a default margin
    if config.loss == "contrastive":
        return losses.ContrastiveLoss(model, distance_metric=losses.SiameseDistanceMetric.COSINE_DISTANCE, margin=margin)
    if config.loss == "online-contrastive":
        return losses.OnlineContrastiveLoss(model, distance_metric=losses.SiameseDistanceMetric.COSINE_DISTANCE, margin=margin)
    return losses.TripletLoss(model, distance_metric=losses.TripletDistanceMetric.COSINE, triplet_margin=margin)


def batch_sampler(loss: str) -> str:
    """NO_DUPLICATES for in-batch negatives (a repeated text would be a false negative for its
    twin); plain shuffled batches for pair and triplet losses, where a query's positive and
    negatives may well share a batch."""
    from sentence_transformers.base.sampler import BatchSamplers

    return BatchSamplers.NO_DUPLICATES if loss in IN_BATCH_LOSSES else BatchSamplers.BATCH_SAMPLER
