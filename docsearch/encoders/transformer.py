"""The torch encoder: any sentence-transformers directory, Siamese or half-twin.

A Siamese model embeds queries and documents with the same weights; a half-twin model (a
sentence-transformers ``Router``) has a query tower and a document tower. Both are plain
sentence-transformers directories, so one class serves both: it calls ``encode_query`` /
``encode_document``, which route to the right tower.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from ..model import ModelDir
from .base import EncoderBase, cpu_has_bf16, quiet_transformers, token_batches

if TYPE_CHECKING:
    import numpy as np


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


class SentenceTransformerEncoder(EncoderBase):
    """Any sentence-transformers directory; Siamese or half-twin (Router)."""

    def __init__(self, model: ModelDir, device: str | None = None, batch_size: int = 64, precision: str = "auto") -> None:
        from sentence_transformers import SentenceTransformer

        self.device = device or default_device()
        try:
            with quiet_transformers():  # the library never prints: no loading bars or notices
                self._model = SentenceTransformer(str(model.path), device=self.device, local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load model {model.name!r}: {exc}") from exc
        self.model_id = model.id
        self.fingerprint = model.fingerprint
        self.variant = model.variant
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length or model.max_seq_length)
        self.batch_size = batch_size
        self.backend = "torch" if precision == "auto" else "torch-fp32"
        self._autocast = self._pick_autocast(precision)

    def _pick_autocast(self, precision: str) -> Any:
        """bf16 autocast on GPUs and on CPUs with native bf16 (about 2x, cosine to fp32 > 0.9999)."""
        import contextlib

        import torch

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
            self._plain = self.variant == "siamese" and plain_mean_pooling(self._model)
        return self._plain

    def encode_document_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Embed chunks from their token ids (the chunker already tokenized them): no second
        tokenization, batches sorted by length and sized by tokens."""
        import numpy as np
        import torch

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


def plain_mean_pooling(model: Any) -> bool:
    """True for [Transformer, mean Pooling, (Normalize)] sentence-transformers models."""
    names = [type(m).__name__ for m in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n not in ("Transformer", "Pooling", "Normalize") for n in names):
        return False
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None:  # sentence-transformers < 6
        return bool(getattr(pooling, "pooling_mode_mean_tokens", False)) and not any(
            getattr(pooling, f, False) for f in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                                 "pooling_mode_mean_sqrt_len_tokens"))
    return mode == "mean" or mode == ["mean"] or mode == ("mean",)
