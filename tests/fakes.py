"""A deterministic fake encoder for unit tests: no torch, no weights, instant.

Each word is hashed to a signed bucket of a 384-d vector (the bundled model's size), so texts that
share words are close and texts that share none are orthogonal: tests can reason about rankings.
It answers to the bundled model's id and fingerprint, so an index made with it opens like one made
with the real model (its chunker uses that model's tokenizer file, which needs no torch).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from docsearch import EncoderBase, ModelDir

_WORD = re.compile(r"\w+")


class FakeEncoder(EncoderBase):
    backend = "fake"

    def __init__(self, model: str = "all-MiniLM-L6-v2", synonyms: dict[str, str] | None = None) -> None:
        resolved = ModelDir.resolve(model)
        self.synonyms = synonyms or {}  # word -> the word it means: a "semantic" match BM25 cannot make
        self.model_id, self.fingerprint, self.variant = resolved.id, resolved.fingerprint, "siamese"
        self.dim, self.max_tokens = resolved.dim, resolved.max_seq_length
        self.calls = 0

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                word = self.synonyms.get(word, word)
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0  # a text without words still gets a unit vector
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)


class NoiseEncoder(FakeEncoder):
    """Vectors that ignore meaning: each text gets its own random direction (seeded by its hash)."""

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)



class SlowEncoder(FakeEncoder):
    """The fake encoder at a model's pace: ``delay`` seconds per call (one call per forward pass)."""

    def __init__(self, delay: float = 0.2, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.delay = delay

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        import time

        time.sleep(self.delay)
        return super()._embed(texts)
