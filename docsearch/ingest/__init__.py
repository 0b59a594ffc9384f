"""From files to chunks: ``walk`` finds sources (and accounts for every path it passes over),
``read_source`` turns one into documents (plain text, Markdown, HTML, PDF, code, JSONL/CSV
records, office files, e-books and mail, gzip-compressed or not), ``chunker_for`` cuts documents into windows of the model's own
tokens."""

from __future__ import annotations

from .chunking import TokenChunker, chunker_for
from .files import Reading, content_hash, read_documents, read_source
from .formats import SUPPORTED_SUFFIXES
from .ignore import PathRules
from .walk import walk

__all__ = [
    "SUPPORTED_SUFFIXES",
    "PathRules",
    "Reading",
    "TokenChunker",
    "chunker_for",
    "content_hash",
    "read_documents",
    "read_source",
    "walk",
]
