"""docsearch.index: one object owns an index's folder. Fast: a fake encoder, the real embedded store."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from fakes import FakeEncoder
from helpers import write_files

from docsearch import (
    Fusion,
    Index,
    IndexBusyError,
    IndexNotFoundError,
    ModelDir,
    ModelMismatchError,
    Searcher,
    Settings,
    update_index,
)
from docsearch.lock import meta_lock
from docsearch.meta import read_meta, write_meta

DOCS = {
    "garden/tomatoes.md": "# Tomatoes\n\nStake tomato plants and water them at the base to keep the leaves dry.",
    "kitchen/bread.md": "# Bread\n\nA sourdough starter needs flour and water every day to stay alive.",
    "sky/telescope.md": "# Telescopes\n\nA reflecting telescope gathers light with a curved mirror.",
}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Settings, Path]:
    root = write_files(tmp_path / "docs", DOCS)
    settings = Settings(home=tmp_path / "home", index="t")
    with Index.open_or_create(settings) as index:
        report = update_index(index, [root], encoder=FakeEncoder())
    assert report.indexed == 3 and report.chunks == 3
    return settings, root


def test_a_missing_index_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="docsearch index PATH --index nope"):
        Index.open(Settings(home=tmp_path, index="nope"))


def test_create_records_what_reproduces_the_index(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    model = ModelDir.resolve("all-MiniLM-L6-v2")
    with Index.open(settings) as index:
        meta = index.meta
        assert (meta.model_id, meta.fingerprint, meta.dim, meta.variant) == (model.id, model.fingerprint, 384, "siamese")
        assert (meta.chunk_tokens, meta.overlap, meta.backend) == (256, 32, "edge")
        assert index.has_sparse
        info = index.info()
        assert (info.sources, info.documents, info.chunks, info.points) == (3, 3, 3, 3)


def test_fusion_is_stored_and_survives_a_reopen(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    with Index.open(settings) as index:
        index.set_fusion(Fusion("rrf", 5, (2.0, 1.0)))
    with Index.open(settings) as index:
        assert index.meta.fusion == Fusion("rrf", 5, (2.0, 1.0))


def test_storing_fusion_waits_for_a_switch_in_progress_and_never_undoes_it(built: tuple[Settings, Path]) -> None:
    """A reader storing tuned fusion holds no writer lock: the metadata lock keeps its
    read-modify-write of index.json from writing back a model a re-embedding just replaced."""
    settings, _ = built
    with Index.open(settings) as reader:
        done, failures = threading.Event(), []
        with meta_lock(settings.index_dir):
            worker = threading.Thread(target=lambda: (failures.append(_store_fusion(reader)), done.set()))
            worker.start()
            assert not done.wait(0.3)  # blocked while the switch holds the lock
            switched = replace(read_meta(settings.index_dir), fingerprint="another-model")
            write_meta(settings.index_dir, switched)
        worker.join(5)
    assert isinstance(failures[0], IndexBusyError) and "switched to another model" in str(failures[0])
    assert read_meta(settings.index_dir).fingerprint == "another-model"  # the switch stands


def _store_fusion(index: Index) -> IndexBusyError | None:
    try:
        index.set_fusion(Fusion("rrf", 5, (2.0, 1.0)))
    except IndexBusyError as exc:
        return exc
    return None


def test_another_model_is_refused_in_one_line(built: tuple[Settings, Path], tmp_path: Path) -> None:
    settings, _ = built
    with Index.open(settings) as index:
        with pytest.raises(ModelMismatchError, match="was built with"):
            index.check_model("someone/else", "0123456789abcdef")


def test_a_rerun_embeds_only_what_changed(built: tuple[Settings, Path]) -> None:
    settings, root = built
    (root / "sky" / "telescope.md").write_text("# Telescopes\n\nA refracting telescope uses lenses.")
    (root / "kitchen" / "bread.md").unlink()
    encoder = FakeEncoder()
    with Index.open_or_create(settings) as index:
        report = update_index(index, [root], encoder=encoder)
        assert (report.indexed, report.unchanged, report.removed) == (1, 1, 1)
        assert index.store.count() == 2


def test_search_ranks_by_shared_words_in_every_mode(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        for mode in ("dense", "sparse", "hybrid"):
            hits = searcher.search("sourdough starter flour", k=2, mode=mode)
            assert hits[0].path == "kitchen/bread.md", mode
        assert searcher.search("mirror", k=3, mode="dense", path_glob="garden/*")[0].path == "garden/tomatoes.md"
        assert searcher.document_text("garden/tomatoes.md").startswith("# Tomatoes")


def test_a_long_lived_reader_keeps_answering_while_a_writer_works_and_sees_its_commit(
        built: tuple[Settings, Path]) -> None:
    settings, root = built
    with Searcher(Index.open(settings), FakeEncoder()) as session:  # an interactive session, say
        assert all(h.path != "geo/volcano.md" for h in session.search("volcano magma", k=3, mode="sparse"))
        write_files(root, {"geo/volcano.md": "# Volcanoes\n\nMagma rises and a volcano erupts."})
        with Index.open_or_create(settings) as writer:  # the session holds no lock: the writer goes ahead
            assert session.search("sourdough starter", k=1)[0].path == "kitchen/bread.md"
            update_index(writer, [root], encoder=FakeEncoder())
        assert session.search("volcano magma", k=1, mode="sparse")[0].path == "geo/volcano.md"
        assert session.index.info().points == 4


def test_a_second_writer_is_refused_while_the_first_has_the_index_open(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    with Index.open_or_create(settings):
        with pytest.raises(IndexBusyError, match=r"index 't' is being written by pid \d+"):
            Index.open_or_create(settings)
    Index.open_or_create(settings).close()  # released on close
