"""Training data: labelled (query, document) pairs from JSONL, CSV or a BEIR directory.

Accepted rows (JSONL objects or CSV columns), one format per row:

* ``{"query", "text", "label"}``: a document given by its text; label 1 relevant, 0 not;
* ``{"query", "positive"[, "negative"]}``: a triplet (the negative is optional);
* ``{"query", "doc", "label"}``: a document given by id, turned into text by ``resolve_doc``.

A BEIR directory contributes ``corpus.jsonl``, ``queries.jsonl`` and
``qrels/train.tsv``; no other qrels file is ever read, so test judgements
cannot leak into training. Bad rows become warnings (``file:line: why``);
only when no row is usable does loading fail, with :class:`DataError`.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..eval.beir import corpus_texts, qrels_rows, read_queries

ResolveDoc = Callable[[str], "str | None"]

_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
_TRUE = {"1", "true", "yes", "relevant", "pos", "positive"}
_FALSE = {"0", "false", "no", "irrelevant", "neg", "negative"}
_MAX_WARNINGS = 1000  # keep the report readable on a badly broken file


@dataclass(frozen=True)
class TrainingData:
    """Queries, their judged documents, and the pool of texts to retrieve from.

    ``positives`` / ``negatives`` map a query id to document ids (in the order
    first seen); ``corpus`` maps every document id to its text: the whole BEIR
    corpus, or every text the rows mention.
    """

    queries: Mapping[str, str]
    positives: Mapping[str, tuple[str, ...]]
    negatives: Mapping[str, tuple[str, ...]]
    corpus: Mapping[str, str]
    warnings: tuple[str, ...] = ()
    rows: int = 0
    source: str = ""

    @property
    def pair_count(self) -> int:
        return sum(len(v) for v in self.positives.values()) + sum(len(v) for v in self.negatives.values())

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "queries": len(self.queries),
            "queries_with_positive": sum(1 for v in self.positives.values() if v),
            "positive_pairs": sum(len(v) for v in self.positives.values()),
            "labelled_negative_pairs": sum(len(v) for v in self.negatives.values()),
            "corpus": len(self.corpus),
            "warnings": len(self.warnings),
        }


@dataclass
class _Builder:
    """Accumulates rows; ids for texts given inline are content hashes, so repeats merge."""

    source: str
    resolve_doc: ResolveDoc | None = None
    queries: dict[str, str] = field(default_factory=dict)
    positives: dict[str, dict[str, None]] = field(default_factory=dict)
    negatives: dict[str, dict[str, None]] = field(default_factory=dict)
    corpus: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    rows: int = 0
    _resolved: dict[str, str | None] = field(default_factory=dict)

    def warn(self, where: str, why: str) -> None:
        if len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(f"{where}: {why}")
        elif len(self.warnings) == _MAX_WARNINGS:
            self.warnings.append("... more malformed rows not listed")

    def add_query(self, text: str, qid: str | None = None) -> str:
        qid = qid if qid is not None else "q:" + _digest(text)
        self.queries.setdefault(qid, text)
        return qid

    def add_doc(self, text: str, doc_id: str | None = None) -> str:
        doc_id = doc_id if doc_id is not None else "t:" + _digest(text)
        self.corpus.setdefault(doc_id, text)
        return doc_id

    def judge(self, qid: str, doc_id: str, relevant: bool) -> None:
        target = self.positives if relevant else self.negatives
        target.setdefault(qid, {})[doc_id] = None

    def add_row(self, row: Mapping[str, Any], where: str) -> None:
        """One JSONL object or CSV record; anything unusable becomes a warning."""
        query = _text(row.get("query"))
        if query is None:
            return self.warn(where, "missing or empty 'query'")
        if row.get("positive") not in (None, ""):
            return self._add_triplet(query, row, where)
        if row.get("text") not in (None, ""):
            return self._add_labelled(query, row, where, by_id=False)
        if row.get("doc") not in (None, ""):
            return self._add_labelled(query, row, where, by_id=True)
        self.warn(where, "needs 'text' and 'label', 'positive' (and 'negative'), or 'doc' and 'label'")

    def _add_triplet(self, query: str, row: Mapping[str, Any], where: str) -> None:
        positive, negative = _text(row.get("positive")), _text(row.get("negative"))
        if positive is None:
            return self.warn(where, "'positive' is not a non-empty string")
        if row.get("negative") not in (None, "") and negative is None:
            return self.warn(where, "'negative' is not a non-empty string")
        qid = self.add_query(query)
        self.judge(qid, self.add_doc(positive), True)
        if negative is not None:
            self.judge(qid, self.add_doc(negative), False)
        self.rows += 1

    def _add_labelled(self, query: str, row: Mapping[str, Any], where: str, by_id: bool) -> None:
        relevant = _label(row.get("label"))
        if relevant is None:
            return self.warn(where, f"'label' must be 1 or 0, got {row.get('label')!r}")
        if by_id:
            doc_id = str(row["doc"]).strip()
            text = self._resolve(doc_id, where)
            if text is None:
                return
            doc_id = self.add_doc(text, doc_id)
        else:
            text = _text(row.get("text"))
            if text is None:
                return self.warn(where, "'text' is not a non-empty string")
            doc_id = self.add_doc(text)
        self.judge(self.add_query(query), doc_id, relevant)
        self.rows += 1

    def _resolve(self, doc_id: str, where: str) -> str | None:
        if self.resolve_doc is None:
            raise DataError(
                f"{where}: rows name documents by id ('doc'), which needs an index to read them from (pass --index NAME)"
            )
        if doc_id not in self._resolved:
            self._resolved[doc_id] = self.resolve_doc(doc_id)
        text = self._resolved[doc_id]
        if not text:
            self.warn(where, f"document {doc_id!r} not found in the index")
            return None
        return text

    def build(self) -> TrainingData:
        if self.rows == 0:
            detail = f"; first problem: {self.warnings[0]}" if self.warnings else ""
            raise DataError(f"{self.source}: no usable training rows ({len(self.warnings)} malformed){detail}")
        negatives = {q: tuple(d for d in docs if d not in self.positives.get(q, {})) for q, docs in self.negatives.items()}
        return TrainingData(
            queries=dict(self.queries),
            positives={q: tuple(d) for q, d in self.positives.items()},
            negatives={q: d for q, d in negatives.items() if d},
            corpus=dict(self.corpus),
            warnings=tuple(self.warnings),
            rows=self.rows,
            source=self.source,
        )


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _label(value: Any) -> bool | None:
    """1/0, true/false, or a graded score (> 0 is relevant); None when unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value > 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        try:
            return float(word) > 0
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------- readers


