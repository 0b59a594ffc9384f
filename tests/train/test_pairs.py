"""Reading training data: every row format, malformed rows with line numbers, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docsearch.errors import DataError
from docsearch.train.pairs import load_training_data

SCIFACT = Path(__file__).resolve().parents[3] / "shared/datasets/scifact"


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_text_label_rows(tmp_path: Path) -> None:
    data = load_training_data(
        write_jsonl(
            tmp_path / "pairs.jsonl",
            [
                {"query": "q one", "text": "doc a", "label": 1},
                {"query": "q one", "text": "doc b", "label": 0},
                {"query": "q two", "text": "doc a", "label": "1"},
                {"query": "q two", "text": "doc c", "label": False},
            ],
        )
    )
    assert data.rows == 4 and len(data.queries) == 2 and len(data.corpus) == 3
    by_text = {text: qid for qid, text in data.queries.items()}
    docs = {text: did for did, text in data.corpus.items()}
    assert data.positives[by_text["q one"]] == (docs["doc a"],)
    assert data.negatives[by_text["q one"]] == (docs["doc b"],)
    assert data.positives[by_text["q two"]] == (docs["doc a"],)  # same text, same id
    assert data.negatives[by_text["q two"]] == (docs["doc c"],)
    assert data.warnings == ()


def test_triplets_with_and_without_negative(tmp_path: Path) -> None:
    data = load_training_data(
        write_jsonl(
            tmp_path / "t.jsonl",
            [
                {"query": "q", "positive": "good", "negative": "bad"},
                {"query": "r", "positive": "fine"},
            ],
        )
    )
    counts = data.counts()
    assert counts["positive_pairs"] == 2 and counts["labelled_negative_pairs"] == 1 and counts["corpus"] == 3


def test_doc_id_rows_are_resolved(tmp_path: Path) -> None:
    texts = {"d1": "first document", "d2": "second document"}
    asked: list[str] = []

    def resolve(doc_id: str) -> str | None:
        asked.append(doc_id)
        return texts.get(doc_id)

    path = write_jsonl(
        tmp_path / "ids.jsonl",
        [
            {"query": "q", "doc": "d1", "label": 1},
            {"query": "q", "doc": "d2", "label": 0},
            {"query": "r", "doc": "d1", "label": 1},
            {"query": "r", "doc": "gone", "label": 1},
        ],
    )
    data = load_training_data(path, resolve_doc=resolve)
    assert data.corpus == {"d1": "first document", "d2": "second document"}
    assert data.rows == 3
    assert asked.count("d1") == 1  # looked up once
    assert data.warnings == ("ids.jsonl:4: document 'gone' not found in the index",)


def test_doc_id_rows_need_a_resolver(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ids.jsonl", [{"query": "q", "doc": "d1", "label": 1}])
    with pytest.raises(DataError, match="--index"):
        load_training_data(path)


def test_malformed_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"query": "q", "text": "ok", "label": 1},
            "{not json",
            {"query": "q", "text": "no label"},
            {"query": "q", "text": "bad label", "label": "maybe"},
            "",
            {"text": "no query", "label": 1},
            "[1, 2]",
            {"query": "q", "positive": 7},
        ],
    )
    data = load_training_data(path)
    assert data.rows == 1
    lines = [w.split(":")[1] for w in data.warnings]
    assert lines == ["2", "3", "4", "6", "7", "8"]
    assert all(w.startswith("mixed.jsonl:") for w in data.warnings)
    assert "invalid JSON" in data.warnings[0] and "'label'" in data.warnings[1]


def test_no_usable_rows_is_an_error_before_training(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", ["{oops", {"query": "", "text": "x", "label": 1}])
    with pytest.raises(DataError, match="no usable training rows") as err:
        load_training_data(path)
    assert "bad.jsonl:1" in str(err.value)


def test_csv_rows_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(
        'query,text,label\nq one,"a text\nover two lines",1\nq one,another,0\nq two,,1\nq two,third,2\n',
        encoding="utf-8",
    )
    data = load_training_data(path)
    assert data.rows == 3
    assert data.warnings == ("pairs.csv:5: needs 'text' and 'label', 'positive' (and 'negative'), or 'doc' and 'label'",)
    assert "a text\nover two lines" in data.corpus.values()


def test_csv_without_query_header(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="header"):
        load_training_data(path)


def test_missing_and_unsupported_paths(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_training_data(tmp_path / "absent.jsonl")
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match="must be"):
        load_training_data(tmp_path / "x.parquet")
    with pytest.raises(DataError, match="BEIR"):
        load_training_data(tmp_path)


def make_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    write_jsonl(
        root / "corpus.jsonl",
        [{"_id": "d1", "title": "T1", "text": "one"}, {"_id": "d2", "title": "", "text": "two"}, {"_id": "d3", "text": "three"}],
    )
    queries = [{"_id": "q1", "text": "first?"}, {"_id": "q2", "text": "second?"}, {"_id": "q9", "text": "test only"}]
    write_jsonl(root / "queries.jsonl", queries)
    (root / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td3\t1\nq2\tmissing\t1\nbroken line\n", encoding="utf-8"
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq9\td2\t1\n", encoding="utf-8")
    return root


def test_beir_reads_train_qrels_only(tmp_path: Path) -> None:
    data = load_training_data(make_beir(tmp_path / "beir"))
    assert set(data.queries) == {"q1", "q2"}  # q9 is judged only in test.tsv: never read
    assert data.positives == {"q1": ("d1",), "q2": ("d3",)}
    assert data.negatives == {"q1": ("d2",)}
    # The whole corpus is the pool, each text as docsearch indexes it (title, blank line, text).
    assert data.corpus == {"d1": "T1\n\none", "d2": "two", "d3": "three"}
    assert [w.split(":")[1] for w in data.warnings] == ["5", "6"]


def test_beir_without_train_qrels(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "beir")
    (root / "qrels" / "train.tsv").unlink()
    with pytest.raises(DataError, match=r"qrels/train\.tsv"):
        load_training_data(root)


@pytest.mark.skipif(not SCIFACT.is_dir(), reason="SciFact not present")
def test_scifact_train_split() -> None:
    data = load_training_data(SCIFACT)
    counts = data.counts()
    assert counts["rows"] == 919 and counts["queries"] == 809 and counts["corpus"] == 5183
    assert data.warnings == ()
