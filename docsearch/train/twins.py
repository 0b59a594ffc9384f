"""The model being trained: Siamese (the base model itself) or half-twin (a query tower and a
document tower behind a sentence-transformers ``Router``, optionally sharing a final projection),
and the ``router_mapping`` that sends each training column through its tower.

torch and sentence-transformers are imported inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..encoders.base import cpu_has_bf16
from ..errors import ConfigError, ModelError
from ..model import ModelDir

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def resolve_base(name: str) -> Path:
    """A local directory as is; otherwise the name as :func:`docsearch.encoders.resolve_model` knows it."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path  # no need to import the encoders module (and what it imports)
    return ModelDir.resolve(name).path


def _load_st(path: Path, device: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
    except Exception as exc:
        raise ModelError(f"cannot load base model {str(path)!r}: {exc}") from exc
    # Training wants fp32 master weights even when the saved copy is fp16/bf16.
    return model.float()


def is_routed(model: SentenceTransformer) -> bool:
    from sentence_transformers.sentence_transformer.modules import Router

    return any(isinstance(m, Router) for m in model.children())


def build_model(base: Path, variant: str, shared_projection: bool, device: str) -> SentenceTransformer:
    """Siamese: the base model. Half-twin: two copies behind a Router, then [Dense], Normalize."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Router
    from torch import eye, nn

    model = _load_st(base, device)
    if is_routed(model) or variant == "siamese":
        if variant == "siamese" and is_routed(model):
            raise ConfigError("the base model is a half-twin (query and document towers): use --variant half-twin")
        return _offline_card(model)
    # Each tower ends before Normalize, so the shared projection sees raw pooled vectors.
    towers = [[m for m in st.children() if not isinstance(m, Normalize)] for st in (model, _load_st(base, device))]
    modules: list[nn.Module] = [Router.for_query_document(query_modules=towers[0], document_modules=towers[1])]
    if shared_projection:
        dim = int(model.get_embedding_dimension() or 0)
        modules.append(Dense(dim, dim, bias=False, activation_function=nn.Identity(), init_weight=eye(dim)))
    modules.append(Normalize())
    return _offline_card(SentenceTransformer(modules=modules, device=device).float())


def _offline_card(model: SentenceTransformer) -> SentenceTransformer:
    """Checkpoints carry a generated model card; never let it look the base model up on the Hub."""
    card = getattr(model, "model_card_data", None)
    if card is not None and hasattr(card, "local_files_only"):
        card.local_files_only = True
    return model


def router_mapping(model: SentenceTransformer, columns: Iterable[str]) -> dict[str, str]:
    """For a half-twin, the query column through the query tower and every other text column through
    the document tower; {} for a Siamese model, which has one tower for both."""
    if not is_routed(model):
        return {}
    return {c: "query" if c == "query" else "document" for c in columns if c != "label"}


def bf16_ok(device: str) -> bool:
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return device == "cpu" and cpu_has_bf16()
