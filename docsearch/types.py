"""Small frozen values passed between modules."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RecordFields:
    """Which keys of a JSON/CSV record hold the id, title and text."""

    id: str = "_id"
    title: str = "title"
    text: str = "text"


@dataclass(frozen=True)
class Document:
    """One searchable unit read from a source file.

    ``doc_id`` is the record id for JSONL/CSV/BEIR records and the path relative
    to the indexed root for plain files. ``path`` is always the source file,
    relative to the indexed root (``source`` for a root that is a file).
    ``line`` is the 1-based line in the source where ``text`` starts; it is only
    meaningful when ``text`` is the file's own text (``line_mapped``).
    """

    doc_id: str
    title: str
    text: str
    path: str
    line: int = 1
    line_mapped: bool = False

    @property
    def body(self) -> str:
        """What is chunked and embedded: a file's own text as it is (so lines map back), a record's
        title in front of its text."""
        return self.text if self.line_mapped else record_text(self.title, self.text)


def record_text(title: str, text: str) -> str:
    """The one definition of a record's text, for indexing, evaluation and training alike: the
    title in front of the text, as BEIR does (unless the text already starts with it)."""
    if not title or text.startswith(title):
        return text
    return f"{title}\n\n{text}"


@dataclass(frozen=True)
class Source:
    """A file found by the walk, before it is read."""

    abspath: str
    path: str  # relative to the root it was found under, '/'-separated
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Skipped:
    """A path the walk or the reader could not use, and why (one line)."""

    path: str
    reason: str


@dataclass(frozen=True)
class ChunkSpan:
    """A window of a document's text, as character offsets, with its tokens when known."""

    start: int
    end: int
    text: str
    tokens: tuple[int, ...] = ()


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector: term ids and their weights (BM25 term frequencies)."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class Hit:
    """One document in a result list, with its best-matching chunk."""

    rank: int
    score: float
    doc: str
    title: str
    path: str
    chunk: int
    text: str
    line: int | None = None
    highlight: tuple[int, int] | None = None  # char span of the best sentence in text


@dataclass(frozen=True)
class IndexReport:
    """What one ``index`` run did."""

    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    documents: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    skipped: tuple[Skipped, ...] = field(default_factory=tuple)
    resparsed: int = 0  # stored chunks given BM25 vectors they lacked, without re-embedding
    # For the user, once: e.g. the model does not cover the language most documents are in.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fusion:
    """How hybrid mode fuses the dense and sparse candidate lists inside Qdrant.

    ``method`` is ``"rrf"`` (reciprocal rank, with ``k`` and per-list ``weights``
    as (dense, sparse)) or ``"dbsf"`` (distribution-based score fusion), both fused by Qdrant
    over chunks; or ``"zscore"``: per-document best-chunk scores, z-normalised and weighted.
    """

    # DBSF by default: on SciFact it beat every untuned RRF setting (0.735 vs 0.704 for k=2, 1:1).
    method: str = "dbsf"
    k: int = 2
    weights: tuple[float, float] = (1.0, 1.0)
