"""Encoder backends agree with torch fp32, and exports are cached and reused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from docsearch.backends import export_onnx, token_batches
from docsearch.encoders import load_encoder, load_query_encoder, model_fingerprint, resolve_model

pytestmark = pytest.mark.slow

TEXTS = [
    "Tomato plants need staking and deep watering twice a week.",
    "A reflecting telescope gathers faint starlight with a curved mirror.",
    "Routers forward packets between networks using routing tables.",
    "Vitamin D deficiency raises the risk of fractures in older adults. " * 8,
]


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A private copy of the base model, so exports land in a temporary folder."""
    target = tmp_path_factory.mktemp("model") / "minilm"
    shutil.copytree(resolve_model("all-MiniLM-L6-v2"), target, ignore=shutil.ignore_patterns("docsearch-export"))
    return str(target)


@pytest.fixture(scope="module")
def reference(model_copy: str) -> np.ndarray:
    return load_encoder(model_copy, "cpu", backend="torch-fp32").encode_documents(TEXTS)


@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-int8", "openvino"])
def test_backends_agree_with_torch_fp32(model_copy: str, reference: np.ndarray, backend: str) -> None:
    encoder = load_encoder(model_copy, "cpu", backend=backend)
    vectors = encoder.encode_documents(TEXTS)
    assert vectors.shape == reference.shape
    assert np.min(np.sum(vectors * reference, axis=1)) > 0.99
    assert encoder.fingerprint == model_fingerprint(model_copy)  # the export cache is not a new model


def test_export_is_cached_and_reused(model_copy: str) -> None:
    fingerprint = model_fingerprint(model_copy)
    first = export_onnx(Path(model_copy), fingerprint)
    stamp = first.stat().st_mtime_ns
    again = export_onnx(Path(model_copy), fingerprint)
    assert again == first and again.stat().st_mtime_ns == stamp
    assert first.parent == Path(model_copy) / "docsearch-export"


def test_query_encoder_matches_the_document_side(model_copy: str, reference: np.ndarray) -> None:
    encoder = load_query_encoder(model_copy, "cpu")
    assert np.min(np.sum(encoder.encode_queries(TEXTS) * reference, axis=1)) > 0.999


def test_token_batches_sort_by_length_and_respect_the_budget() -> None:
    ids = [[1] * n for n in (5, 40, 3, 12, 40, 7)]
    seen = []
    for index, tokens, mask in token_batches(ids, budget=48):
        assert tokens.shape[0] * tokens.shape[1] <= 48 or tokens.shape[0] == 1
        assert (mask.sum(axis=1) == [len(ids[i]) for i in index]).all()
        seen.extend(index.tolist())
    assert sorted(seen) == list(range(len(ids)))
    assert [len(ids[i]) for i in seen] == sorted(len(x) for x in ids)
