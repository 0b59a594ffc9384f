"""docsearch.auto: the auto mode picks its fusion per index from the index's own text. Fast: fake encoders."""

from __future__ import annotations

import random
from pathlib import Path

from fakes import FakeEncoder, NoiseEncoder
from helpers import write_files

from docsearch import Index, Searcher, Settings, update_index
from docsearch.auto import DEFAULT, LEXICAL, pseudo_queries

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qu", "fa"]


def _words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(3)) for _ in range(n))


def _random_corpus(root: Path, docs: int = 60) -> Path:
    """Documents of made-up words, a few sentences each: only exact words connect a query to them."""
    rng = random.Random(1)
    return write_files(root, {f"d{i:03}.txt": ". ".join(_words(rng, 8) for _ in range(4)) + "." for i in range(docs)})


def _index(tmp_path: Path, root: Path, encoder: FakeEncoder) -> Settings:
    settings = Settings(home=tmp_path / "home", index="t")
    with Index.open_or_create(settings) as index:
        update_index(index, [root], encoder=encoder)
    return settings


def test_pseudo_queries_are_sentences_of_their_own_documents() -> None:
    sample = [("a", "Short. This sentence has more than six words in it. Tiny."), ("b", "No usable sentence here.")]
    assert pseudo_queries(sample, 5) == [("This sentence has more than six words in it.", "a")]


def test_a_useless_dense_side_makes_auto_follow_bm25(tmp_path: Path) -> None:
    root = _random_corpus(tmp_path / "docs")
    settings = _index(tmp_path, root, NoiseEncoder())
    with Index.open(settings) as index:
        assert index.meta.auto == LEXICAL and "far less often than BM25" in index.meta.auto_reason
    target = (root / "d017.txt").read_text().split(". ")[2]
    with Searcher(Index.open(settings), NoiseEncoder()) as searcher:
        assert searcher.answering("auto") == ("auto", LEXICAL)
        assert searcher.search(target, k=3, mode="auto")[0].path == "d017.txt"
        assert searcher.search(target, k=3, mode="sparse")[0].path == "d017.txt"


def test_two_useful_sides_keep_the_default_and_it_survives_a_reopen(tmp_path: Path) -> None:
    settings = _index(tmp_path, _random_corpus(tmp_path / "docs"), FakeEncoder())
    with Index.open(settings) as index:
        assert index.meta.auto == DEFAULT and index.meta.auto_reason.startswith("default (pseudo-query MRR@10")


def test_queries_sharing_no_word_with_the_answer_follow_the_dense_side(tmp_path: Path) -> None:
    synonyms = {"automobile": "car", "repair": "fix"}
    docs = {"cars.txt": "How to fix a car that will not start in winter.",
            "bikes.txt": "How to oil a bicycle chain before a long ride.",
            "boats.txt": "How to paint a wooden boat hull in spring."}
    root = write_files(tmp_path / "docs", docs)
    settings = _index(tmp_path, root, FakeEncoder(synonyms=synonyms))
    with Searcher(Index.open(settings), FakeEncoder(synonyms=synonyms)) as searcher:
        assert searcher.search("automobile repair", k=1, mode="sparse") == []
        assert searcher.search("automobile repair", k=1, mode="auto")[0].path == "cars.txt"
