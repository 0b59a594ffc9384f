"""Sparse encoders: text -> weighted term ids, for Qdrant's sparse vectors.

BM25 is an encoder like the dense ones: the indexer calls it for documents, the searcher for
queries, and the store only stores and queries the vectors it is given. The vectors hold term
frequencies saturated by BM25's k1 and b; Qdrant applies the IDF at query time (the collection's
sparse vector has the IDF modifier), so adding documents never rewrites older vectors.

An index records the ``id`` of the sparse encoder that made its vectors; ``sparse_encoder(id)``
rebuilds the same encoder from it, and an index whose id differs from the current one gets its
sparse vectors recomputed from the stored chunk texts on its next ``docsearch index``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from ..errors import ConfigError
from ..types import SparseVector

BM25_PREFIX = "qdrant-edge-bm25-"
# The English BM25 every index made before languages were detected records: English stemming and
# stopwords, Qdrant's word tokenizer.
DEFAULT_SPARSE_ID = BM25_PREFIX + "english"


class SparseEncoder(Protocol):
    id: str

    def documents(self, texts: Sequence[str]) -> list[SparseVector]: ...

    def query(self, text: str) -> SparseVector: ...


class Bm25Encoder:
    """Qdrant Edge's BM25 (the same vectors whichever store holds them), for one language.

    ``language`` names Qdrant's stemmer and stopword list ("english", "german", ...);
    ``tokenizer`` is Qdrant's tokenizer type: "word" (Unicode words) or "multilingual" (also splits
    Chinese, Japanese and other scripts written without spaces into words)."""

    def __init__(self, language: str = "english", tokenizer: str = "word", avg_len: float = 256.0) -> None:
        import qdrant_edge as qe

        kinds = {"word": qe.TokenizerType.Word, "multilingual": qe.TokenizerType.Multilingual}
        if tokenizer not in kinds:
            raise ConfigError(f"unknown BM25 tokenizer {tokenizer!r}: use one of {', '.join(kinds)}")
        try:
            config = qe.Bm25Config(language=language, avg_len=avg_len, tokenizer=kinds[tokenizer])
            self._bm25 = qe.Bm25(config)
        except Exception as exc:  # qdrant_edge raises plain ValueErrors for unknown languages
            raise ConfigError(f"BM25 has no language {language!r}: {exc}") from exc
        self.language, self.tokenizer = language, tokenizer
        self.id = BM25_PREFIX + language + ("" if tokenizer == "word" else f"-{tokenizer}")

    def documents(self, texts: Sequence[str]) -> list[SparseVector]:
        return [_vector(self._bm25.embed_document(t)) for t in texts]

    def query(self, text: str) -> SparseVector:
        return _vector(self._bm25.embed_query(text))


def _vector(v: Any) -> SparseVector:
    return SparseVector(list(v.indices), list(v.values))


@lru_cache(maxsize=8)
def sparse_encoder(encoder_id: str = DEFAULT_SPARSE_ID) -> SparseEncoder:
    """The sparse encoder an index records by id (shared: building one loads stemmers and stopwords)."""
    if not encoder_id.startswith(BM25_PREFIX):
        raise ConfigError(f"unknown sparse encoder {encoder_id!r}")
    language, _, tokenizer = encoder_id.removeprefix(BM25_PREFIX).partition("-")
    return Bm25Encoder(language, tokenizer or "word")
