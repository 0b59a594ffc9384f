"""docsearch.watch.watch_paths with the fake encoder: the first run, then a batch per group of changes (created,
modified, renamed, deleted, a burst), seen by a searcher left open, and the writer lock per batch."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes import FakeEncoder
from helpers import write_files

from docsearch import Index, Searcher, Settings
from docsearch.ingest import PathRules
from docsearch.lock import Holder
from docsearch.watch import WatchBatch, watch_paths

TIMEOUT = 30.0


class Watching:
    """``watch`` on a thread of its own; its batches arrive on a queue."""

    def __init__(self, settings: Settings, roots: list[Path], rules: PathRules | None = None,
                 on_wait: Callable[[Holder | None], None] | None = None) -> None:
        self.stop = threading.Event()
        self.batches: queue.Queue[WatchBatch | BaseException | None] = queue.Queue()
        self.encoder = FakeEncoder()
        self._thread = threading.Thread(target=self._run, args=(settings, roots, rules, on_wait), daemon=True)
        self._thread.start()

    def _run(self, settings: Settings, roots: list[Path], rules: PathRules | None,
             on_wait: Callable[[Holder | None], None] | None) -> None:
        try:
            for batch in watch_paths(settings, roots, rules=rules, stop=self.stop, encoder=self.encoder, on_wait=on_wait):
                self.batches.put(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which raises it
            self.batches.put(exc)
        finally:
            self.batches.put(None)

    def next(self, timeout: float = TIMEOUT) -> WatchBatch:
        """The next batch with something to tell."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.batches.get(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(item, BaseException):
                raise item
            assert item is not None, "the watch ended"
            if item.first or not item.quiet:
                return item

    def close(self) -> None:
        self.stop.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()


@pytest.fixture
def watching(tmp_path: Path) -> Iterator[Callable[..., Watching]]:
    started: list[Watching] = []

    def start(*roots: Path, rules: PathRules | None = None, **kw: object) -> Watching:
        w = Watching(settings(tmp_path), list(roots), rules, **kw)  # type: ignore[arg-type]
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "indexes", index="w", debounce_ms=300)


def top_paths(searcher: Searcher, query: str) -> list[str]:
    return [h.path for h in searcher.search(query, 5, mode="dense")]


@pytest.mark.slow
def test_create_modify_rename_delete_each_seen_by_an_open_searcher(tmp_path: Path, watching) -> None:  # type: ignore[no-untyped-def]
    root = write_files(tmp_path / "docs", {"kites.md": "kites fly when wind lifts the sail",
                                           "bread.md": "sourdough bread rises with a starter"})
    w = watching(root)
    first = w.next()
    assert first.first and sorted(first.added) == ["bread.md", "kites.md"] and first.report.indexed == 2
    with Searcher(Index.open(settings(tmp_path)), FakeEncoder()) as searcher:
        assert top_paths(searcher, "volcano lava")[0] != "volcano.md"

        (root / "volcano.md").write_text("volcano lava erupts from the crater")
        batch = w.next()
        assert (batch.added, batch.changed, batch.removed, batch.changes) == (("volcano.md",), (), (), 1)
        assert top_paths(searcher, "volcano lava")[0] == "volcano.md"  # the same searcher, not reopened

        (root / "kites.md").write_text("submarines dive under the sea")
        batch = w.next()
        assert (batch.added, batch.changed, batch.removed) == ((), ("kites.md",), ())
        assert top_paths(searcher, "submarines dive")[0] == "kites.md"

        (root / "garden").mkdir()
        os.rename(root / "bread.md", root / "garden" / "loaf.md")
        batch = w.next()
        assert (batch.added, batch.changed, batch.removed) == (("garden/loaf.md",), (), ("bread.md",))
        assert top_paths(searcher, "sourdough starter")[0] == "garden/loaf.md"

        (root / "volcano.md").unlink()
        batch = w.next()
        assert (batch.added, batch.changed, batch.removed) == ((), (), ("volcano.md",))
        assert "volcano.md" not in top_paths(searcher, "volcano lava")


