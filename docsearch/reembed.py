"""Re-embed an index with another model beside the live one, switch atomically, roll back.

An index folder after a switch::

    indexes/NAME/index.json           the live index; its ``data`` names the live data folder
    indexes/NAME/index.prev.json      what the last switch replaced: one rollback restores it
    indexes/NAME/generations/STAMP/   data folders made by re-embedding (shard/, manifest.sqlite)
    indexes/NAME/reembed.json         a re-embedding under way (removed by its switch)
    indexes/NAME/models/STAMP/        models learned from the index's judgements (docsearch.learn)

What :func:`reembed` does, each step safe to interrupt (``kill -9`` included):

1. takes the index's writer lock (:mod:`docsearch.lock`), so no index run changes the live index
   meanwhile; searches take no lock and go on, on the live index's published state;
2. records the run in ``reembed.json``, or finds the one an interrupted run left for the same model
   and the same live data, and resumes it (anything else left behind is removed);
3. reads the live points from the live shard (which only the writer opens) or collection;
4. embeds every chunk's stored text with the new model's document side into a new shard (or
   collection) in the new data folder, keeping each point's id, payload and BM25 vector; a resumed
   run skips the points already stored;
5. optimizes it, lets auto mode choose its fusion with the new model, records the model in the new
   store, publishes its state for searches, and copies the manifest;
6. switches: ``index.prev.json`` <- the live ``index.json``, then ``index.json`` <- the new one,
   one atomic rename. Until that rename every reader opens the old index, after it the new one;
7. removes what neither ``index.json`` nor ``index.prev.json`` names any more (data folders,
   collections, learned models).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import __version__, auto
from .encoders import Encoder, load_encoder, resolve_backend
from .encoders.base import PROBE_TEXTS
from .errors import ConfigError, ModelError
from .index import Index
from .lock import WriterLock, meta_lock
from .manifest import MANIFEST_FILE
from .meta import META_FILE, PREVIOUS_FILE, IndexMeta, Lineage, data_dir, read_meta, read_previous, remove_data, write_meta
from .model import ModelDir
from .settings import Settings
from .store import Store, StorePoint, open_store

STATE_FILE = "reembed.json"
GENERATIONS = "generations"
MODELS = "models"
PAGE = 256  # points per read, embed and write: a kill loses at most this much work
SAMPLE = 400  # chunks kept for auto mode's choice


@dataclass(frozen=True)
class ReembedProgress:
    done: int  # chunks stored in the new index so far (resumed ones included)
    total: int
    resumed: int  # chunks an interrupted run had already stored


@dataclass(frozen=True)
class ReembedReport:
    """What a re-embedding did; ``previous`` is the index it replaced (kept for one rollback)."""

    meta: IndexMeta
    previous: IndexMeta
    chunks: int
    embedded: int
    resumed: int
    seconds: float
    embed_seconds: float


def reembed(
    settings: Settings,
    model: ModelDir | str,
    lineage: Sequence[Lineage] | None = None,
    progress: Callable[[ReembedProgress], None] | None = None,
    encoder: Encoder | None = None,
) -> ReembedReport:
    """Embed the index ``settings`` name again with ``model``, beside the live index, and switch to it
    when it is complete. ``lineage`` defaults to what the model's folder records (a model learned by
    ``docsearch train --index``); a given ``encoder`` must be ``model``'s and stays open for the caller."""
    started = time.perf_counter()
    model = model if isinstance(model, ModelDir) else ModelDir.resolve(model)
    settings = replace(settings, model=None)  # the live index is opened with its own model
    index_dir = settings.index_dir
    with _writing(settings):
        live = read_meta(index_dir)  # as it is now that no one else changes it
        check_compatible(live, model)
        if encoder is not None and encoder.fingerprint != model.fingerprint:
            raise ModelError(f"the encoder given is not {model.name}'s (weights {encoder.fingerprint})")
        steps = tuple(lineage) if lineage is not None else model_lineage(model)
        run = _Run(settings, live, model, _state(settings, live, model), progress, encoder)
        try:
            new = run.build(steps)
        finally:
            run.close()
        previous = switch(index_dir, live, new, settings)
    return ReembedReport(new, previous, run.total, run.embedded, run.resumed, time.perf_counter() - started,
                         run.embed_seconds)


