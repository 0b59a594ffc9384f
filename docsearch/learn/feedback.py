"""The judgements a person gave in the interactive session (``:good N`` / ``:bad N``), read back from
``indexes/NAME/feedback.jsonl``: one ``{"query", "doc", "text", "label"}`` per line.

A person may judge the same result twice (and change their mind): the last line wins. Judgements
are grouped by query; a query can be scored only when at least one of its results was relevant.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..train.pairs import TrainingData

FEEDBACK_FILE = "feedback.jsonl"
_MAX_WARNINGS = 100


@dataclass(frozen=True)
class Judgement:
    query: str
    doc: str  # the document's id in the index
    text: str  # the chunk the person saw
    relevant: bool


@dataclass(frozen=True)
class Judgements:
    """Every query's judged documents (query text -> doc id -> the last judgement of it)."""

    by_query: Mapping[str, Mapping[str, Judgement]]
    rows: int = 0  # usable lines read
    warnings: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """Distinct (query, document) judgements."""
        return sum(len(docs) for docs in self.by_query.values())

    def scorable(self) -> list[str]:
        """Queries with a relevant result (only those can be scored), in the order first judged."""
        return [q for q, docs in self.by_query.items() if any(j.relevant for j in docs.values())]

    def qrels(self, queries: Sequence[str]) -> dict[str, dict[str, int]]:
        """Relevance by document id, as :func:`docsearch.eval.metrics.score` reads it."""
        return {q: {d: int(j.relevant) for d, j in self.by_query[q].items()} for q in queries}

    def docs(self, queries: Sequence[str] | None = None) -> set[str]:
        return {d for q in (self.by_query if queries is None else queries) for d in self.by_query[q]}


def read_feedback(path: Path, resolve_doc: Callable[[str], str | None] | None = None) -> Judgements:
    """Read a feedback file; lines that cannot be used become warnings (``file:line: why``). A row
    without its text takes the document's text from ``resolve_doc``."""
    if not path.is_file():
        return Judgements({})
    by_query: dict[str, dict[str, Judgement]] = {}
    warnings: list[str] = []
    rows = 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            judgement = _parse(line, resolve_doc)
            if isinstance(judgement, str):
                if len(warnings) < _MAX_WARNINGS:
                    warnings.append(f"{path.name}:{number}: {judgement}")
                continue
            docs = by_query.setdefault(judgement.query, {})
            docs.pop(judgement.doc, None)  # a later judgement replaces an earlier one, and counts as later
            docs[judgement.doc] = judgement
            rows += 1
    return Judgements(by_query, rows, tuple(warnings))


def _parse(line: str, resolve_doc: Callable[[str], str | None] | None) -> Judgement | str:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"invalid JSON ({exc.msg})"  # a line cut short by a crash, say
    if not isinstance(row, dict):
        return "not a JSON object"
    query, doc, label = row.get("query"), row.get("doc"), row.get("label")
    if not isinstance(query, str) or not query.strip():
        return "missing or empty 'query'"
    if doc in (None, ""):
        return "missing 'doc'"
    if label not in (0, 1, True, False):
        return f"'label' must be 1 or 0, got {label!r}"
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        text = resolve_doc(str(doc)) if resolve_doc else None
        if not text:
            return f"document {doc!r} has no text here and is not in the index"
    return Judgement(query.strip(), str(doc), text, bool(label))


def text_id(text: str) -> str:
    return "t:" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class TrainingSet:
    """Judgements (and any extra training data) laid out as :class:`TrainingData`, one fold at a time.

    Query ids are the query texts; document ids are their texts' hashes, since what a person
    judged is the chunk they saw. ``filler`` texts (other chunks of the index) only give rows their
    random negatives when a query has fewer judged bad results than the loss asks for. Nothing of a
    held-out query (its text, its judged chunks) is in the fold it is held out of.
    """

    judgements: Judgements
    filler: Sequence[str] = ()
    extra: TrainingData | None = None

    def fold(self, held_out: Sequence[str] = ()) -> tuple[TrainingData, list[str]]:
        """The training data without ``held_out``'s queries, and the query ids to train on (every
        judged query left, those with only bad results too, which pair losses use; then the extra
        data's)."""
        out = set(held_out)
        queries: dict[str, str] = {}
        positives: dict[str, tuple[str, ...]] = {}
        negatives: dict[str, tuple[str, ...]] = {}
        corpus: dict[str, str] = {text_id(t): t for t in self.filler}
        for query, docs in self.judgements.by_query.items():
            if query in out:
                continue
            queries[query] = query
            for relevant in (True, False):
                ids = tuple(dict.fromkeys(text_id(j.text) for j in docs.values() if j.relevant == relevant))
                if ids:
                    (positives if relevant else negatives)[query] = ids
            corpus.update((text_id(j.text), j.text) for j in docs.values())
        if self.extra is not None:
            x = self.extra
            queries.update((f"x:{q}", text) for q, text in x.queries.items())
            positives.update((f"x:{q}", d) for q, d in x.positives.items())
            negatives.update((f"x:{q}", d) for q, d in x.negatives.items())
            corpus.update(x.corpus)
        if not positives:
            raise DataError("no judged query has a relevant result to train on: mark some with :good N in `docsearch search`")
        data = TrainingData(queries, positives, negatives, corpus, rows=self.judgements.rows, source="feedback")
        return data, list(queries)
