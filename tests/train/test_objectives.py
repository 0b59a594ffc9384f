"""Each ``--loss`` is sentence-transformers' own loss, on cosine distance, with docsearch's margin or scale."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")

from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer import losses

from docsearch.train import DEFAULT_MARGINS, LOSSES, TrainConfig
from docsearch.train.objectives import MNRL_DIRECTIONS, batch_sampler, make_loss


@pytest.fixture(scope="module")
def model(tiny_model: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_model), device="cpu")


def config(tmp_path: Path, **kw) -> TrainConfig:
    return TrainConfig(data=tmp_path, out=tmp_path / "o", **kw)


def test_every_loss_maps_to_a_library_loss(tmp_path: Path, model) -> None:
    expected = {
        "mnrl": losses.MultipleNegativesRankingLoss,
        "cached-mnrl": losses.CachedMultipleNegativesRankingLoss,
        "contrastive": losses.ContrastiveLoss,
        "online-contrastive": losses.OnlineContrastiveLoss,
        "triplet": losses.TripletLoss,
    }
    assert set(expected) == set(LOSSES)
    for name, cls in expected.items():
        loss = make_loss(config(tmp_path, loss=name), model)
        assert type(loss) is cls and loss.model is model


def test_margins_are_cosine_distances_with_docsearch_defaults(tmp_path: Path, model) -> None:
    cosine = losses.SiameseDistanceMetric.COSINE_DISTANCE
    for name in ("contrastive", "online-contrastive"):
        loss = make_loss(config(tmp_path, loss=name), model)
        assert loss.margin == DEFAULT_MARGINS[name] == 0.5 and loss.distance_metric is cosine
        assert make_loss(config(tmp_path, loss=name, margin=0.3), model).margin == 0.3
    triplet = make_loss(config(tmp_path, loss="triplet"), model)
    assert triplet.triplet_margin == DEFAULT_MARGINS["triplet"] == 0.2
    assert triplet.distance_metric is losses.TripletDistanceMetric.COSINE
    assert make_loss(config(tmp_path, loss="triplet", margin=0.1), model).triplet_margin == 0.1


def test_ranking_losses_are_symmetric_with_the_configured_scale(tmp_path: Path, model) -> None:
    mnrl = make_loss(config(tmp_path, loss="mnrl", scale=15.0), model)
    assert mnrl.scale == 15.0 and tuple(mnrl.directions) == MNRL_DIRECTIONS and mnrl.partition_mode == "per_direction"
    assert not mnrl.gather_across_devices
    cached = make_loss(config(tmp_path, loss="cached-mnrl", mini_batch_size=4), model, world_size=2)
    assert cached.scale == 20.0 and cached.mini_batch_size == 4 and tuple(cached.directions) == MNRL_DIRECTIONS
    assert cached.gather_across_devices  # with several processes, negatives come from the global batch


def test_in_batch_losses_get_duplicate_free_batches() -> None:
    assert batch_sampler("mnrl") == batch_sampler("cached-mnrl") == BatchSamplers.NO_DUPLICATES
    for name in ("contrastive", "online-contrastive", "triplet"):
        assert batch_sampler(name) == BatchSamplers.BATCH_SAMPLER


def test_contrastive_loss_by_hand(tmp_path: Path, model) -> None:
    """The library's contrastive loss halves each term: 0.5 * (y d^2 + (1 - y) relu(m - d)^2), mean."""
    import math

    import torch

    def at_distance(d: float) -> list[float]:
        angle = math.acos(1.0 - d)
        return [math.cos(angle), math.sin(angle)]

    loss = make_loss(config(tmp_path, loss="contrastive"), model)
    anchors = torch.tensor([[1.0, 0.0]] * 3)
    others = torch.tensor([at_distance(0.3), at_distance(0.2), at_distance(0.8)])
    value = loss.compute_loss_from_embeddings([anchors, others], torch.tensor([1, 0, 0]))
    assert value.item() == pytest.approx(0.5 * (0.3**2 + 0.3**2 + 0.0) / 3, abs=1e-6)
