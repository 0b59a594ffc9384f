"""An index: one folder that owns its metadata, manifest, store, model check and fusion settings.

``index.json`` records what reproduces and checks the index (model name, id and weight
fingerprint, vector size, variant, chunking, fusion, sparse encoder, documents per language, store
backend, encoder backends, docsearch version). The manifest (SQLite) records each source. The
store holds the vectors, in an Edge shard inside the folder or in a collection on a Qdrant server.

Every part of docsearch that touches an index (indexer, searcher, eval, the interactive session,
training from feedback) goes through :class:`Index`, so the on-disk format lives here alone.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from . import __version__
from . import languages as lang
from .encoders.sparse import DEFAULT_SPARSE_ID, SparseEncoder, sparse_encoder, sparse_id
from .errors import IndexNotFoundError, ModelError, ModelMismatchError
from .manifest import Manifest
from .model import ModelDir
from .settings import Settings
from .store import Store, open_store
from .types import Fusion

META_FILE = "index.json"


@dataclass(frozen=True)
class IndexMeta:
    name: str
    model: str  # what the user named (bundled name or absolute directory)
    model_id: str
    fingerprint: str
    dim: int
    variant: str
    chunk_tokens: int
    overlap: int
    backend: str = "edge"  # edge | server
    collection: str = ""
    embedder: str = "torch"  # the backend that created the index: the reference for the others
    embedders: tuple[str, ...] = ()  # every backend that has embedded chunks here, once admitted
    fusion: Fusion = field(default_factory=Fusion)
    sparse: str = DEFAULT_SPARSE_ID  # the sparse encoder that made the BM25 vectors; "" for none
    # Documents per detected language ("und": undetermined), most first; None for an index made
    # before languages were detected (its BM25 is English, and nothing is known to warn about).
    languages: dict[str, int] | None = None
    version: str = ""
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fusion"] = asdict(self.fusion)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexMeta:
        data = dict(data)
        fusion = data.pop("fusion", None) or {}
        fusion["weights"] = tuple(fusion.get("weights", (1.0, 1.0)))
        data["embedders"] = tuple(data.get("embedders") or (data.get("embedder", "torch"),))
        data.setdefault("sparse", "")  # written before sparse vectors were recorded: assume none
        known = {f for f in cls.__dataclass_fields__}
        return cls(fusion=Fusion(**fusion), **{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class IndexInfo:
    name: str
    path: str
    meta: IndexMeta
    sources: int
    documents: int
    chunks: int
    points: int
    bytes_on_disk: int
    model_languages: tuple[str, ...] | None = None  # as the model's card says; None: unknown
    warnings: tuple[str, ...] = ()


def read_meta(index_dir: Path) -> IndexMeta:
    path = index_dir / META_FILE
    if not path.is_file():
        raise IndexNotFoundError(
            f"no index {index_dir.name!r} in {index_dir.parent} (create it with: docsearch index PATH --index {index_dir.name})"
        )
    return IndexMeta.from_json(json.loads(path.read_text()))


def write_meta(index_dir: Path, meta: IndexMeta) -> None:
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta.to_json(), indent=2) + "\n")
    os.replace(tmp, index_dir / META_FILE)  # atomic: a crash never leaves half a file


class Index:
    """An open index. ``Index.open`` for one that exists, ``Index.create`` for a new one; the store
    and manifest open on first use, and ``close`` closes what was opened."""

    def __init__(self, settings: Settings, meta: IndexMeta, writable: bool = False) -> None:
        self.settings = settings
        self.meta = meta
        self.writable = writable  # a writer creates the store on first use; a reader requires it
        self._store: Store | None = None
        self._manifest: Manifest | None = None

    # --- opening ---------------------------------------------------------------------------

    @staticmethod
    def exists(settings: Settings) -> bool:
        return (settings.index_dir / META_FILE).is_file()

    @classmethod
    def open(cls, settings: Settings, model: ModelDir | None = None) -> Index:
        """An existing index; a model given (or named in ``settings.model``) must be the index's own."""
        index = cls(settings, read_meta(settings.index_dir))
        if model is None and settings.model is not None:
            model = ModelDir.resolve(settings.model)
        if model is not None:
            index.check_model(model.id, model.fingerprint, model.name)
        return index

    @classmethod
    def create(cls, settings: Settings, model: ModelDir) -> Index:
        """A new, empty index for ``model``, chunked as ``settings`` say (capped at the model's window)."""
        limit = model.max_seq_length
        meta = IndexMeta(
            name=settings.index, model=model.name, model_id=model.id, fingerprint=model.fingerprint, dim=model.dim,
            variant=model.variant, chunk_tokens=min(settings.chunk_tokens or limit, limit), overlap=settings.overlap,
            backend="server" if settings.qdrant_url else "edge", collection=f"docsearch-{settings.index}",
            embedder=settings.backend, embedders=(settings.backend,), version=__version__, created=time.time(),
        )
        write_meta(settings.index_dir, meta)
        return cls(settings, meta, writable=True)

    @classmethod
    def open_or_create(cls, settings: Settings, rebuild: bool = False) -> Index:
        """What ``docsearch index`` works on: the existing index (its model checked against a named
        one), or a new one for the named model or the default."""
        if rebuild:
            drop(settings)
        if cls.exists(settings):
            index = cls.open(settings)
            index.writable = True
            return index
        return cls.create(settings, ModelDir.resolve(settings.model_or_default))

    # --- parts -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def dir(self) -> Path:
        return self.settings.index_dir

    @property
    def model(self) -> ModelDir:
        return ModelDir.resolve(self.meta.model)

    @property
    def store(self) -> Store:
        if self._store is None:
            s = self.settings
            self._store = open_store(self.dir, self.meta.dim, s.qdrant_url, s.qdrant_api_key, self.meta.collection,
                                     create=self.writable)
        return self._store

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = Manifest(self.dir)
        return self._manifest

    def sparse_encoder(self, encoder_id: str | None = None) -> SparseEncoder:
        """The sparse encoder of this index's BM25 vectors (or the one named)."""
        return sparse_encoder(encoder_id or self.meta.sparse or DEFAULT_SPARSE_ID)

    @property
    def current_sparse(self) -> str:
        """The sparse encoder this index's vectors should come from now: the BM25 of each language
        its documents are in (English alone for an index whose languages are unknown)."""
        return sparse_id(self.languages)

    @property
    def has_sparse(self) -> bool:
        """Whether every chunk has the BM25 vector its document's language calls for. Each run
        records the languages and the sparse id together, so they differ only for an index made
        before BM25 vectors, or before a language's BM25 changed: the next run recomputes them."""
        return self.meta.sparse == self.current_sparse

    # --- languages ---------------------------------------------------------------------------

    @property
    def languages(self) -> dict[str, int]:
        """Documents per detected language, most first ("und": undetermined); {} when unknown."""
        return dict(self.meta.languages or {})

    @property
    def main_language(self) -> str | None:
        """The language most documents are in; None when unknown."""
        return lang.main_language(self.languages)

    @cached_property
    def model_languages(self) -> tuple[str, ...] | None:
        """The languages the index's model covers, as its card says; None when unknown."""
        try:
            return self.model.languages
        except (ModelError, OSError):  # a model folder since moved: nothing known
            return None

    @property
    def uncovered_share(self) -> float:
        """The share of documents (with a detected language) in languages the model does not cover:
        0.0 for an English corpus and an English model, or when either side is unknown."""
        return lang.uncovered_share(self.languages, self.model_languages)

    @property
    def covers_language(self) -> bool:
        """Whether the model covers the index's main language and all but a small share of its
        documents (unknown counts as covered). False means the dense side will rank poorly here
        and the lexical (BM25) side should lead."""
        return self.language_warning is None

    @property
    def language_warning(self) -> str | None:
        """One line for the user when the model does not cover the corpus's language(s)."""
        # The model's own name: a bundled name as it is, a folder by its last part.
        return lang.coverage_warning(self.languages, self.model_languages, Path(self.meta.model).name)

    # --- checks and changes ------------------------------------------------------------------

    def check_model(self, model_id: str, fingerprint: str, name: str | None = None) -> None:
        """Refuse to mix vectors of two models in one index."""
        meta = self.meta
        if meta.fingerprint != fingerprint:
            raise ModelMismatchError(
                f"index {meta.name!r} was built with {meta.model_id} (weights {meta.fingerprint}), "
                f"not {model_id} (weights {fingerprint}); use --model {meta.model} to search it, "
                f"or rebuild it with: docsearch index PATH --index {meta.name} --model {name or model_id} --rebuild"
            )

    def update(self, **changes: Any) -> IndexMeta:
        """Change recorded metadata (atomically on disk)."""
        self.meta = replace(self.meta, **changes)
        write_meta(self.dir, self.meta)
        return self.meta

    def set_fusion(self, fusion: Fusion) -> IndexMeta:
        """Store tuned fusion settings with the index."""
        return self.update(fusion=fusion)

    def info(self) -> IndexInfo:
        sources, documents, chunks = self.manifest.totals()
        # Allocated blocks, not apparent size: Qdrant preallocates sparse mmap files.
        size = sum(p.stat().st_blocks * 512 for p in self.dir.rglob("*") if p.is_file())
        warning = self.language_warning
        return IndexInfo(self.name, str(self.dir), self.meta, sources, documents, chunks, self.store.count(), size,
                         self.model_languages, (warning,) if warning else ())

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def drop(settings: Settings) -> None:
    """Remove an index: its folder, and its collection when it lives on a server."""
    index_dir = settings.index_dir
    if settings.qdrant_url and (index_dir / META_FILE).is_file():
        meta = read_meta(index_dir)
        open_store(index_dir, meta.dim, settings.qdrant_url, settings.qdrant_api_key, meta.collection).drop()
    if index_dir.exists():
        shutil.rmtree(index_dir)
