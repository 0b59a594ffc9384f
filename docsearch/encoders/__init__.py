"""Encoders: dense (a sentence-transformers model on torch, ONNX Runtime or OpenVINO, or a pool of
processes) and sparse (BM25), each behind one small interface. ``load_encoder`` is the one place a
dense backend is chosen; heavy libraries are imported only by the backend that needs them."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import ConfigError, ModelError
from ..model import ModelDir
from .base import AGREEMENT, Encoder, EncoderBase, agreement
from .sparse import SparseEncoder, SparseVector, sparse_encoder

BACKENDS = ("auto", "torch", "torch-fp32", "onnx", "onnx-int8", "openvino", "openvino-int8")

__all__ = [
    "AGREEMENT", "BACKENDS", "Encoder", "EncoderBase", "SparseEncoder", "SparseVector", "agreement", "calibrate",
    "load_encoder", "load_query_encoder", "resolve_backend", "sparse_encoder",
]


def _model(model: ModelDir | str) -> ModelDir:
    return model if isinstance(model, ModelDir) else ModelDir.resolve(model)


def resolve_backend(model: ModelDir | str, device: str | None = None, backend: str = "auto") -> str:
    """The concrete backend: ``auto`` becomes the fastest one with torch fp32's vectors on this
    machine (encoders/choice.py); any other name is checked and returned as it is."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    from .choice import resolve_backend as choose

    return choose(_model(model), device)


def calibrate(encoder: Encoder, texts: Sequence[str]) -> None:
    """Offer an encoder the first chunks of a run: openvino-int8 quantizes on them (once per model);
    every other encoder ignores them."""
    hook = getattr(encoder, "calibrate", None)
    if hook is not None and texts:
        hook(texts)


def load_encoder(model: ModelDir | str, device: str | None = None, batch_size: int = 64, backend: str = "auto",
                 workers: int = 1) -> Encoder:
    """``backend``: auto (the default: the fastest exact one, see resolve_backend), torch (bf16 where
    the hardware has it), torch-fp32, onnx, onnx-int8, openvino, openvino-int8 (static int8 calibrated
    on the first chunks it embeds); ``workers`` > 1 starts that many encoder processes behind the same
    interface, ``workers`` < 0 (auto) one per GPU where there are several, else one."""
    model = _model(model)
    backend = resolve_backend(model, device, backend)
    if workers < 0:
        from .pool import gpu_count

        workers = gpu_count() if device in (None, "cuda") else 1
    if workers > 1:
        from .pool import PooledEncoder

        return PooledEncoder(model, workers, device, batch_size, backend)
    if backend.startswith("torch"):
        from .transformer import SentenceTransformerEncoder

        precision = "fp32" if backend == "torch-fp32" else "auto"
        return SentenceTransformerEncoder(model, device=device, batch_size=batch_size, precision=precision)
    if device and device != "cpu":
        raise ConfigError(f"the {backend} backend runs on the CPU; use --backend torch for {device}")
    if backend == "openvino-int8":
        from .int8 import Int8Encoder

        return Int8Encoder(model)
    from .exported import ExportedEncoder

    return ExportedEncoder(model, backend)


def load_query_encoder(model: ModelDir | str, device: str | None = None, batch_size: int = 64,
                       backend: str = "auto") -> Encoder:
    """The encoder for queries, where latency is what counts.

    With the default backend (auto or torch) on a machine without a GPU, a plain Siamese model answers through
    ONNX Runtime on one thread: the same fp32 model (cosine 1.0 to torch fp32), about 5 ms a query
    here against 12-15 ms for torch, and no torch import. Anything else uses ``load_encoder``.
    """
    model = _model(model)
    wants_cpu = device == "cpu" or (device is None and not os.path.exists("/proc/driver/nvidia/version"))
    if backend in ("auto", "torch") and wants_cpu and model.exportable:
        from .exported import ExportedEncoder

        try:
            return ExportedEncoder(model, "onnx", threads=1)
        except (ModelError, ImportError, OSError):
            pass  # onnxruntime absent or the export failed: torch it is
    return load_encoder(model, device, batch_size, backend)