def rollback(settings: Settings) -> tuple[IndexMeta, IndexMeta]:
    """Swap the live index and the one the last re-embedding replaced: (now in use, was in use).
    A second rollback undoes the first."""
    index_dir = settings.index_dir
    with _writing(settings):
        live, previous = read_meta(index_dir), read_previous(index_dir)
        if previous is None or (previous.data, previous.collection) == (live.data, live.collection):
            raise ConfigError(f"index {live.name!r} has no previous model and index to roll back to")
        if previous.backend == "edge" and not (data_dir(index_dir, previous) / MANIFEST_FILE).is_file():
            raise ConfigError(f"the previous index of {live.name!r} is gone ({previous.data or 'its folder'})")
        with meta_lock(index_dir):
            write_meta(index_dir, previous)  # the switch: readers now open the previous index
            write_meta(index_dir, live, PREVIOUS_FILE)
    return previous, live


@contextmanager
def _writing(settings: Settings) -> Iterator[None]:
    """The index's writer lock, for the whole run (``settings.wait``: wait for another writer)."""
    read_meta(settings.index_dir)  # no index, no lock file left behind
    lock = WriterLock(settings.index_dir, settings.index)
    lock.acquire(settings.wait)
    try:
        yield
    finally:
        lock.release()


def check_compatible(live: IndexMeta, model: ModelDir) -> None:
    """The stored chunks were cut for the live model's tokenizer and window: the new model must read
    them the same way (a model fine-tuned from it does)."""
    if model.fingerprint == live.fingerprint:
        raise ConfigError(f"index {live.name!r} already uses {model.name}")
    if model.max_seq_length < live.chunk_tokens:
        raise ModelError(
            f"{model.name} reads {model.max_seq_length} tokens, fewer than the index's {live.chunk_tokens}-token "
            f"chunks; index the sources again: docsearch index PATH --index {live.name} --model {model.name} --rebuild"
        )
    if _token_ids(ModelDir.resolve(live.model)) != _token_ids(model):
        raise ModelError(
            f"{model.name} has another tokenizer than {live.model}, so the stored chunks do not fit it; index the "
            f"sources again: docsearch index PATH --index {live.name} --model {model.name} --rebuild"
        )


def _token_ids(model: ModelDir) -> list[list[int]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model.tokenizer_file))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return [e.ids for e in tokenizer.encode_batch(list(PROBE_TEXTS))]


def model_lineage(model: ModelDir) -> tuple[Lineage, ...]:
    """The lineage a model's folder records (``docsearch train --index`` writes it); () for others."""
    steps = model.marker().get("lineage") or ()
    return tuple(Lineage.from_json(step) for step in steps if isinstance(step, dict))


# --------------------------------------------------------------------------- the run


def _state(settings: Settings, live: IndexMeta, model: ModelDir) -> dict[str, Any]:
    """This run's record: the one an interrupted run left for the same model and live data (resumed),
    or a new one (whatever was left is removed first)."""
    index_dir = settings.index_dir
    path = index_dir / STATE_FILE
    old = json.loads(path.read_text()) if path.is_file() else None
    if old and (old.get("fingerprint"), old.get("from"), old.get("from_collection")) == (
        model.fingerprint, live.data, live.collection,
    ):
        return {**old, "resumed": True}
    if old:
        _discard(settings, old, live)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{secrets.token_hex(3)}"  # never an abandoned run's folder
    state = {
        "model": model.name, "fingerprint": model.fingerprint, "from": live.data, "from_collection": live.collection,
        "data": f"{GENERATIONS}/{stamp}", "collection": f"docsearch-{live.name}-{stamp}", "started": time.time(),
        "done": 0,
    }
    _write_state(index_dir, state)
    return state


