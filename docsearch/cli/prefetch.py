"""Query vectors ahead of time, for the interactive session: the index's encoder loaded once in
the background and shared under a lock, recent queries' vectors cached, and a prefetcher that
encodes the line being typed as soon as typing pauses, so Enter costs only the store request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..encoders import Encoder
from ..errors import DocsearchError

if TYPE_CHECKING:
    import numpy as np


class QueryVectors:
    """The index's encoder, loaded on first use, behind a lock, remembering recent queries' vectors.

    The cache makes :more, :k, :mode and :filter free of encoding; the lock lets the typing-time
    prefetch and the main thread share one model (fast tokenizers must not be used concurrently).
    """

    def __init__(self, load: Callable[[], Encoder], model_id: str, fingerprint: str, keep: int = 256) -> None:
        self.model_id, self.fingerprint = model_id, fingerprint
        self._load, self._keep = load, keep
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def load(self) -> Encoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = self._load()
            return self._encoder

    @property
    def variant(self) -> str:
        return self.load().variant

    @property
    def dim(self) -> int:
        return self.load().dim

    @property
    def max_tokens(self) -> int:
        return self.load().max_tokens

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        return np.stack([self.vector(t) for t in texts]) if texts else self.load().encode_queries([])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        encoder = self.load()
        with self._lock:
            return encoder.encode_documents(texts)

    def vector(self, text: str) -> np.ndarray:
        encoder = self.load()
        with self._lock:
            if text not in self._cache:  # checked under the lock: a prefetch may have just done it
                self._cache[text] = encoder.encode_queries([text])[0]
                if len(self._cache) > self._keep:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(text)
            return self._cache[text]


class Prefetcher:
    """Runs ``work`` on the latest line offered once it has stood still for ``pause`` seconds.

    Fed from the prompt as the user types: by the time Enter is pressed, the query's vector
    is usually cached, so answering costs only the store request and the render.
    """

    def __init__(self, work: Callable[[str], object], pause: float = 0.08) -> None:
        self._work, self._pause = work, pause
        self._cond = threading.Condition()
        self._text: str | None = None
        self._changed = 0.0
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="docsearch-prefetch")
        self._thread.start()

    def offer(self, text: str) -> None:
        with self._cond:
            self._text, self._changed = text, time.monotonic()
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join()

    def _next(self) -> str | None:
        """The line to work on once typing pauses; None when stopped."""
        with self._cond:
            while not self._stopped:
                wait = self._pause - (time.monotonic() - self._changed)
                if self._text is not None and wait <= 0:
                    text, self._text = self._text, None
                    return text
                self._cond.wait(wait if self._text is not None else None)
            return None

    def _loop(self) -> None:
        while (text := self._next()) is not None:
            try:
                self._work(text)
            except DocsearchError:
                pass  # only a head start: the query itself reports any error when it runs
