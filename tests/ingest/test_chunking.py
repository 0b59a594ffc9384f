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


def _prose(sentences: int, seed: int = 0) -> str:
    import random

    rng = random.Random(seed)
    words = ["tomato", "bread", "river", "stone", "Garden", "light", "mirror", "x1", "semi-colon", "flour"]
    ends = [". ", "! ", "; ", " ", ", ", "\n\n"]
    return "".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 20))) + rng.choice(ends)
                   for _ in range(sentences))


def test_windows_of_a_long_text_give_the_chunks_of_the_whole_text() -> None:
    chunker = TokenChunker(str(ModelDir.resolve("all-MiniLM-L6-v2").tokenizer_file), max_tokens=256, overlap=32)
    texts = [_prose(3000, seed=1), "a short one", _prose(40, seed=2), _prose(2000, seed=3).replace("\n", " ")]
    whole = list(chunker.chunk_stream(texts, window=10**9))
    assert list(chunker.chunk_stream(texts, window=4000)) == whole
    assert [s for s in whole if s[0] == 1] == [(1, chunker.chunk_many(["a short one"])[0][0])]


@pytest.mark.slow
def test_a_long_single_line_is_chunked_in_bounded_memory() -> None:
    import tracemalloc

    chunker = TokenChunker(str(ModelDir.resolve("all-MiniLM-L6-v2").tokenizer_file), max_tokens=256, overlap=32)
    text = _prose(20_000, seed=4).replace("\n", " ")  # about 1.4 MB on one line
    tracemalloc.start()
    try:
        count = sum(1 for _ in chunker.chunk_stream([text]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count > 300
    # The whole line's offsets alone would be ~40 MB of Python tuples; a window's are ~2 MB.
    assert peak < 16 << 20, f"peak {peak >> 20} MB"
