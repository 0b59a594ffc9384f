"""docsearch: semantic document search with a fine-tunable bi-encoder over Qdrant."""

from __future__ import annotations

from .errors import (
    ConfigError,
    DataError,
    DocsearchError,
    IndexNotFoundError,
    IngestError,
    ModelError,
    ModelMismatchError,
    StoreError,
)
from .settings import Settings, load_settings
from .types import Document, Fusion, Hit, IndexReport, RecordFields, Skipped

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DocsearchError",
    "Document",
    "Fusion",
    "Hit",
    "IndexNotFoundError",
    "IndexReport",
    "IngestError",
    "ModelError",
    "ModelMismatchError",
    "RecordFields",
    "Settings",
    "Skipped",
    "StoreError",
    "__version__",
    "load_settings",
]