def load_training_data(path: str | Path, resolve_doc: ResolveDoc | None = None) -> TrainingData:
    """Read a JSONL/CSV file of pairs or triplets, or a BEIR directory (train qrels only)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir():
        return _load_beir(path)
    builder = _Builder(source=str(path), resolve_doc=resolve_doc)
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        rows = _jsonl_rows(path, builder)
    elif suffix in _CSV_SUFFIXES:
        rows = _csv_rows(path, _CSV_SUFFIXES[suffix])
    else:
        raise DataError(f"{path}: training data must be .jsonl, .csv, .tsv or a BEIR directory")
    for where, row in rows:
        builder.add_row(row, where)
    return builder.build()


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            yield from enumerate(fh, start=1)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def _jsonl_rows(path: Path, builder: _Builder) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in _read_lines(path):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            builder.warn(where, f"invalid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            builder.warn(where, "not a JSON object")
            continue
        yield where, row


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            if not reader.fieldnames or "query" not in [f.strip() for f in reader.fieldnames]:
                raise DataError(f"{path}: the first line must be a header naming a 'query' column")
            start = 2  # line 1 is the header; a quoted field may span lines
            for row in reader:
                where = f"{path.name}:{start}"
                start = reader.line_num + 1
                yield where, {(k or "").strip(): v for k, v in row.items()}
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def _load_beir(root: Path) -> TrainingData:
    qrels = root / "qrels" / "train.tsv"
    needed = [root / "corpus.jsonl", root / "queries.jsonl", qrels]
    missing = [str(p.relative_to(root)) for p in needed if not p.is_file()]
    if missing:
        raise DataError(f"{root}: not a BEIR directory with training judgements (missing {', '.join(missing)})")
    builder = _Builder(source=str(root))
    # The BEIR reader evaluation uses, and the indexer's record reader for the texts.
    corpus = corpus_texts(root / "corpus.jsonl")
    queries = read_queries(root / "queries.jsonl")
    for number, qid, doc_id, score in qrels_rows(qrels, lambda n, why: builder.warn(f"qrels/train.tsv:{n}", why)):
        _add_qrel(builder, qid, doc_id, str(score), f"qrels/train.tsv:{number}", queries, corpus)
    # Only the documents are a retrieval pool; the queries stay those with train judgements.
    builder.corpus = corpus
    return builder.build()


def _add_qrel(
    builder: _Builder,
    qid: str,
    doc_id: str,
    score: str,
    where: str,
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
) -> None:
    relevant = _label(score)
    if relevant is None:
        return builder.warn(where, f"score must be a number, got {score!r}")
    if qid not in queries:
        return builder.warn(where, f"query {qid!r} is not in queries.jsonl")
    if doc_id not in corpus:
        return builder.warn(where, f"document {doc_id!r} is not in corpus.jsonl")
    builder.add_query(queries[qid], qid)
    builder.judge(qid, doc_id, relevant)
    builder.rows += 1


