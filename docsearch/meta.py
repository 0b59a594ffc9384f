"""``index.json``: what reproduces and checks an index, read and written whole.

:class:`IndexMeta` is the file's content (model name, id and weight fingerprint, vector size,
variant, chunking, fusion, sparse encoder, documents per language, store backend, encoder backends,
docsearch version, the data folder, the model's lineage); ``read_meta`` refuses a damaged file in
one line that names the repair, and ``write_meta`` replaces it atomically (one rename is what
switches an index to another data folder, :mod:`docsearch.reembed`). :class:`~docsearch.index.Index`
is the one object that uses them on an open index.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .auto import DEFAULT as AUTO_DEFAULT
from .diskspace import is_disk_full
from .encoders.sparse import DEFAULT_SPARSE_ID
from .errors import DiskFullError, IndexDamagedError, IndexNotFoundError
from .store import store_exists
from .types import Fusion

META_FILE = "index.json"
RECORD_FORMAT = 1
PREVIOUS_FILE = "index.prev.json"  # the index a re-embedding replaced: what a rollback restores
# What the data folder "" (the index folder itself) holds; readers' views are their readers' to remove.
_DATA_FILES = ("shard", "published", "manifest.sqlite", "manifest.sqlite-wal", "manifest.sqlite-shm")


@dataclass(frozen=True)
class Lineage:
    """One step of a model's lineage: the model it was fine-tuned from on an index's judgements,
    and what the held-out judgements said (nDCG@10 and MRR@10 of the model in use, then the new one)."""

    base: str  # the model the training started from (name or folder)
    judgements: int  # feedback rows it trained on
    queries: int  # judged queries with a relevant result
    held_out: int  # queries the before/after figures rest on
    trained: float  # when (seconds since the epoch)
    before: Mapping[str, float] = field(default_factory=dict)
    after: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "before": dict(self.before), "after": dict(self.after)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Lineage:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{"base": "", "judgements": 0, "queries": 0, "held_out": 0, "trained": 0.0, **known})


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
    fusion: Fusion = field(default_factory=Fusion)  # hybrid mode's
    auto: Fusion = AUTO_DEFAULT  # auto mode's, chosen from the index's own text (docsearch.auto)
    auto_reason: str = ""  # why; "" until an index run has chosen
    sparse: str = DEFAULT_SPARSE_ID  # the sparse encoder that made the BM25 vectors; "" for none
    # Documents per detected language ("und": undetermined), most first; None for an index made
    # before languages were detected (its BM25 is English, and nothing is known to warn about).
    languages: dict[str, int] | None = None
    version: str = ""
    created: float = 0.0
    data: str = ""  # the folder holding the shard and manifest, relative to the index's; "": the index's own
    lineage: tuple[Lineage, ...] = ()  # how the model was learned from judgements, oldest step first

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fusion"] = asdict(self.fusion)
        data["auto"] = asdict(self.auto)
        data["lineage"] = [step.to_json() for step in self.lineage]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexMeta:
        data = dict(data)
        fusion = _fusion(data.pop("fusion", None) or {})
        if isinstance(data.get("auto"), dict):
            data["auto"] = _fusion(data["auto"])
        else:
            data.pop("auto", None)  # made before auto mode: the default, until the next index run chooses
        data["embedders"] = tuple(data.get("embedders") or (data.get("embedder", "torch"),))
        data.setdefault("sparse", "")  # written before sparse vectors were recorded: assume none
        data["lineage"] = tuple(Lineage.from_json(step) for step in data.get("lineage") or () if isinstance(step, dict))
        known = {f for f in cls.__dataclass_fields__}
        return cls(fusion=fusion, **{k: v for k, v in data.items() if k in known})

    def record(self) -> dict[str, Any]:
        """What the store keeps with its vectors: this metadata, as it is when the store is made."""
        return {"format": RECORD_FORMAT, "meta": self.to_json()}


_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float),
                                       "tuple[str, ...]": (list,), "Fusion": (dict,)}


def meta_problem(data: Any) -> str:
    """What makes ``data`` unusable as index metadata ("" if nothing): bad shape, missing fields,
    wrong types. Checked before :meth:`IndexMeta.from_json`, which trusts what it is given."""
    if not isinstance(data, dict):
        return "not a JSON object"
    required = [f.name for f in fields(IndexMeta) if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        return f"missing {', '.join(missing)}"
    for f in fields(IndexMeta):
        value = data.get(f.name)
        if f.name not in data or (value is None and f.type == "Fusion"):
            continue
        kinds = _TYPES.get(str(f.type), (object,))
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return f"{f.name} is {value!r}, not {' or '.join(k.__name__ for k in kinds)}"
        if f.type == "tuple[str, ...]" and not all(isinstance(v, str) for v in value):
            return f"{f.name} is {value!r}, not a list of names"
        if f.type == "Fusion" and not _fusion_ok(value):
            return f"{f.name} is {value!r}, not a fusion (method, k, weights)"
    if data["dim"] <= 0 or data["chunk_tokens"] <= 0 or data["overlap"] < 0:
        return "dim and chunk_tokens must be positive, overlap not negative"
    return ""


def _fusion_ok(data: dict[str, Any]) -> bool:
    weights = data.get("weights", [1.0, 1.0])
    return (isinstance(data.get("method", "dbsf"), str) and isinstance(data.get("k", 0), int)
            and isinstance(weights, list) and len(weights) == 2
            and all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights))


def meta_from_record(record: dict[str, Any], where: str) -> IndexMeta:
    """The metadata a store's record holds; damaged records raise, naming ``where`` they are."""
    meta = record.get("meta")
    problem = meta_problem(meta) if record.get("format") == RECORD_FORMAT else f"unknown format {record.get('format')!r}"
    if problem:
        raise IndexDamagedError(f"the model record of {where} is damaged ({problem})")
    return IndexMeta.from_json(meta)  # type: ignore[arg-type]


