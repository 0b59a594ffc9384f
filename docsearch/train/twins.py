"""The model being trained: Siamese (the base model itself) or half-twin (a query tower and a
document tower behind a sentence-transformers ``Router``, optionally sharing a final projection),
and the exact-cosine encoding and top-k that mining and dev metrics use.

torch and sentence-transformers are imported inside the functions that need them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, ModelError

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer


def resolve_base(name: str) -> Path:
    """A local directory as is; otherwise the name as :func:`docsearch.encoders.resolve_model` knows it."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path  # no need to import the encoders module (and what it imports)
    from ..encoders import resolve_model

    return resolve_model(name)


def _load_st(path: Path, device: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
    except Exception as exc:
        raise ModelError(f"cannot load base model {str(path)!r}: {exc}") from exc
    # Training wants fp32 master weights even when the saved copy is fp16/bf16.
    return model.float()


def _st_modules() -> tuple[type, type, type]:
    try:
        from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Router
    except ImportError:  # older 5.x layout
        from sentence_transformers.models import Dense, Normalize, Router  # type: ignore[no-redef]
    return Dense, Normalize, Router


def is_routed(model: SentenceTransformer) -> bool:
    _, _, router = _st_modules()
    return any(isinstance(m, router) for m in model.children())


def build_model(base: Path, variant: str, shared_projection: bool, device: str) -> SentenceTransformer:
    """Siamese: the base model. Half-twin: two copies behind a Router, then [Dense], Normalize."""
    from sentence_transformers import SentenceTransformer
    from torch import eye, nn

    dense_cls, normalize_cls, router_cls = _st_modules()
    model = _load_st(base, device)
    if is_routed(model) or variant == "siamese":
        if variant == "siamese" and is_routed(model):
            raise ConfigError("the base model is a half-twin (query and document towers): use --variant half-twin")
        return model
    # Each tower ends before Normalize, so the shared projection sees raw pooled vectors.
    towers = [[m for m in st.children() if not isinstance(m, normalize_cls)] for st in (model, _load_st(base, device))]
    modules: list[nn.Module] = [router_cls.for_query_document(query_modules=towers[0], document_modules=towers[1])]
    if shared_projection:
        dim = int(model.get_embedding_dimension() or 0)
        modules.append(dense_cls(dim, dim, bias=False, activation_function=nn.Identity(), init_weight=eye(dim)))
    modules.append(normalize_cls())
    return SentenceTransformer(modules=modules, device=device).float()


def bf16_ok(device: str) -> bool:
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_bf16_supported())
    from ..backends import cpu_has_bf16

    return device == "cpu" and cpu_has_bf16()


def quiet_transformers() -> None:
    """The library never prints: silence weight-loading bars and notices."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def encode(model: SentenceTransformer, texts: Sequence[str], task: str, batch_size: int) -> torch.Tensor:
    """Unit vectors on the model's device, through the query or the document tower."""
    method = model.encode_query if task == "query" else model.encode_document
    return method(
        list(texts),
        batch_size=batch_size,
        convert_to_tensor=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    ).float()


def cosine_topk(queries: torch.Tensor, docs: torch.Tensor, k: int, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k by cosine (inputs are unit vectors), a block of queries at a time."""
    import torch

    k = min(k, docs.shape[0])
    values, indices = [], []
    for start in range(0, queries.shape[0], chunk):
        top = torch.topk(queries[start : start + chunk] @ docs.T, k, dim=1)
        values.append(top.values.cpu())
        indices.append(top.indices.cpu())
    return torch.cat(values), torch.cat(indices)
