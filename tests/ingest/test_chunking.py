from __future__ import annotations

import itertools
import re

import pytest

from docsearch.ingest.chunking import TokenChunker, chunk_offsets
from docsearch.model import ModelDir


def words(text: str) -> list[tuple[int, int]]:
    """A stand-in tokenizer: one token per word."""
    return [m.span() for m in re.finditer(r"\S+", text)]


def test_short_document_is_one_chunk() -> None:
    text = "One short paragraph. Two sentences."
    spans = chunk_offsets(text, words(text), max_tokens=50)
    assert [s.text for s in spans] == [text]


def test_empty_text_has_no_chunks() -> None:
    assert chunk_offsets("   ", [], max_tokens=10) == []


def test_windows_respect_the_budget_and_cover_the_text() -> None:
    text = " ".join(f"w{i}." if i % 7 == 6 else f"w{i}" for i in range(200))
    spans = chunk_offsets(text, words(text), max_tokens=30, overlap=5)
    assert all(len(words(s.text)) <= 30 for s in spans)
    assert spans[0].start == 0 and spans[-1].end == len(text)
    for a, b in itertools.pairwise(spans):
        assert b.start < a.end, "consecutive windows overlap"
        assert b.start > a.start, "windows advance"


def test_cuts_prefer_paragraph_then_sentence_boundaries() -> None:
    para1 = " ".join(["alpha"] * 18) + "."
    para2 = " ".join(["beta"] * 18) + "."
    text = para1 + "\n\n" + para2
    spans = chunk_offsets(text, words(text), max_tokens=25)
    assert spans[0].text == para1
    assert spans[1].text == para2

    text = "The first sentence here has eight words. " + " ".join(["word"] * 10) + ". Third one ends."
    spans = chunk_offsets(text, words(text), max_tokens=12)
    assert spans[0].text.endswith(".")


def test_overlap_starts_at_a_sentence_when_possible() -> None:
    sentences = [f"Sentence number {i} has some words in it." for i in range(12)]
    text = " ".join(sentences)
    spans = chunk_offsets(text, words(text), max_tokens=24, overlap=8)
    assert len(spans) > 2
    assert all(s.text.startswith("Sentence") for s in spans)


def test_real_tokenizer_windows_fit_the_model() -> None:
    from tokenizers import Tokenizer

    path = str(ModelDir.resolve("all-MiniLM-L6-v2").tokenizer_file)
    chunker = TokenChunker(path, max_tokens=64, overlap=8)
    text = "\n\n".join(" ".join(f"token{i}x{j}" for j in range(30)) + "." for i in range(6))
    spans = chunker.chunk_many([text, "tiny"])
    assert [s.text for s in spans[1]] == ["tiny"]
    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.no_truncation()
    assert all(len(tok.encode(s.text).ids) <= 64 for s in spans[0])  # with [CLS] and [SEP]
    assert len(spans[0]) > 1


def test_rejects_a_zero_budget() -> None:
    with pytest.raises(ValueError):
        chunk_offsets("text", [(0, 4)], max_tokens=0)
