"""docsearch: semantic document search with a fine-tunable bi-encoder over Qdrant.

The public API, all importable from here::

    from docsearch import Settings, Index, Searcher, index_paths

    settings = Settings(index="notes")
    report = index_paths(settings, ["~/notes"])
    with Searcher.open(settings) as searcher:
        for hit in searcher.search("why is my sourdough flat", k=5, mode="hybrid"):
            print(hit.rank, hit.score, hit.path)

Everything else is private; heavy libraries (torch, Qdrant) load only when something needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .calibrate import Threshold, threshold_for
from .dupes import DupeGroup, DupeReport, find_dupes
from .encoders import Encoder, EncoderBase, SparseEncoder, load_encoder, load_query_encoder
from .errors import (
    ConfigError,
    DataError,
    DiskFullError,
    DocsearchError,
    IndexBusyError,
    IndexDamagedError,
    IndexNotFoundError,
    IngestError,
    Interrupted,
    ModelError,
    ModelMismatchError,
    StoreError,
)
from .index import Index, IndexInfo
from .indexer import IndexProgress, index_paths, update_index
from .ingest import PathRules
from .integrity import CheckReport, check_index
from .meta import IndexMeta, Lineage
from .model import ModelDir
from .plan import IndexPlan, plan_index
from .searcher import MODES, Searcher
from .settings import Settings, load_settings
from .similar import Comparison, DocChunks, Similar
from .tools import Tools
from .types import (
    BadRecord,
    Document,
    Excluded,
    Fusion,
    Hit,
    IndexReport,
    PartlyRead,
    RecordFields,
    Section,
    Skipped,
    SparseVector,
)
from .watch import WatchBatch, watch_paths

__all__ = [
    "MODES",
    "BadRecord",
    "CheckReport",
    "Comparison",
    "ConfigError",
    "DataError",
    "DiskFullError",
    "DocChunks",
    "DocsearchError",
    "Document",
    "DupeGroup",
    "DupeReport",
    "Encoder",
    "EncoderBase",
    "Excluded",
    "Fusion",
    "Hit",
    "Index",
    "IndexBusyError",
    "IndexDamagedError",
    "IndexInfo",
    "IndexMeta",
    "IndexNotFoundError",
    "IndexPlan",
    "IndexProgress",
    "IndexReport",
    "IngestError",
    "Interrupted",
    "Lineage",
    "ModelDir",
    "ModelError",
    "ModelMismatchError",
    "PartlyRead",
    "PathRules",
    "RecordFields",
    "Searcher",
    "Section",
    "Settings",
    "Similar",
    "Skipped",
    "SparseEncoder",
    "SparseVector",
    "StoreError",
    "Threshold",
    "Tools",
    "WatchBatch",
    "__version__",
    "check_index",
    "find_dupes",
    "index_paths",
    "load_encoder",
    "load_query_encoder",
    "load_settings",
    "plan_index",
    "threshold_for",
    "update_index",
    "watch_paths",
]
