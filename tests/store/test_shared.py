"""One writer, many readers on one Edge shard: published generations and readers' views."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from docsearch.lock import WriterLock
from docsearch.store import StorePoint
from docsearch.store import snapshots as snap
from docsearch.store.shared import ReaderStore, WriterStore
from docsearch.types import SparseVector

DIM = 8
REPO = Path(__file__).resolve().parents[2]


def pts(n: int, start: int = 0) -> list[StorePoint]:
    rng = np.random.default_rng(start)
    return [StorePoint(str(uuid.uuid5(uuid.NAMESPACE_OID, str(i))), rng.normal(size=DIM).tolist(),
                       SparseVector([i % 50, 60], [1.0, 0.5]), {"doc": f"d{i}", "path": f"p{i % 5}", "text": "t" * 80})
            for i in range(start, start + n)]


def _fingerprints(folder: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for rel in snap._files(folder):
        p = folder / rel
        st = p.stat()
        out[rel] = (st.st_mtime_ns, st.st_size, hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest())
    return out


def test_readers_see_the_last_commit_and_move_on_when_asked(tmp_path: Path) -> None:
    writer = WriterStore(tmp_path, DIM)
    writer.upsert(pts(100))
    assert writer.commit(force=True)
    first, second = ReaderStore(tmp_path, DIM), ReaderStore(tmp_path, DIM)  # two readers, one writer: no lock clash
    writer.upsert(pts(50, start=100))
    writer.delete([pts(1)[0].id])
    assert first.count() == second.count() == 100  # not committed yet
    assert not first.refresh()
    writer.commit(force=True)
    assert first.refresh() and first.count() == 149
    assert second.count() == 100  # until it refreshes
    for s in (first, second, writer):
        s.close()
    assert not any((tmp_path / snap.READERS).glob("*-*"))  # views are removed with their readers


def test_readers_never_write_to_a_published_generation(tmp_path: Path) -> None:
    writer = WriterStore(tmp_path, DIM)
    writer.upsert(pts(300))
    writer.finish(quantize=True)  # optimized, quantized segments have their own files
    writer.upsert(pts(20, start=300))
    writer.commit(force=True)
    gen = snap.current(tmp_path)
    assert gen is not None
    before = _fingerprints(gen.path)
    time.sleep(0.05)
    reader = ReaderStore(tmp_path, DIM)
    assert reader.count() == 320
    reader.edge._shard.flush()
    reader.close()
    writer.close()
    assert _fingerprints(gen.path) == before


def test_an_unchanged_file_is_linked_from_the_last_generation_not_copied(tmp_path: Path) -> None:
    writer = WriterStore(tmp_path, DIM)
    writer.upsert(pts(200))
    writer._edge.flush()
    past = time.time() - 60
    for rel in snap._files(tmp_path / "shard"):  # as if written a minute ago
        os.utime(tmp_path / "shard" / rel, (past, past))
    writer.commit(force=True)
    first = snap.current(tmp_path)
    assert first is not None
    inodes = {rel: (first.path / rel).stat().st_ino for rel in snap._files(first.path)}
    writer.upsert(pts(10, start=200))
    writer.commit(force=True)
    second = snap.current(tmp_path)
    assert second is not None and first.name != second.name
    assert not first.path.exists()  # replaced
    same = {rel for rel in snap._files(second.path) if rel in inodes and (second.path / rel).stat().st_ino == inodes[rel]}
    assert same and len(same) < len(inodes) - 1  # some linked, the changed ones copied
    reader = ReaderStore(tmp_path, DIM)
    assert reader.count() == 210  # what changed was copied again, so nothing stale was reused
    reader.close()
    writer.close()


def test_a_killed_writers_last_writes_are_published_by_the_next_reader(tmp_path: Path) -> None:
    script = (
        "import sys; sys.path[:0] = [sys.argv[2], sys.argv[3]]\n"
        "from pathlib import Path\n"
        "from test_shared import pts\n"
        "from docsearch.lock import WriterLock\n"
        "from docsearch.store.shared import WriterStore\n"
        "lock = WriterLock(Path(sys.argv[1])); lock.acquire()\n"
        "w = WriterStore(Path(sys.argv[1]), 8); w.upsert(pts(40)); w.commit(force=True)\n"
        "w.upsert(pts(25, start=40))\n"
        "print('written', flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(REPO), str(Path(__file__).parent)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    reader = ReaderStore(tmp_path, DIM)
    assert reader.count() == 40  # the writer is alive: its last commit
    reader.close()
    proc.kill()
    proc.wait()
    assert snap.is_stale(tmp_path)
    reader = ReaderStore(tmp_path, DIM)
    assert reader.count() == 65  # acknowledged by the log, published by this reader
    assert not snap.is_stale(tmp_path)
    reader.close()


def test_the_views_of_killed_readers_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = WriterStore(tmp_path, DIM)
    writer.upsert(pts(10))
    writer.close()
    script = (
        "import sys; sys.path.insert(0, sys.argv[2])\n"
        "from pathlib import Path\n"
        "from docsearch.store.shared import ReaderStore\n"
        "r = ReaderStore(Path(sys.argv[1]), 8); print(r.count(), flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(REPO)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "10"
    monkeypatch.setattr(snap, "STALE_VIEW_S", 0.0)
    snap.sweep(tmp_path)
    assert len(list((tmp_path / snap.READERS).glob("*.lock"))) == 1  # alive: kept
    proc.kill()
    proc.wait()
    snap.sweep(tmp_path)
    assert list((tmp_path / snap.READERS).iterdir()) == []


def test_a_reader_says_who_is_building_an_index_with_nothing_committed(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path, "notes")
    assert lock.try_acquire("docsearch index big/")
    writer = WriterStore(tmp_path, DIM)
    writer.upsert(pts(5))
    from docsearch.errors import StoreError

    with pytest.raises(StoreError, match=r"'notes' has no committed state to search yet: pid \d+ \(docsearch index big/\)"):
        ReaderStore(tmp_path, DIM, "notes")
    writer.close()
    lock.release()


def test_sparse_copy_keeps_holes(tmp_path: Path) -> None:
    src = tmp_path / "sparse.dat"
    with open(src, "wb") as fh:
        fh.truncate(64 << 20)
        fh.seek(10 << 20)
        fh.write(b"data" * 1024)
    snap.sparse_copy(src, tmp_path / "copy.dat")
    copy = tmp_path / "copy.dat"
    assert copy.read_bytes() == src.read_bytes()
    assert copy.stat().st_blocks * 512 < 1 << 20
