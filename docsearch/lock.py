"""One writer per index: an advisory lock on ``writer.lock`` in the index folder.

``fcntl.flock`` is released by the kernel when its holder exits, however it exits (``kill -9``
included), so a lock file left behind never blocks anyone: what counts is whether a live process
holds the lock, not whether the file exists. The file records who holds it (pid, command, start
time), so a refusal can say who is writing and since when. The file is never deleted: deleting it
would let a second writer lock a new file while the first still holds the old one.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import IndexBusyError, Interrupted

LOCK_FILE = "writer.lock"
POLL_S = 0.2
_held: set[str] = set()  # lock files this process holds: flock would let a second descriptor wait on itself


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    started: float

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid} ({self.command}) since {since}"


def command_line() -> str:
    """What this process is, for the lock record: ``docsearch index docs/ --index notes``."""
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    if argv[0] in ("__main__.py", "-m", "-c"):
        argv[0] = "docsearch"
    text = " ".join(argv)
    return text if len(text) <= 80 else text[:79] + "…"


class WriterLock:
    """``acquire`` (or ``try_acquire``) before writing, ``release`` after; ``holder`` tells who has it."""

    def __init__(self, index_dir: Path, name: str | None = None) -> None:
        self.path = index_dir / LOCK_FILE
        self.name = name or index_dir.name
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, command: str | None = None) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if str(self.path.resolve()) in _held:
            return False
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        record = {"pid": os.getpid(), "command": command or command_line(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        _held.add(str(self.path.resolve()))
        return True

    def acquire(self, wait: bool = False, command: str | None = None, on_wait: Callable[[Holder | None], None] | None = None,
                stop: threading.Event | None = None, timeout: float | None = None) -> None:
        """Take the lock, or raise :class:`IndexBusyError` naming the holder; with ``wait``, poll until
        it is free (``on_wait`` is told once whom it waits for; ``stop`` set ends the wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        told, unknown = False, 0
        while not self.try_acquire(command):
            holder = self.holder()
            if holder is None and unknown < 10:  # released meanwhile, or a reader peeking at the record
                unknown += 1
                time.sleep(0.01)
                continue
            if not wait or (deadline is not None and time.monotonic() > deadline):
                who = holder.describe() if holder else "another process"
                raise IndexBusyError(
                    f"index {self.name!r} is being written by {who}; wait for it to finish, or run with --wait")
            if not told and on_wait is not None:
                on_wait(holder)
                told = True
            if stop is not None and stop.wait(POLL_S):
                raise Interrupted(f"stopped while waiting for the writer of index {self.name!r}")
            if stop is None:
                time.sleep(POLL_S)

    def release(self) -> None:
        if self._fd is None:
            return
        _held.discard(str(self.path.resolve()))
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def holder(self) -> Holder | None:
        """The process holding the lock now, or None when nobody does."""
        ours = self.path.parent.exists() and str(self.path.resolve()) in _held
        for _ in range(5):  # the holder writes its record just after locking: give it a moment
            try:
                with open(self.path, "rb") as fh:
                    try:
                        if not ours:
                            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                            return None  # nobody holds it: whatever the file says is stale
                    except BlockingIOError:
                        pass
                    data = json.loads(fh.read() or b"null")
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                data = None
            if isinstance(data, dict) and "pid" in data:
                return Holder(int(data["pid"]), str(data.get("command", "?")), float(data.get("started", 0.0)))
            time.sleep(0.02)
        return None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


META_LOCK_FILE = "meta.lock"


@contextmanager
def meta_lock(index_dir: Path) -> Iterator[None]:
    """Held around every read-modify-write of ``index.json``: a reader storing tuned fusion (which
    takes no writer lock, so a search or an eval may tune while an index runs) must not write back
    the metadata it read just before a re-embedding switched the index to another model. Held for
    milliseconds; the writer lock is a different file, so holding both never deadlocks."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / META_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock
