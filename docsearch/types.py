"""Small frozen values passed between modules."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
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
    # Where parts of ``text`` come from (pages, slides, sheets, chapters), in order of ``start``.
    sections: tuple[Section, ...] = ()

    @property
    def body(self) -> str:
        """What is chunked and embedded: a file's own text as it is (so lines map back), a record's
        title in front of its text."""
        return self.text if self.line_mapped else record_text(self.title, self.text)

    def place(self, start: int, end: int) -> str:
        """Where the span ``start:end`` of ``body`` comes from: 'page 3', 'slide 2–4', '' without
        sections."""
        places = self.places(start, end)
        return span_label(places[0][1], places[-1][1]) if places else ""

    def places(self, start: int, end: int) -> tuple[tuple[int, str], ...]:
        """The sections the span ``start:end`` of ``body`` overlaps, each as (its offset in the
        span, 0 for the one the span starts in; its label)."""
        if not self.sections:
            return ()
        shift = len(self.body) - len(self.text)  # the title record_text put in front
        starts = [s.start + shift for s in self.sections]
        first = max(0, bisect_right(starts, start) - 1)
        last = max(first, bisect_right(starts, max(start, end - 1)) - 1)
        return tuple((0 if i == first else starts[i] - start, self.sections[i].label) for i in range(first, last + 1))


@dataclass(frozen=True)
class Section:
    """A part of a document's text that a result can point back to: ``label`` ('page 3', 'slide 2',
    'sheet Budget, row 12', 'chapter 4: The Storm', 'message 7') holds from character ``start`` of
    ``Document.text`` up to the next section."""

    start: int
    label: str


_NUMBERED = re.compile(r"(.*?)(\d+)")


def span_label(first: str, last: str) -> str:
    """One label for a span from section ``first`` to ``last``: 'page 3', 'page 3–4', 'A – B'."""
    if first == last or not last:
        return first
    if not first:  # the span starts before the first labelled section (a preface, say)
        return last
    a, b = _NUMBERED.fullmatch(first), _NUMBERED.fullmatch(last)
    if a and b and a.group(1) == b.group(1):
        return f"{first}–{b.group(2)}"
    return f"{first} – {last}"


def located(where: object, places: object, at: int | None) -> str | None:
    """A result's place: the section its best sentence (at offset ``at`` of the chunk) is in, when
    the chunk spans several (``places``, as ``Document.places`` gives them), else ``where``."""
    if at is not None and isinstance(places, list) and places:
        label = ""
        for offset, name in places:
            if offset > at:
                break
            label = name
        return str(label) or None
    return str(where) if where else None


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


# Why the walk passes a path over without trying it, in the order summaries list them.
RULES = ("hidden", "ignored", "environment", "duplicate", "unsupported", "binary")


@dataclass(frozen=True)
class Excluded:
    """A path the walk passed over by rule (one of ``RULES``): hidden, matched by .docsearchignore,
    an environment (virtualenv, node_modules, __pycache__), a link to a directory walked already, a
    file type no reader takes (``suffix`` says which), or a file without a suffix whose content is
    binary. A directory ends with '/'."""

    path: str
    rule: str
    suffix: str = ""


@dataclass(frozen=True)
class BadRecord:
    """One record of a JSONL/JSON/CSV/TSV file that was not indexed, and why. ``line`` is where it
    starts in the file (None in a .json file, where ``record`` is its 1-based position)."""

    line: int | None
    record: int
    reason: str

    def label(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"record {self.record}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class PartlyRead:
    """A record file indexed without some of its records."""

    path: str
    records: int  # records the file holds, good and bad
    read: int  # records indexed
    bad: tuple[BadRecord, ...]

    def summary(self, limit: int | None = 3) -> str:
        """'partly read: 5 of 8 records; line 7: broken JSON, …', listing at most ``limit`` bad ones."""
        shown = self.bad if limit is None else self.bad[:limit]
        listed = ", ".join(b.label() for b in shown)
        more = len(self.bad) - len(shown)
        return f"partly read: {self.read} of {self.records} records; {listed}" + (f", +{more} more" if more else "")


@dataclass(frozen=True)
class RuleCount:
    """How many paths one rule passed over; for 'unsupported', the commonest suffixes first."""

    rule: str
    count: int
    suffixes: tuple[tuple[str, int], ...] = ()


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
    where: str | None = None  # page, slide, sheet, chapter or message (``Document.place``)
    duplicates: tuple[Hit, ...] = ()  # near-copies folded under this one (search with collapse)


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
    skipped: tuple[Skipped, ...] = field(default_factory=tuple)  # for a reason: each says why
    resparsed: int = 0  # stored chunks given BM25 vectors they lacked, without re-embedding
    excluded: tuple[Excluded, ...] = field(default_factory=tuple)  # passed over by rule
    partial: tuple[PartlyRead, ...] = field(default_factory=tuple)  # indexed without some records
    walked: int = 0  # paths the walk saw: indexed + unchanged + skipped + excluded
    indexed_paths: tuple[str, ...] = field(default_factory=tuple)
    # For the user, once: e.g. the model does not cover the language most documents are in.
    warnings: tuple[str, ...] = ()

    @property
    def accounted(self) -> int:
        """Paths the report puts in a category; equals ``walked``."""
        return self.indexed + self.unchanged + len(self.skipped) + len(self.excluded)

    def rule_counts(self) -> tuple[RuleCount, ...]:
        counts = Counter(e.rule for e in self.excluded)
        suffixes = tuple(Counter(e.suffix for e in self.excluded if e.rule == "unsupported").most_common())
        order = [r for r in RULES if r in counts] + sorted(set(counts) - set(RULES))
        return tuple(RuleCount(r, counts[r], suffixes if r == "unsupported" else ()) for r in order)

    def to_json(self) -> dict[str, object]:
        """The whole report as plain JSON values."""
        return {
            "walked": self.walked, "indexed": self.indexed, "unchanged": self.unchanged, "removed": self.removed,
            "skipped": len(self.skipped), "excluded": len(self.excluded), "documents": self.documents,
            "chunks": self.chunks, "seconds": round(self.seconds, 3), "embed_seconds": round(self.embed_seconds, 3),
            "resparsed": self.resparsed, "warnings": list(self.warnings),
            "by_rule": {c.rule: c.count for c in self.rule_counts()},
            "unsupported_suffixes": dict(next((c.suffixes for c in self.rule_counts() if c.rule == "unsupported"), ())),
            "indexed_paths": list(self.indexed_paths),
            "skipped_paths": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "excluded_paths": [{"path": e.path, "rule": e.rule, **({"suffix": e.suffix} if e.suffix else {})}
                               for e in self.excluded],
            "partly_read": [
                {"path": p.path, "records": p.records, "read": p.read,
                 "bad": [{"line": b.line, "record": b.record, "reason": b.reason} for b in p.bad]}
                for p in self.partial
            ],
        }


@dataclass(frozen=True)
class Fusion:
    """How dense and sparse (BM25) candidate lists are fused.

    ``method``: ``"rrf"`` (reciprocal rank, with ``k`` and per-list ``weights`` as (dense, sparse))
    or ``"dbsf"`` (distribution-based score fusion), both fused by Qdrant over chunks; or, over
    each document's best chunk, ``"zscore"`` (scores z-normalised per list, then weighted) or
    ``"tmm"`` (theoretical min-max: a cosine scaled from -1, a BM25 score from 0, each up to its
    list's best, then a convex combination with ``weights``; Bruch et al. 2023's TM2C2).
    """

    # DBSF by default: on SciFact it beat every untuned RRF setting (0.735 vs 0.704 for k=2, 1:1).
    method: str = "dbsf"
    k: int = 2
    weights: tuple[float, float] = (1.0, 1.0)

    @property
    def per_document(self) -> bool:
        return self.method in ("zscore", "tmm")

    def label(self) -> str:
        if self.method == "dbsf":
            return "dbsf"
        dense, sparse = (f"{w:g}" for w in self.weights)
        if self.per_document:
            return f"{self.method} w={dense},{sparse}"
        return f"rrf k={self.k} w={dense},{sparse}"

    def to_json(self) -> dict[str, object]:
        if self.method == "dbsf":
            return {"method": "dbsf"}
        return {"method": self.method, "k": self.k, "weights": list(self.weights)}
