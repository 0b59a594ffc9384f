"""Split a document into windows that fit the model, on natural boundaries.

Pure functions over text and token offsets; the tokenizer is passed in, so the
windows are measured in the model's own tokens.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
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


WINDOW_CHARS = 64_000  # text tokenized at once: memory follows this, not the document's length


class TokenChunker:
    """Chunks texts with a model's fast tokenizer (``tokenizer.json``).

    Texts are tokenized a window at a time (short texts several to a window, a long one in windows
    that end at whitespace), so a document of any size or line length costs the memory of one
    window's tokens, not of the whole document's: the tokenizer keeps a dozen values per token.
    The window's last chunk is cut again from the start of the next window, so the chunks are those
    of the whole text."""

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
        out: list[list[ChunkSpan]] = [[] for _ in texts]
        for i, span in self.chunk_stream(texts):
            out[i].append(span)
        return out

    def chunk_stream(self, texts: Sequence[str], window: int = WINDOW_CHARS) -> Iterator[tuple[int, ChunkSpan]]:
        """(text number, chunk) in order, produced a window of text at a time."""
        group: list[int] = []
        size = 0
        for i, text in enumerate(texts):
            if len(text) > window:
                yield from self._group(texts, group)
                group, size = [], 0
                yield from ((i, span) for span in self._long(text, window))
                continue
            if size + len(text) > window:
                yield from self._group(texts, group)
                group, size = [], 0
            group.append(i)
            size += len(text)
        yield from self._group(texts, group)

    def _group(self, texts: Sequence[str], group: list[int]) -> Iterator[tuple[int, ChunkSpan]]:
        if not group:
            return
        encodings = self._tok.encode_batch([texts[i] for i in group], add_special_tokens=False)
        for i, enc in zip(group, encodings, strict=True):
            yield from ((i, span) for span in self._spans(texts[i], enc.offsets, enc.ids))

    def _long(self, text: str, window: int) -> Iterator[ChunkSpan]:
        pos, n = 0, len(text)
        while pos < n:
            end = _window_end(text, pos, window)
            piece = text[pos:end]
            enc = self._tok.encode(piece, add_special_tokens=False)
            spans = self._spans(piece, enc.offsets, enc.ids)
            restart = end - pos
            if end < n and len(spans) > 1:
                restart = spans[-1].start  # the cut chunk starts the next window
                spans = spans[:-1]
            for span in spans:
                yield ChunkSpan(span.start + pos, span.end + pos, span.text, span.tokens)
            pos += max(restart, 1)

    def _spans(self, text: str, offsets: Sequence[tuple[int, int]], ids: Sequence[int]) -> list[ChunkSpan]:
        spans = chunk_offsets(text, offsets, self.max_tokens, self.overlap)
        return [self._with_tokens(s, offsets, ids) for s in spans] if self._specials else spans

    def _with_tokens(self, span: ChunkSpan, offsets: Sequence[tuple[int, int]], ids: Sequence[int]) -> ChunkSpan:
        first = bisect_left(offsets, (span.start, -1))
        last = bisect_left(offsets, (span.end, -1), lo=first)
        while last < len(offsets) and offsets[last][1] <= span.end and offsets[last][0] < span.end:
            last += 1
        head, tail = self._specials  # type: ignore[misc]
        return ChunkSpan(span.start, span.end, span.text, (*head, *ids[first:last], *tail))


def _window_end(text: str, pos: int, window: int) -> int:
    """Where a window starting at ``pos`` ends: at the last whitespace in its second half, if any."""
    end = pos + window
    if end >= len(text):
        return len(text)
    cut = max(text.rfind(" ", pos + window // 2, end), text.rfind("\n", pos + window // 2, end))
    return cut if cut > pos else end


@lru_cache(maxsize=8)
def chunker_for(tokenizer_file: Path, chunk_tokens: int, overlap: int) -> TokenChunker:
    """The chunker an index uses: the model's own tokenizer, the index's window and overlap
    (one per process: loading a tokenizer costs more than chunking a small file)."""
    return TokenChunker(str(tokenizer_file), chunk_tokens, overlap)
