"""openvino-int8 on the real model: NNCF quantizes it on the user's chunks, once, checked against
fp32; it joins another backend's index only by the agreement rule; ``auto`` picks OpenVINO where its
vectors are torch fp32's."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from docsearch.encoders import int8 as int8_module
from docsearch.encoders import load_encoder, resolve_backend
from docsearch.model import ModelDir

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="nncf is not installed")]

SCIFACT = Path(__file__).parents[3] / "shared" / "datasets" / "scifact" / "corpus.jsonl"
TEXTS = [
    "Tomato plants need staking and deep watering twice a week.",
    "A reflecting telescope gathers faint starlight with a curved mirror.",
    "Routers forward packets between networks using routing tables.",
    "Vitamin D deficiency raises the risk of fractures in older adults. " * 8,
]


def chunks(n: int) -> list[str]:
    """Real abstracts when the data set is here, else varied sentences: calibration wants the user's text."""
    if SCIFACT.is_file():
        with open(SCIFACT) as fh:
            return [(r := json.loads(line))["title"] + "\n\n" + r["text"] for line, _ in zip(fh, range(n), strict=False)]
    return [f"{t} Note {i} on subject {i % 7}." for i in range(n) for t in TEXTS][:n]


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("model") / "minilm"
    shutil.copytree(ModelDir.resolve("all-MiniLM-L6-v2").path, target, ignore=shutil.ignore_patterns("docsearch-export"))
    return str(target)


@pytest.fixture(scope="module")
def quantized(model_copy: str) -> object:
    """One quantization for the module: an encoder calibrated on 120 abstracts."""
    encoder = load_encoder(model_copy, "cpu", backend="openvino-int8")
    encoder.calibrate(chunks(120))  # type: ignore[attr-defined]
    return encoder


def test_int8_is_calibrated_on_the_chunks_cached_and_agrees_with_fp32(model_copy: str, quantized: object) -> None:
    made = quantized.int8  # type: ignore[attr-defined]
    assert made.texts > 0 and made.cosine_min >= int8_module.INT8_FLOOR
    assert made.xml.parent == Path(model_copy) / "docsearch-export" and made.xml.with_suffix(".bin").is_file()
    reference = load_encoder(model_copy, "cpu", backend="torch-fp32").encode_documents(TEXTS)
    vectors = quantized.encode_documents(TEXTS)  # type: ignore[attr-defined]
    assert np.min(np.sum(vectors * reference, axis=1)) >= int8_module.INT8_FLOOR
    # A second encoder (the next run) reuses the cached model, whatever texts it is offered.
    again = load_encoder(model_copy, "cpu", backend="openvino-int8")
    again.calibrate(chunks(200)[150:])  # type: ignore[attr-defined]
    assert again.int8.xml == made.xml  # type: ignore[attr-defined]
    assert np.allclose(again.encode_documents(TEXTS), vectors, atol=1e-5)
    assert len(list(made.xml.parent.glob("*-ov-int8-*.xml"))) == 1


def test_int8_joins_another_backends_index_only_by_the_rule(
    model_copy: str, quantized: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docsearch.indexer
    from docsearch.encoders.base import AGREEMENT, agreement
    from docsearch.errors import ModelMismatchError
    from docsearch.index import read_meta
    from docsearch.indexer import index_paths
    from docsearch.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(TEXTS[0])
    base = Settings(home=tmp_path / "home", index="mixed", model=model_copy)
    index_paths(base.with_flags(backend="torch-fp32"), [docs])
    low = agreement(load_encoder(model_copy, "cpu", backend="torch-fp32"), quantized)  # type: ignore[arg-type]
    strict = max(low, AGREEMENT) + 1e-4  # a bar int8 misses: refused in one line naming both backends
    monkeypatch.setattr(docsearch.indexer, "AGREEMENT", strict)
    (docs / "b.txt").write_text(TEXTS[1])
    with pytest.raises(ModelMismatchError, match=r"'torch-fp32'.*'openvino-int8'.*--backend torch-fp32"):
        index_paths(base.with_flags(backend="openvino-int8"), [docs])
    assert read_meta(base.index_dir).embedders == ("torch-fp32",)
    monkeypatch.setattr(docsearch.indexer, "AGREEMENT", AGREEMENT)
    if low >= AGREEMENT:  # today's rule: admitted when it agrees on the probe texts
        index_paths(base.with_flags(backend="openvino-int8"), [docs])
        assert read_meta(base.index_dir).embedders == ("torch-fp32", "openvino-int8")


def test_auto_picks_openvino_where_it_gives_torch_fp32s_vectors(model_copy: str, tmp_path: Path) -> None:
    from docsearch.index import read_meta
    from docsearch.indexer import index_paths
    from docsearch.settings import Settings

    chosen = resolve_backend(model_copy, "cpu")
    verdict = json.loads(next((Path(model_copy) / "docsearch-export").glob("auto-*.json")).read_text())
    assert chosen == verdict["backend"] == ("openvino" if verdict["cosine_min"] >= 0.9999 else "torch")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(TEXTS[0])
    old = Settings(home=tmp_path / "home", index="old", model=model_copy, backend="torch")
    index_paths(old, [docs])  # an index made before auto existed, by torch
    (docs / "b.txt").write_text(TEXTS[1])
    report = index_paths(old.with_flags(backend="auto"), [docs])  # keeps accepting updates
    assert report.indexed == 1
    assert read_meta(old.index_dir).embedders == tuple(dict.fromkeys(("torch", chosen)))
    fresh = Settings(home=tmp_path / "home", index="new", model=model_copy)
    index_paths(fresh, [docs])
    assert read_meta(fresh.index_dir).embedder == chosen