@pytest.mark.slow
def test_a_burst_of_500_files_is_one_or_few_batches(tmp_path: Path, watching) -> None:  # type: ignore[no-untyped-def]
    root = write_files(tmp_path / "docs", {"seed.md": "the first file"})
    w = watching(root)
    w.next()
    for i in range(500):  # as a `git checkout` of another branch would
        (root / f"note{i:03}.md").write_text(f"note number {i} about topic {i % 17}")
    added: list[str] = []
    batches = 0
    while len(added) < 500:
        added.extend(w.next().added)
        batches += 1
    assert sorted(added) == [f"note{i:03}.md" for i in range(500)]
    assert batches <= 3
    with Index.open(settings(tmp_path)) as index:
        assert index.manifest.totals()[0] == 501


@pytest.mark.slow
def test_changes_the_walk_passes_over_make_no_batch_and_ignore_files_count(tmp_path: Path, watching) -> None:  # type: ignore[no-untyped-def]
    root = write_files(tmp_path / "docs", {"a.md": "alpha", "b.md": "beta", "bad.pdf": b"not a pdf at all"})
    (root / ".git").mkdir()
    w = watching(root, rules=PathRules(exclude=("*.txt",)))
    first = w.next()
    assert sorted(first.added) == ["a.md", "b.md"] and [s.path for s in first.skipped] == ["bad.pdf"]
    (root / ".git" / "HEAD").write_text("ref: refs/heads/other")
    (root / "pic.png").write_bytes(b"\x89PNG")
    (root / "notes.txt").write_text("excluded by --exclude")
    time.sleep(0.8)  # past the debounce: those were a batch of their own, or none
    (root / "c.md").write_text("gamma")
    batch = w.next()
    # Only c.md: the corrupt PDF that was there all along is not this batch's news.
    assert (batch.changes, batch.added, batch.skipped) == (1, ("c.md",), ())
    (root / ".gitignore").write_text("b.md\n")  # hidden, but it changes what the walk finds
    batch = w.next()
    assert (batch.added, batch.removed) == ((), ("b.md",))
    (root / "empty.md").write_text("")
    batch = w.next()
    assert [(s.path, s.reason) for s in batch.skipped] == [("empty.md", "empty file")]


@pytest.mark.slow
def test_the_lock_is_taken_per_batch(tmp_path: Path, watching) -> None:  # type: ignore[no-untyped-def]
    root = write_files(tmp_path / "docs", {"a.md": "alpha"})
    waited: list[Holder | None] = []
    w = watching(root, on_wait=waited.append)
    w.next()
    # Between batches another writer may work on the index (`docsearch index`, `check --repair`) ...
    other = Index.open_or_create(settings(tmp_path))
    (root / "b.md").write_text("beta")
    time.sleep(1.0)
    assert w.batches.empty() and len(waited) == 1  # ... and a batch waits for it
    other.close()
    assert w.next().added == ("b.md",)


def test_stop_ends_the_watch_and_leaves_the_index_consistent(tmp_path: Path, watching) -> None:  # type: ignore[no-untyped-def]
    root = write_files(tmp_path / "docs", {"a.md": "alpha"})
    w = watching(root)
    w.next()
    w.stop.set()
    assert w.batches.get(timeout=TIMEOUT) is None  # the generator ended, without an error
    with Index.open(settings(tmp_path)) as index:  # it opens, verified, and holds what was indexed
        assert index.manifest.totals()[0] == 1
        assert index.lock is None


def test_missing_root_is_one_error(tmp_path: Path) -> None:
    from docsearch import DocsearchError

    with pytest.raises(DocsearchError, match=r"cannot watch .*missing: no such file or folder"):
        next(watch_paths(settings(tmp_path), [tmp_path / "missing"], encoder=FakeEncoder()))
