"""``--backend auto``: which backend it stands for, its cached verdict, and the clean fallbacks.
No model is loaded: the model folders here are configs and a stand-in weight file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import fake_model

from docsearch.encoders import choice, load_encoder, resolve_backend
from docsearch.errors import ConfigError, ModelError
from docsearch.model import ModelDir


def no_measuring(_model: ModelDir) -> tuple[str, float | None, str]:
    raise AssertionError("must decide without loading a model")


def test_a_gpu_a_half_twin_or_other_pooling_stay_on_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice, "_measure", no_measuring)
    plain = fake_model(tmp_path / "plain")
    assert resolve_backend(plain, "cuda") == "torch"
    assert resolve_backend(fake_model(tmp_path / "twin", router=True), "cpu") == "torch"
    assert resolve_backend(fake_model(tmp_path / "cls", pooling="cls"), "cpu") == "torch"


def test_without_openvino_auto_is_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    monkeypatch.setattr(choice, "_measure", no_measuring)
    assert resolve_backend(fake_model(tmp_path / "m"), "cpu") == "torch"


def test_the_verdict_is_measured_once_then_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fake_model(tmp_path / "m")
    calls = []

    def measure(m: ModelDir) -> tuple[str, float | None, str]:
        calls.append(m)
        return "openvino", 1.0, "min cosine 1.00000 to torch fp32"

    monkeypatch.setattr(choice, "_measure", measure)
    assert resolve_backend(model, "cpu") == "openvino"
    assert resolve_backend(model, None) == "openvino" or choice._has_gpu()
    assert len(calls) == 1
    [verdict] = (model.path / "docsearch-export").glob("auto-*.json")
    assert json.loads(verdict.read_text())["backend"] == "openvino"


def test_a_failed_export_falls_back_to_torch_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import docsearch.encoders.exported as exported

    class Broken:
        def __init__(self, *_a: object, **_k: object) -> None:
            raise ModelError("export failed: unsupported operator")

    monkeypatch.setattr(exported, "ExportedEncoder", Broken)
    import docsearch.encoders.transformer as transformer

    monkeypatch.setattr(transformer, "SentenceTransformerEncoder", Broken)
    model = fake_model(tmp_path / "m")
    assert resolve_backend(model, "cpu") == "torch"
    [verdict] = (model.path / "docsearch-export").glob("auto-*.json")
    assert "unsupported operator" in json.loads(verdict.read_text())["reason"]


def test_a_writer_records_the_backend_that_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fakes import FakeEncoder

    monkeypatch.setattr(choice, "_measure", no_measuring)
    model = fake_model(tmp_path / "m")
    assert choice.for_writer("onnx", model, "cpu", None) == "onnx"
    assert choice.for_writer("auto", model, "cpu", FakeEncoder()) == "torch"  # a stand-in for the default
    injected = FakeEncoder()
    injected.backend = "openvino"
    assert choice.for_writer("auto", model, "cpu", injected) == "openvino"


def test_an_index_built_through_an_injected_encoder_records_torch(tmp_path: Path) -> None:
    from fakes import FakeEncoder

    from docsearch.index import read_meta
    from docsearch.indexer import index_paths
    from docsearch.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Tomato plants need staking.")
    settings = Settings(home=tmp_path / "home", index="n")
    assert settings.backend == "auto"
    index_paths(settings, [docs], encoder=FakeEncoder())
    meta = read_meta(settings.index_dir)
    assert (meta.embedder, meta.embedders) == ("torch", ("torch",))


def test_an_unknown_backend_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown backend 'openvino-int4'.*openvino-int8"):
        load_encoder("all-MiniLM-L6-v2", "cpu", backend="openvino-int4")