def _discard(settings: Settings, state: dict[str, Any], live: IndexMeta) -> None:
    """Remove what an abandoned run built (never what the live or previous index uses)."""
    index_dir = settings.index_dir
    kept = _referenced(index_dir)
    if state.get("data") and state["data"] not in {m.data for m in kept}:
        remove_data(index_dir, state["data"])
    if live.backend == "server" and state.get("collection") not in {m.collection for m in kept}:
        _drop_collection(settings, live, state["collection"])
    (index_dir / STATE_FILE).unlink(missing_ok=True)


def _write_state(index_dir: Path, state: dict[str, Any]) -> None:
    tmp = index_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps({k: v for k, v in state.items() if k != "resumed"}, indent=2) + "\n")
    os.replace(tmp, index_dir / STATE_FILE)


class _Run:
    """One re-embedding: the source points, the new store, the encoder, the counts."""

    def __init__(self, settings: Settings, live: IndexMeta, model: ModelDir, state: dict[str, Any],
                 progress: Callable[[ReembedProgress], None] | None, encoder: Encoder | None) -> None:
        self.settings, self.live, self.model, self.state, self.progress = settings, live, model, state, progress
        self.index_dir = settings.index_dir
        self.target = self.index_dir / state["data"]
        self._encoder, self._owns_encoder = encoder, encoder is None
        self._source: Store | None = None
        self._store: Store | None = None
        self.total = self.embedded = self.resumed = 0
        self.embed_seconds = 0.0
        self.sample: list[tuple[str, str]] = []
        self._rng, self._seen = random.Random(0), 0

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            s = self.settings
            self._encoder = load_encoder(self.model, s.device, s.batch_size, s.backend, workers=s.workers)
        return self._encoder

    @property
    def backend(self) -> str:
        if not self._owns_encoder:
            return self.encoder.backend
        return resolve_backend(self.model, self.settings.device, self.settings.backend)  # auto: what it stands for

    def build(self, lineage: tuple[Lineage, ...]) -> IndexMeta:
        self.target.mkdir(parents=True, exist_ok=True)
        self._source = self._open_source()
        self._store = open_store(self.target, self.model.dim, self.settings.qdrant_url, self.settings.qdrant_api_key,
                                 self.state["collection"], role="writer")
        self.total = self._source.count()
        for page in self._source.points(PAGE):
            self._copy(page)
        self._store.finish()
        choice = self._choose_auto()
        _copy_manifest(data_dir(self.index_dir, self.live), self.target)
        model, backend = self.model, self.backend
        new = replace(
            self.live, model=model.name, model_id=model.id, fingerprint=model.fingerprint, dim=model.dim,
            variant=model.variant, embedder=backend, embedders=(backend,), auto=choice.fusion,
            auto_reason=choice.reason, data=self.state["data"], collection=self.state["collection"],
            lineage=lineage, version=__version__,
        )
        self._store.write_record(new.record())  # what made these vectors, as every store records it
        self._store.commit(force=True)  # published: readers find it the moment index.json names it
        return new

    def _open_source(self) -> Store:
        """The live points: the live shard itself (only the writer, which this run is, opens it;
        searches read its published state), or the live collection on a server."""
        s, live = self.settings, self.live
        return open_store(data_dir(self.index_dir, live), live.dim, s.qdrant_url, s.qdrant_api_key, live.collection,
                          create=False, role="live")

    def _copy(self, page: list[StorePoint]) -> None:
        assert self._store is not None
        have = self._store.existing([p.id for p in page]) if self.state.get("resumed") else set()
        self.resumed += len(have)
        work = [p for p in page if p.id not in have]
        if work:
            texts = [str(p.payload.get("text", "")) for p in work]
            t0 = time.perf_counter()
            vectors = self.encoder.encode_documents(texts).tolist()
            self.embed_seconds += time.perf_counter() - t0
            self._store.upsert([StorePoint(p.id, v, p.sparse, p.payload) for p, v in zip(work, vectors, strict=True)])
            self.embedded += len(work)
            for p, text in zip(work, texts, strict=True):
                self._offer(p.id, text)
        self.state["done"] = self.embedded + self.resumed
        _write_state(self.index_dir, self.state)
        if self.progress:
            self.progress(ReembedProgress(self.embedded + self.resumed, self.total, self.resumed))

    def _offer(self, point: str, text: str) -> None:
        self._seen += 1
        if len(self.sample) < SAMPLE:
            self.sample.append((point, text))
        elif (slot := self._rng.randrange(self._seen)) < SAMPLE:
            self.sample[slot] = (point, text)

    def _choose_auto(self) -> auto.AutoChoice:
        assert self._store is not None
        sample = self.sample if len(self.sample) >= SAMPLE or not self.resumed else auto.stored_sample(self._store)
        with Index(self.settings, replace(self.live, model=self.model.name)) as new:  # the new model's languages
            sparse, covers = new.sparse_encoder(), new.covers_language
        return auto.choose(self._store, self.encoder, sparse, sample, covers)

    def close(self) -> None:
        for store in (self._source, self._store):
            if store is not None:
                store.close()
        self._source = self._store = None
        if self._owns_encoder and self._encoder is not None:
            self._encoder.close()


