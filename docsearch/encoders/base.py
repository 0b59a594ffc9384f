"""The encoder protocol every dense encoder implements, and helpers the backends share.

An encoder turns texts into unit vectors with one model: ``encode_queries`` with the query side
(the query tower of a half-twin model), ``encode_documents`` with the document side. Encoders that
can take pre-tokenized windows (``accepts_token_ids``) let the indexer skip a second tokenization.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

TOKENS_PER_BATCH = 16_384  # padded tokens per forward pass: batches sized by tokens, not by count


@runtime_checkable
class Encoder(Protocol):
    model_id: str
    fingerprint: str
    variant: str  # siamese | half-twin
    dim: int
    max_tokens: int
    backend: str  # torch | torch-fp32 | onnx | onnx-int8 | openvino | pool | fake ...
    device: str

    @property
    def accepts_token_ids(self) -> bool: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_document_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray: ...

    def close(self) -> None: ...


class EncoderBase:
    """Defaults for the optional parts of the protocol: no token-id input, nothing to close."""

    backend = "torch"
    device = "cpu"

    @property
    def accepts_token_ids(self) -> bool:
        return False

    def encode_document_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} embeds texts, not token ids")

    def close(self) -> None:
        return None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matrix work runs at about twice fp32 speed with the same results."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((ln for ln in fh if ln.startswith("flags")), "")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def token_batches(ids: Sequence[Sequence[int]], budget: int = TOKENS_PER_BATCH) -> Iterator[tuple[Any, Any, Any]]:
    """Length-sorted batches whose padded size stays under ``budget`` tokens."""
    import numpy as np

    order = np.argsort([len(x) for x in ids], kind="stable")
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and len(ids[order[end]]) * (end - start + 1) <= budget:
            end += 1
        index = order[start:end]
        width = max(len(ids[i]) for i in index)
        tokens = np.zeros((len(index), width), dtype=np.int64)
        mask = np.zeros_like(tokens)
        for row, i in enumerate(index):
            tokens[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        yield index, tokens, mask
        start = end


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' loading notices and bars for the duration of a load only, then put the
    host's logging settings back: the library never prints, nor changes its host's logging."""
    import transformers

    log = transformers.logging
    verbosity = log.get_verbosity()
    bars = log.is_progress_bar_enabled()
    log.set_verbosity_error()
    log.disable_progress_bar()
    try:
        yield
    finally:
        log.set_verbosity(verbosity)
        if bars:
            log.enable_progress_bar()


# Varied lengths and registers, so a backend that drifts on any of them shows it.
PROBE_TEXTS = (
    "Vitamin D supplementation reduces the risk of fractures in elderly women.",
    "def read_config(path):\n    with open(path) as fh:\n        return json.load(fh)",
    "The committee postponed its decision on the budget until the spring session.",
    "Mutations in BRCA1 increase lifetime risk of breast and ovarian cancer.",
    "How do I reset my password if I no longer have access to my email account?",
    "Qdrant stores vectors in segments; an HNSW graph is built for each large segment.",
    "A short one.",
    " ".join(["Long documents are cut into windows that overlap, and each window is embedded on its own."] * 8),
)
AGREEMENT = 0.99  # min cosine to the reference backend's vectors for a backend to share an index


def agreement(reference: Encoder, candidate: Encoder, texts: Sequence[str] = PROBE_TEXTS) -> float:
    """The lowest cosine between two encoders' document vectors for the same texts."""
    import numpy as np

    a, b = reference.encode_documents(list(texts)), candidate.encode_documents(list(texts))
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())
