"""Sparse encoders: text -> weighted term ids, for Qdrant's sparse vectors.

BM25 is an encoder like the dense ones: the indexer calls it for documents, the searcher for
queries, and the store only stores and queries the vectors it is given. The vectors hold term
frequencies saturated by BM25's k1 and b; Qdrant applies the IDF at query time (the collection's
sparse vector has the IDF modifier), so adding documents never rewrites older vectors.

Each document is tokenized in its own language (``bm25_name``: Qdrant's stemmer and stopwords for
it, and Qdrant's multilingual tokenizer, which segments words, for scripts written without
spaces). Qdrant hashes the final tokens to ids, so every language shares one id space, and a
query is embedded in each language the index holds and the results united: it then matches the
documents of every language with their own stemming.

An index records the ``id`` of the sparse encoder that made its vectors, which names the BM25 of
each language it holds (``qdrant-edge-bm25-english``, ``qdrant-edge-bm25-chinese-multilingual+
english``); ``sparse_encoder(id)`` rebuilds the same encoder from it. An index whose id differs
from what its languages now call for gets its sparse vectors recomputed from the stored chunk
texts on its next ``docsearch index``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, Protocol

from ..errors import ConfigError
from ..types import SparseVector

BM25_PREFIX = "qdrant-edge-bm25-"
# The English BM25 every index made before languages were detected records: English stemming and
# stopwords, Qdrant's word tokenizer. Undetermined documents keep it.
DEFAULT_SPARSE_ID = BM25_PREFIX + "english"

# ISO 639 code -> Qdrant's language (its stopwords and, where Snowball has one, its stemmer).
QDRANT_LANGUAGES = {
    "ar": "arabic", "az": "azerbaijani", "bn": "bengali", "ca": "catalan", "da": "danish", "de": "german",
    "el": "greek", "en": "english", "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french",
    "he": "hebrew", "hu": "hungarian", "id": "indonesian", "it": "italian", "ja": "japanese", "kk": "kazakh",
    "ne": "nepali", "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sl": "slovene", "sv": "swedish", "tg": "tajik", "tr": "turkish", "zh": "chinese", "yue": "chinese",
    "und": "english",
}
# Languages with a Snowball stemmer but no Qdrant stopword list: stemmed, nothing dropped.
STEM_ONLY = {"hy": "armenian", "ta": "tamil"}
# Scripts written without spaces between words: Qdrant's multilingual tokenizer segments them.
UNSPACED = frozenset({"zh", "yue", "ja", "th", "lo", "km", "my", "bo", "dz"})
NEUTRAL = "none"  # any other language: Unicode words, no stopwords, no stemming
# Qdrant's multilingual tokenizer guesses each text's language again: a Japanese text written in
# kanji alone (a query such as 寿司) passes for Chinese and is segmented and normalised as Chinese,
# so it misses the same word in Japanese documents. A kana stopword appended to every Japanese
# text keeps it Japanese; being a stopword it adds no token.
_SCRIPT_HINTS = {"japanese": "\nの"}


class SparseEncoder(Protocol):
    id: str

    def documents(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> list[SparseVector]: ...

    def query(self, text: str) -> SparseVector: ...


def bm25_name(language: str) -> str:
    """The BM25 a document in ``language`` (an ISO 639 code) is tokenized with: a Qdrant language,
    with ``-multilingual`` for scripts written without spaces."""
    base = QDRANT_LANGUAGES.get(language) or STEM_ONLY.get(language) or NEUTRAL
    return base + ("-multilingual" if language in UNSPACED else "")


def sparse_id(languages: Iterable[str]) -> str:
    """The id of the BM25 for an index holding documents in ``languages`` (none: English)."""
    names = sorted({bm25_name(code) for code in languages}) or ["english"]
    return BM25_PREFIX + "+".join(names)


class Bm25Encoder:
    """Qdrant Edge's BM25 (the same vectors whichever store holds them), for one language.

    ``language`` names Qdrant's stemmer and stopword list ("english", "german", ...), a Snowball
    stemmer alone ("armenian", "tamil"), or "none" (neither); ``tokenizer`` is Qdrant's tokenizer
    type: "word" (Unicode words) or "multilingual" (also splits Chinese, Japanese, Thai and other
    scripts written without spaces into words)."""

    def __init__(self, language: str = "english", tokenizer: str = "word", avg_len: float = 256.0) -> None:
        import qdrant_edge as qe

        kinds = {"word": qe.TokenizerType.Word, "multilingual": qe.TokenizerType.Multilingual}
        if tokenizer not in kinds:
            raise ConfigError(f"unknown BM25 tokenizer {tokenizer!r}: use one of {', '.join(kinds)}")
        options: dict[str, Any] = {"language": language}
        if language == NEUTRAL or language in STEM_ONLY.values():
            stemmer = (qe.DisabledStemmer() if language == NEUTRAL
                       else qe.SnowballParams(getattr(qe.SnowballLanguage, language.capitalize())))
            options = {"stopwords": qe.StopwordsSet(custom=set()), "stemmer": stemmer}
        try:
            config = qe.Bm25Config(avg_len=avg_len, tokenizer=kinds[tokenizer], **options)
            self._bm25 = qe.Bm25(config)
        except Exception as exc:  # qdrant_edge raises plain ValueErrors for unknown languages
            raise ConfigError(f"BM25 has no language {language!r}: {exc}") from exc
        self.language, self.tokenizer = language, tokenizer
        self.id = BM25_PREFIX + language + ("" if tokenizer == "word" else f"-{tokenizer}")
        self._hint = _SCRIPT_HINTS.get(language, "") if tokenizer == "multilingual" else ""

    def documents(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> list[SparseVector]:
        return [_vector(self._bm25.embed_document(t + self._hint)) for t in texts]

    def query(self, text: str) -> SparseVector:
        return _vector(self._bm25.embed_query(text + self._hint))


class LanguageBm25:
    """The BM25 of an index that may hold several languages: each document is embedded with its
    own language's BM25; a query with the BM25 of every language the index holds, united (the
    highest weight per term id), so it matches each document as that document was tokenized."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(sorted(set(names))) or ("english",)
        self.id = BM25_PREFIX + "+".join(self.names)
        self._parts = [_bm25(n) for n in self.names]

    def documents(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> list[SparseVector]:
        """Each text with the BM25 of its language (an ISO code per text); without languages, every
        text with this encoder's first BM25."""
        if languages is None:
            return self._parts[0].documents(texts)
        out: list[SparseVector | None] = [None] * len(texts)
        groups: dict[str, list[int]] = {}
        for i, code in enumerate(languages):
            groups.setdefault(bm25_name(code), []).append(i)
        for bm25, rows in groups.items():
            for i, vector in zip(rows, _bm25(bm25).documents([texts[i] for i in rows]), strict=True):
                out[i] = vector
        return out  # type: ignore[return-value]

    def query(self, text: str) -> SparseVector:
        if len(self._parts) == 1:
            return self._parts[0].query(text)
        weights: dict[int, float] = {}
        for part in self._parts:
            q = part.query(text)
            for i, w in zip(q.indices, q.values, strict=True):
                weights[i] = max(w, weights.get(i, w))
        return SparseVector(list(weights), list(weights.values()))


def _vector(v: Any) -> SparseVector:
    return SparseVector(list(v.indices), list(v.values))


@lru_cache(maxsize=32)
def _bm25(name: str) -> Bm25Encoder:
    language, _, tokenizer = name.partition("-")
    return Bm25Encoder(language, tokenizer or "word")


@lru_cache(maxsize=8)
def sparse_encoder(encoder_id: str = DEFAULT_SPARSE_ID) -> LanguageBm25:
    """The sparse encoder an index records by id (shared: building one loads stemmers and stopwords)."""
    if not encoder_id.startswith(BM25_PREFIX):
        raise ConfigError(f"unknown sparse encoder {encoder_id!r}")
    return LanguageBm25(encoder_id.removeprefix(BM25_PREFIX).split("+"))


def document_vectors(texts: Sequence[str], languages: Sequence[str]) -> list[SparseVector]:
    """BM25 vectors of documents, each in its own language (ISO codes, one per text)."""
    return sparse_encoder(DEFAULT_SPARSE_ID).documents(texts, languages)