def _copy_manifest(source: Path, target: Path) -> None:
    """A consistent copy of the live manifest (SQLite's online backup), written whole or not at all."""
    tmp = target / (MANIFEST_FILE + ".tmp")
    tmp.unlink(missing_ok=True)
    src, dst = sqlite3.connect(source / MANIFEST_FILE), sqlite3.connect(tmp)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    os.replace(tmp, target / MANIFEST_FILE)


# --------------------------------------------------------------------------- switch and clean up


def switch(index_dir: Path, live: IndexMeta, new: IndexMeta, settings: Settings | None = None) -> IndexMeta:
    """Make ``new`` the live index, keep ``live`` as the previous one, then remove the run's copy of
    the live shard and whatever neither names any more. Returns ``live``."""
    old_previous = read_previous(index_dir)
    with meta_lock(index_dir):
        write_meta(index_dir, live, PREVIOUS_FILE)
        write_meta(index_dir, new)  # the switch
    (index_dir / STATE_FILE).unlink(missing_ok=True)
    clean(index_dir, old_previous, settings)
    return live


def clean(index_dir: Path, dropped: IndexMeta | None = None, settings: Settings | None = None) -> None:
    """Remove data folders and learned models that neither the live nor the previous index names,
    and ``dropped``'s server collection when no longer named."""
    kept = _referenced(index_dir)
    if (index_dir / STATE_FILE).is_file():
        return  # a re-embedding is under way or was interrupted: its folder stays for it
    datas = {m.data for m in kept}
    for folder in sorted((index_dir / GENERATIONS).glob("*")):
        if f"{GENERATIONS}/{folder.name}" not in datas:
            shutil.rmtree(folder, ignore_errors=True)
    if "" not in datas:
        remove_data(index_dir, "")
    models = {Path(m.model).resolve() for m in kept if os.path.isabs(m.model)}
    for folder in sorted((index_dir / MODELS).glob("*")):
        if folder.is_dir() and folder.resolve() not in models:
            shutil.rmtree(folder, ignore_errors=True)
    if dropped is not None and dropped.backend == "server" and settings is not None:
        if dropped.collection not in {m.collection for m in kept}:
            _drop_collection(settings, dropped, dropped.collection)


def _referenced(index_dir: Path) -> list[IndexMeta]:
    metas = [read_meta(index_dir) if (index_dir / META_FILE).is_file() else None, read_previous(index_dir)]
    return [m for m in metas if m is not None]


def _drop_collection(settings: Settings, meta: IndexMeta, collection: str) -> None:
    from .errors import StoreError

    try:
        open_store(settings.index_dir, meta.dim, settings.qdrant_url, settings.qdrant_api_key, collection,
                   create=False).drop()
    except StoreError:
        pass  # already gone
