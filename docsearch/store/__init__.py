"""The vector store: the only package that imports Qdrant's engine or client.

Two backends behind one interface (:class:`Store`), chosen in one place (``open_store``):
``EdgeStore``, Qdrant's engine in-process (one shard per index, the default), and ``ServerStore``,
a Qdrant server or cluster through qdrant-client. An Edge shard is opened by one writer at a time
(``WriterStore``, which publishes committed states) while readers search the newest published one
(``ReaderStore``); see ``shared`` and ``snapshots``.
"""

from __future__ import annotations

from pathlib import Path

from .base import DENSE, SPARSE, QuerySpec, Store, StoreHit, StorePoint, StoreVector, point_id

__all__ = ["DENSE", "SPARSE", "QuerySpec", "Store", "StoreHit", "StorePoint", "StoreVector", "open_store", "point_id",
           "store_exists"]

SHARD_DIR = "shard"

ROLES = ("live", "writer", "reader")


def open_store(index_dir: Path, dim: int, url: str | None = None, api_key: str | None = None,
               collection: str = "docsearch", create: bool = True, role: str = "live") -> Store:
    """The one place a backend is chosen: a URL means a server, else an Edge shard. ``role`` says
    how an Edge shard is opened: ``writer`` (the caller holds the index's writer lock; committed
    states are published), ``reader`` (the newest published state), or ``live`` (the shard itself,
    no publishing: tools and tests)."""
    if role not in ROLES:
        raise ValueError(f"unknown store role {role!r}")
    if url:
        from .server import ServerStore

        return ServerStore(url, api_key, collection, dim, create)
    if role == "writer":
        from .shared import WriterStore

        return WriterStore(index_dir, dim, create)
    if role == "reader":
        from .shared import ReaderStore

        return ReaderStore(index_dir, dim)
    from .edge import EdgeStore

    return EdgeStore(index_dir / SHARD_DIR, dim, create)


def store_exists(index_dir: Path, url: str | None = None, api_key: str | None = None,
                 collection: str = "docsearch") -> bool:
    """Whether ``open_store`` would find vectors there already (without loading them)."""
    if url:
        from .server import collection_exists

        return collection_exists(url, api_key, collection)
    from .edge import shard_exists

    return shard_exists(index_dir / SHARD_DIR)
