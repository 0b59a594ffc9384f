"""A multi-process encoder: ``--workers N`` processes, each with its own copy of the model.

One process with many threads stops scaling on a many-core machine long before the cores run out
(every op synchronises all threads); N processes with cores/N threads each keep them busy, and on a
machine with several GPUs each worker takes one. The pool has the ``Encoder`` interface, so the
indexer neither knows nor cares; workers are started with ``spawn`` (safe with torch and threads)
and stopped by ``close``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..model import ModelDir
from .base import EncoderBase

if TYPE_CHECKING:
    import numpy as np

_worker: Any = None  # the encoder inside a worker process


def _start(model: ModelDir, devices: Any, batch_size: int, backend: str, threads: int) -> None:
    """Worker initializer: pin the thread count before torch starts, take a device, load the model."""
    import signal

    global _worker
    # A terminal's Ctrl-C reaches the whole process group: the parent decides when the pool stops
    # (this handler is the worker process's own, not its host's).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a worker is this pool's own process, not the host's
    device = devices.get()
    if backend.startswith("torch"):
        import torch

        torch.set_num_threads(threads)
    from . import load_encoder

    _worker = load_encoder(model, device, batch_size, backend)


def _describe(_n: int = 0) -> tuple[int, bool]:
    return int(_worker.dim), bool(_worker.accepts_token_ids)


def _run(kind: str, items: Sequence[Any]) -> Any:
    if kind == "ids":
        return _worker.encode_document_ids(items)
    if kind == "queries":
        return _worker.encode_queries(items)
    return _worker.encode_documents(items)


def gpu_count() -> int:
    """CUDA devices torch sees (0 without torch or CUDA)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0


def worker_devices(workers: int, device: str | None) -> list[str | None]:
    """One device per worker: GPUs round-robin when there are several, else what was asked for."""
    if device in (None, "cuda"):
        gpus = gpu_count()
        if gpus > 1:
            return [f"cuda:{i % gpus}" for i in range(workers)]
    return [device] * workers


class PooledEncoder(EncoderBase):
    """``workers`` encoder processes behind the ``Encoder`` interface; each call is split across them."""

    def __init__(self, model: ModelDir, workers: int, device: str | None = None, batch_size: int = 64,
                 backend: str = "torch") -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        if workers < 2:
            raise ConfigError(f"a pool needs at least 2 workers, got {workers}")
        self.model_id, self.fingerprint = model.id, model.fingerprint
        self.variant, self.max_tokens = model.variant, model.max_seq_length
        self.workers, self.backend, self._model = workers, backend, model
        ctx = mp.get_context("spawn")
        devices = ctx.Queue()
        for d in worker_devices(workers, device):
            devices.put(d)
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.device = device or "cpu"
        self._pool = ProcessPoolExecutor(workers, ctx, initializer=_start,
                                         initargs=(model, devices, batch_size, backend, threads))
        # Every worker loads now, so a bad model fails here in one error rather than mid-run.
        described = list(self._pool.map(_describe, range(workers)))
        self.dim, self._ids = described[0]

    @property
    def accepts_token_ids(self) -> bool:
        return self._ids

    def _spread(self, kind: str, items: Sequence[Any]) -> np.ndarray:
        """Deal items round-robin by length, so every worker gets the same amount of work."""
        import numpy as np

        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        shards = [order[w :: self.workers] for w in range(self.workers)]
        futures = [(s, self._pool.submit(_run, kind, [items[i] for i in s])) for s in shards if s]
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for shard, future in futures:
            out[shard] = future.result()
        return out

    def calibrate(self, texts: Sequence[str]) -> None:
        """openvino-int8: quantize once here, so every worker loads the same cached model."""
        if self.backend != "openvino-int8":
            return
        from . import int8

        if len(texts) >= int8.MIN_CALIBRATION and int8.cached(self._model) is None:
            int8.quantize(self._model, list(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._spread("queries", texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._spread("documents", texts)

    def encode_document_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        return self._spread("ids", [list(i) for i in ids])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

