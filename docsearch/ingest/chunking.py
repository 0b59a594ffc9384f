"""Split a document into windows that fit the model, on natural boundaries.

Pure functions over text and token offsets; the tokenizer is passed in, so the
windows are measured in the model's own tokens.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from ..types import ChunkSpan

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+|\n")


def boundaries(text: str) -> tuple[list[int], list[int]]:
    """Character positions where a paragraph or a sentence starts."""
    paragraphs = [m.end() for m in _PARAGRAPH.finditer(text)]
    sentences = sorted(set(paragraphs) | {m.end() for m in _SENTENCE.finditer(text)})
    return paragraphs, sentences


def chunk_offsets(
    text: str,
    offsets: Sequence[tuple[int, int]],
    max_tokens: int,
    overlap: int = 0,
) -> list[ChunkSpan]:
    """Windows of at most ``max_tokens`` tokens over ``text``.

    ``offsets`` are the (start, end) character spans of the text's tokens, with
    no special tokens. A window ends at the last paragraph break that keeps it
    at least half full, else at the last sentence end, else mid-sentence; the
    next window starts ``overlap`` tokens earlier, moved to a sentence start
    when one is near.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    overlap = max(0, min(overlap, max_tokens // 2))
    n = len(offsets)
    if n <= max_tokens:
        return [ChunkSpan(0, len(text), text)] if text.strip() else []
    starts = [s for s, _ in offsets]
    paragraphs, sentences = boundaries(text)
    # Token index at which each boundary falls: the first token starting at or after it.
    para_tok = sorted({bisect_left(starts, c) for c in paragraphs})
    sent_tok = sorted({bisect_left(starts, c) for c in sentences})
    spans: list[ChunkSpan] = []
    first = 0
    while first < n:
        last = min(first + max_tokens, n)  # exclusive token end
        if last < n:
            last = _best_cut(first, last, max_tokens, para_tok, sent_tok)
            last = _word_start(offsets, last, first)
        spans.append(_span(text, offsets, first, last))
        if last >= n:
            break
        first = _next_start(offsets, first, last, overlap, sent_tok)
    return spans


def _best_cut(first: int, hard: int, max_tokens: int, para_tok: list[int], sent_tok: list[int]) -> int:
    floor = first + max_tokens // 2
    for cuts in (para_tok, sent_tok):
        i = bisect_right(cuts, hard) - 1
        if i >= 0 and cuts[i] > floor:
            return cuts[i]
    return hard


def _word_start(offsets: Sequence[tuple[int, int]], cut: int, first: int) -> int:
    """Move a cut back to the start of a word, so no word is split between windows."""
    for i in range(cut, max(first + 1, cut - 16), -1):
        if offsets[i][0] > offsets[i - 1][1]:  # whitespace before token i: a word starts there
            return i
    return cut


def _next_start(
    offsets: Sequence[tuple[int, int]], first: int, last: int, overlap: int, sent_tok: list[int]
) -> int:
    if overlap == 0:
        return last
    target = last - overlap
    # Prefer a sentence start inside the overlap region, so chunks start cleanly.
    i = bisect_left(sent_tok, target)
    start = sent_tok[i] if i < len(sent_tok) and sent_tok[i] < last else _word_start(offsets, target, first)
    return max(start, first + 1)



def _span(text: str, offsets: Sequence[tuple[int, int]], first: int, last: int) -> ChunkSpan:
    start, end = offsets[first][0], offsets[last - 1][1]
    return ChunkSpan(start, end, text[start:end])


class TokenChunker:
    """Chunks texts with a model's fast tokenizer (``tokenizer.json``)."""

    def __init__(self, tokenizer_json: str, max_tokens: int, overlap: int, special_tokens: int = 2) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(tokenizer_json)
        self._tok.no_truncation()
        self._tok.no_padding()
        self.max_tokens = max_tokens - special_tokens  # room for [CLS] and [SEP]
        self.overlap = overlap
        # The ids the model's template wraps around every text, e.g. [CLS] ... [SEP].
        wrap = self._tok.encode("", add_special_tokens=True).ids
        self._specials: tuple[tuple[int, ...], tuple[int, ...]] | None = (
            ((wrap[0],), tuple(wrap[1:])) if len(wrap) == special_tokens == 2 else None)

    def chunk_many(self, texts: Sequence[str]) -> list[list[ChunkSpan]]:
        """Windows per text, each with the model's token ids (special tokens added), so the
        encoder need not tokenize again."""
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=False)
        out = []
        for text, enc in zip(texts, encodings, strict=True):
            offsets, ids = enc.offsets, enc.ids
            spans = chunk_offsets(text, offsets, self.max_tokens, self.overlap)
            out.append([self._with_tokens(s, offsets, ids) for s in spans] if self._specials else spans)
        return out

    def _with_tokens(self, span: ChunkSpan, offsets: Sequence[tuple[int, int]], ids: Sequence[int]) -> ChunkSpan:
        first = bisect_left(offsets, (span.start, -1))
        last = bisect_left(offsets, (span.end, -1), lo=first)
        while last < len(offsets) and offsets[last][1] <= span.end and offsets[last][0] < span.end:
            last += 1
        head, tail = self._specials
        return ChunkSpan(span.start, span.end, span.text, (*head, *ids[first:last], *tail))


@lru_cache(maxsize=8)
def chunker_for(tokenizer_file: Path, chunk_tokens: int, overlap: int) -> TokenChunker:
    """The chunker an index uses: the model's own tokenizer, the index's window and overlap
    (one per process: loading a tokenizer costs more than chunking a small file)."""
    return TokenChunker(str(tokenizer_file), chunk_tokens, overlap)
