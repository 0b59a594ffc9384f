"""The formats evaluation reads and writes: BEIR directories (``corpus.jsonl``,
``queries.jsonl``, ``qrels/SPLIT.tsv``), seeded query samples and dev splits of them, and
TREC run files any other scorer reads.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError, DataError, IngestError
from ..ingest import read_documents
from ..types import Source
from .metrics import _ranked

DEV_FRACTION = 0.2
DEV_MAX = 200
SEED = 13

Qrels = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class BeirData:
    """One split of a BEIR directory: the judged queries (those with a relevant document) and their qrels."""
    root: Path
    name: str
    split: str
    corpus: Path
    queries: Mapping[str, str]
    qrels: Qrels


def load_beir(path: str | os.PathLike[str], split: str = "test") -> BeirData:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/SPLIT.tsv`` (header line optional)."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: not a BEIR directory (expected corpus.jsonl, queries.jsonl, qrels/)")
    corpus, queries_file, qrels_file = root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"
    for needed in (corpus, queries_file):
        if not needed.is_file():
            raise DataError(f"{root}: no {needed.name}; a BEIR directory holds corpus.jsonl, queries.jsonl, qrels/")
    if not qrels_file.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        raise DataError(f"{root}: no qrels for split {split!r} (have: {', '.join(have) or 'none'})")
    qrels = read_qrels(qrels_file)
    judged = {q for q, rel in qrels.items() if any(r > 0 for r in rel.values())}
    if not judged:
        raise DataError(f"{qrels_file}: no query has a relevant document")
    queries = read_queries(queries_file, judged)
    missing = sorted(judged - set(queries))
    if missing:
        raise DataError(f"{queries_file}: {len(missing)} judged queries have no text, e.g. {', '.join(missing[:3])}")
    ordered = {q: queries[q] for q in sorted(judged, key=natural_key)}
    return BeirData(root, slug(root.resolve().name), split, corpus, ordered, {q: qrels[q] for q in ordered})


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id corpus-id score`` rows (tab or space separated; TREC's 4-column form too); a
    malformed row is an error."""
    qrels: dict[str, dict[str, int]] = {}
    for _, qid, doc, rel in qrels_rows(path):
        qrels.setdefault(qid, {})[doc] = rel
    if not qrels:
        raise DataError(f"{path}: no qrels rows")
    return qrels


def qrels_rows(path: Path, on_bad: Callable[[int, str], None] | None = None) -> Iterator[tuple[int, str, str, int]]:
    """(line number, query id, document id, score) per row; a malformed row goes to ``on_bad``
    (line number, reason) and is skipped, or raises when there is no ``on_bad``."""
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            parts = line.split("\t") if "\t" in line else line.split()
            parts = [p.strip() for p in parts]
            if not any(parts):
                continue
            if len(parts) == 4:
                parts = [parts[0], parts[2], parts[3]]
            try:
                yield number, parts[0], parts[1], int(parts[2])
            except (IndexError, ValueError):
                if number == 1:
                    continue  # the header line
                reason = f"expected 'query-id<TAB>corpus-id<TAB>score', got {line.strip()!r}"
                if on_bad is None:
                    raise DataError(f"{path}:{number}: {reason}") from None
                on_bad(number, reason)


def read_queries(path: Path, wanted: set[str] | None = None) -> dict[str, str]:
    """``_id`` -> text of the wanted queries (all with ``None``) in a BEIR ``queries.jsonl``."""
    queries: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                qid, text = str(row["_id"]), str(row["text"])
            except (ValueError, KeyError, TypeError):
                raise DataError(f"{path}:{number}: expected a JSON object with '_id' and 'text'") from None
            if (wanted is None or qid in wanted) and text.strip():
                queries[qid] = text
    return queries


def corpus_texts(path: Path) -> dict[str, str]:
    """Document id -> the text docsearch embeds for it, read by the indexer's own record reader,
    so indexing, evaluation and training see one definition of a record's text."""
    st = path.stat()
    source = Source(str(path.resolve()), path.name, st.st_size, st.st_mtime_ns)
    try:
        return {d.doc_id: d.body for d in read_documents(source)}
    except IngestError as exc:
        raise DataError(f"{path}: {exc}") from None


def natural_key(key: str) -> tuple[int | str, ...]:
    """Ids in natural order: q2 before q10. Split parts alternate text, number, so any two compare."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key))


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.").lower() or "dataset"


def sample_queries(data: BeirData, n: int | None, seed: int = SEED, exclude: Sequence[str] = ()) -> BeirData:
    """A seeded subset of ``n`` queries (all when ``n`` is None or larger), never one in ``exclude``."""
    banned = set(exclude)
    qids = [q for q in data.queries if q not in banned]
    if n is not None and n < len(qids):
        if n < 1:
            raise ConfigError("the number of queries must be at least 1")
        keep = set(random.Random(seed).sample(qids, n))
        qids = [q for q in qids if q in keep]
    return replace(data, queries={q: data.queries[q] for q in qids}, qrels={q: data.qrels[q] for q in qids})


def dev_split(train: BeirData, fraction: float = DEV_FRACTION, cap: int = DEV_MAX, seed: int = SEED,
              exclude: Sequence[str] = ()) -> BeirData:
    """A seeded ``fraction`` of the train queries, at most ``cap``, for choosing hyper-parameters."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"the dev fraction must be in (0, 1], got {fraction}")
    banned = set(exclude)
    pool = sum(1 for q in train.queries if q not in banned)
    if pool == 0:
        raise DataError(f"{train.root}: no {train.split} queries left to carve a dev split from")
    n = min(cap, max(1, round(fraction * pool)))
    return replace(sample_queries(train, n, seed, exclude), split=f"{train.split}-dev")


# --------------------------------------------------------------------------- TREC run files


def write_run(path: str | os.PathLike[str], run: Mapping[str, Mapping[str, float]], tag: str) -> Path:
    """TREC run format, ``qid Q0 docid rank score tag``, written atomically."""
    out = Path(path)
    _no_space(tag, "run tag")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(_trec_lines(run, tag))
    os.replace(tmp, out)  # a reader never sees half a file
    return out


def _trec_lines(run: Mapping[str, Mapping[str, float]], tag: str) -> Iterator[str]:
    for qid in sorted(run, key=natural_key):
        _no_space(qid, "query id")
        for rank, doc in enumerate(_ranked(run[qid], len(run[qid])), start=1):
            _no_space(doc, "document id")
            yield f"{qid} Q0 {doc} {rank} {run[qid][doc]:.6f} {tag}\n"


def _no_space(value: str, what: str) -> None:
    if not value or re.search(r"\s", value):
        raise DataError(f"{what} {value!r} is empty or holds whitespace: a TREC run cannot carry it")
