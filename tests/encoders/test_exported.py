"""Encoder backends agree with torch fp32, and exports are cached and reused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from docsearch.encoders import load_encoder, load_query_encoder
from docsearch.encoders.base import token_batches
from docsearch.encoders.exported import export_onnx
from docsearch.model import ModelDir

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
    shutil.copytree(ModelDir.resolve("all-MiniLM-L6-v2").path, target, ignore=shutil.ignore_patterns("docsearch-export"))
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
    assert encoder.fingerprint == ModelDir.resolve(model_copy).fingerprint  # the export cache is not a new model


def test_export_is_cached_and_reused(model_copy: str) -> None:
    first = export_onnx(ModelDir.resolve(model_copy))
    stamp = first.stat().st_mtime_ns
    again = export_onnx(ModelDir.resolve(model_copy))
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


def test_a_second_backend_joins_an_index_only_if_its_vectors_agree(
    model_copy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docsearch.indexer
    from docsearch.errors import ModelMismatchError
    from docsearch.indexer import index_paths
    from docsearch.meta import read_meta
    from docsearch.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(TEXTS[0])
    base = Settings(home=tmp_path / "home", index="mixed", model=model_copy)
    index_paths(base.with_flags(backend="torch-fp32"), [docs])
    (docs / "b.txt").write_text(TEXTS[1])
    index_paths(base.with_flags(backend="onnx"), [docs])
    meta = read_meta(base.index_dir)
    assert meta.embedder == "torch-fp32" and meta.embedders == ("torch-fp32", "onnx")
    # A stricter bar than onnx-int8 meets: refused in one line naming both backends, nothing embedded.
    monkeypatch.setattr(docsearch.indexer, "AGREEMENT", 0.99999)
    (docs / "c.txt").write_text(TEXTS[2])
    with pytest.raises(ModelMismatchError, match=r"'torch-fp32'.*'onnx-int8'.*--backend torch-fp32"):
        index_paths(base.with_flags(backend="onnx-int8"), [docs])
    assert read_meta(base.index_dir).embedders == ("torch-fp32", "onnx")


def test_eval_compares_backends_side_by_side(model_copy: str, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from docsearch.cli import app

    tiny = Path(__file__).parents[1] / "data" / "beir_tiny"
    args = ["eval", str(tiny), "--model", model_copy, "--home", str(tmp_path), "--mode", "dense",
            "--backend", "torch-fp32", "--backend", "onnx-int8", "--latency-queries", "0", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [r["backend"] for r in rows] == ["torch-fp32", "onnx-int8"]
    assert rows[0]["index"] != rows[1]["index"] and rows[1]["index"].endswith("-onnx-int8")
    # int8 vectors keep the ranking on these easy queries; the table shows both, one per row.
    assert abs(rows[0]["ndcg@10"] - rows[1]["ndcg@10"]) < 0.05 and rows[0]["ndcg@10"] > 0.8
    table = CliRunner().invoke(app, args[:-1])
    assert table.exit_code == 0 and "backend" in table.stdout and "onnx-int8" in table.stdout