def _fusion(data: dict[str, Any]) -> Fusion:
    data = dict(data)
    data["weights"] = tuple(data.get("weights", (1.0, 1.0)))
    return Fusion(**{k: v for k, v in data.items() if k in Fusion.__dataclass_fields__})


def read_meta(index_dir: Path) -> IndexMeta:
    path, name = index_dir / META_FILE, index_dir.name
    if not path.is_file():
        if store_exists(index_dir):
            raise IndexNotFoundError(
                f"index {name!r} has lost its {META_FILE} but its vectors are there: recover it with the model "
                f"they were made with: docsearch index PATH --index {name} (or: docsearch check --index {name} --repair)")
        raise IndexNotFoundError(f"no index {name!r} in {index_dir.parent} (create it with: docsearch index PATH --index {name})")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        problem = str(exc)
    else:
        problem = meta_problem(data)
    if problem:
        raise IndexDamagedError(
            f"the {META_FILE} of index {name!r} is damaged ({problem}); restore it from the store's record with: "
            f"docsearch check --index {name} --repair (or rebuild: docsearch index PATH --index {name} --rebuild)")
    return IndexMeta.from_json(data)


def write_meta(index_dir: Path, meta: IndexMeta, name: str = META_FILE) -> None:
    """Write ``index.json`` (or ``name``) whole, or not at all: the one rename is what switches an index."""
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f"{name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(meta.to_json(), indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())  # on disk before the rename makes it the index
        os.replace(tmp, index_dir / name)  # atomic: a crash never leaves half a file
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise DiskFullError(f"disk full: cannot update {index_dir / name}; free some space and run the "
                                "same command again") from exc
        raise


def read_previous(index_dir: Path) -> IndexMeta | None:
    """What the last re-embedding replaced (the index a rollback restores); None when there is none."""
    path = index_dir / PREVIOUS_FILE
    return IndexMeta.from_json(json.loads(path.read_text())) if path.is_file() else None


def data_dir(index_dir: Path, meta: IndexMeta) -> Path:
    """The folder holding an index's shard, its published states and its manifest."""
    return index_dir / meta.data if meta.data else index_dir


def remove_data(index_dir: Path, data: str) -> None:
    """Delete one data folder of an index (for "", the shard, published states and manifest in the
    index folder itself)."""
    if data:
        shutil.rmtree(index_dir / data, ignore_errors=True)
        return
    for name in _DATA_FILES:
        path = index_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
