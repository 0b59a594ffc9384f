"""The indexer and searcher end to end, with the real model and a real embedded Qdrant."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from helpers import write_files

from docsearch.encoders.sparse import DEFAULT_SPARSE_ID as SPARSE_ID
from docsearch.errors import IndexNotFoundError, ModelMismatchError
from docsearch.indexer import index_paths
from docsearch.meta import read_meta
from docsearch.searcher import Searcher
from docsearch.settings import Settings
from docsearch.store import open_store
from docsearch.types import SparseVector as Sparse

pytestmark = pytest.mark.slow

CORPUS = {
    "garden/tomatoes.md": "# Growing tomatoes\n\nStake the plants and water them deeply twice a week.\n",
    "space/telescopes.txt": "A reflecting telescope uses a curved mirror to gather faint starlight.\n",
    "net/routing.rst": "Routing\n=======\n\nRouters forward packets between networks using routing tables.\n",
    "kitchen/bread.html": "<html><head><title>Sourdough bread</title></head><body><p>Feed the starter and let"
                          " the dough rise overnight before baking.</p></body></html>",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_files(tmp_path / "docs", CORPUS)


def settings(home: Path, **kw: object) -> Settings:
    return Settings(home=home, index="t", **kw)  # type: ignore[arg-type]


def test_index_then_search_finds_by_meaning(corpus: Path, home: Path, encoder: object) -> None:
    report = index_paths(settings(home), [corpus], encoder=encoder)  # type: ignore[arg-type]
    assert (report.indexed, report.documents, report.skipped) == (4, 4, ())
    with Searcher.open(settings(home), encoder=encoder) as s:  # type: ignore[arg-type]
        hits = s.search("how do I look at distant galaxies", k=2)
        assert hits[0].path == "space/telescopes.txt" and hits[0].rank == 1
        assert hits[0].doc == "space/telescopes.txt"
        bread = s.search("baking a loaf", k=1)[0]
        assert bread.title == "Sourdough bread"
        assert s.search("packets", k=4, path_glob="garden/*")[0].path == "garden/tomatoes.md"
        assert s.search("anything", path_glob="nowhere/*") == []
        assert "Stake the plants" in (s.document_text("garden/tomatoes.md") or "")
        info = s.info()
        assert (info.sources, info.documents, info.chunks, info.points) == (4, 4, 4, 4)


def test_rerun_embeds_only_what_changed(corpus: Path, home: Path, encoder: object) -> None:
    index_paths(settings(home), [corpus], encoder=encoder)  # type: ignore[arg-type]
    again = index_paths(settings(home), [corpus], encoder=encoder)  # type: ignore[arg-type]
    assert (again.indexed, again.unchanged, again.chunks) == (0, 4, 0)

    (corpus / "garden/tomatoes.md").write_text("# Growing peppers\n\nPeppers like heat and little water.\n")
    (corpus / "net/routing.rst").unlink()
    (corpus / "new.txt").write_text("Jazz musicians improvise over chord changes.\n")
    touched = corpus / "space/telescopes.txt"
    os.utime(touched, ns=(time.time_ns(), time.time_ns()))  # new mtime, same bytes: not re-embedded
    report = index_paths(settings(home), [corpus], encoder=encoder)  # type: ignore[arg-type]
    assert (report.indexed, report.unchanged, report.removed) == (2, 2, 1)
    with Searcher.open(settings(home), encoder=encoder) as s:  # type: ignore[arg-type]
        assert s.info().points == 4
        assert s.search("hot chili", k=1)[0].title == "Growing peppers"
        assert all(h.path != "net/routing.rst" for h in s.search("routers and packets", k=4))


def test_bad_inputs_are_skipped_with_reasons(tmp_path: Path, home: Path, encoder: object) -> None:
    root = write_files(tmp_path / "bad", {
        "good.txt": "A perfectly fine document about bicycles.",
        "binary.txt": b"\x00\x01\x02binary\x00data",
        "latin1.txt": "caf\xe9 cr\xe8me".encode("latin-1"),  # read as the Latin-1 it is
        "empty.md": "",
        "broken.pdf": b"%PDF-1.4 this is not really a pdf",
    })
    (root / "dangling.txt").symlink_to(root / "missing-target.txt")
    report = index_paths(settings(home), [root, tmp_path / "does-not-exist"], encoder=encoder)  # type: ignore[arg-type]
    assert report.indexed == 2
    reasons = {s.path.split("/")[-1]: s.reason for s in report.skipped}
    assert set(reasons) == {"binary.txt", "empty.md", "broken.pdf", "dangling.txt", "does-not-exist"}
    assert all(r and "\n" not in r for r in reasons.values())


def test_a_different_model_is_refused(corpus: Path, home: Path, encoder: object, tmp_path: Path) -> None:
    import shutil

    from docsearch.model import ModelDir

    index_paths(settings(home), [corpus], encoder=encoder)  # type: ignore[arg-type]
    other = tmp_path / "other-model"
    shutil.copytree(ModelDir.resolve("all-MiniLM-L6-v2").path, other)
    with open(other / "model.safetensors", "ab") as fh:  # different bytes, different fingerprint
        fh.write(b"\0")
    with pytest.raises(ModelMismatchError, match=r"all-MiniLM-L6-v2.*other-model.*--rebuild"):
        index_paths(settings(home, model=str(other)), [corpus])
    with pytest.raises(ModelMismatchError):
        Searcher.open(settings(home, model=str(other)), load_model=False)


def test_interrupted_run_resumes_without_duplicates(tmp_path: Path, home: Path, encoder: object) -> None:
    import subprocess
    import sys

    docs = tmp_path / "many"
    for i in range(60):
        write_files(docs, {f"doc{i:03}.txt": f"Document {i} talks about topic {i % 7} and item {i}. " * 5})
    env = {**os.environ, "DOCSEARCH_HOME": str(home), "DOCSEARCH_INDEX_BATCH": "8", "DOCSEARCH_BATCH_SIZE": "8"}
    cmd = [sys.executable, "-m", "docsearch", "index", str(docs), "--index", "t", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = home / "t" / "manifest.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if manifest.exists() and _done(manifest) >= 8:
            break
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    assert _done(manifest) < 60, "the run finished before it could be interrupted"

    with Searcher.open(settings(home), encoder=encoder) as s:  # type: ignore[arg-type]
        s.search("topic 3", k=3)  # the interrupted index opens and answers
    report = index_paths(settings(home), [docs], encoder=encoder)  # type: ignore[arg-type]
    assert report.unchanged + report.indexed == 60
    with Searcher.open(settings(home), encoder=encoder) as s:  # type: ignore[arg-type]
        assert s.info().points == 60 and s.info().chunks == 60
        docs_seen = [c["doc"] for i in range(60) for c in s.doc_chunks(f"doc{i:03}.txt")]
        assert sorted(docs_seen) == sorted(f"doc{i:03}.txt" for i in range(60))


def _done(manifest: Path) -> int:
    try:
        with sqlite3.connect(manifest) as db:
            return db.execute("SELECT COUNT(*) FROM sources WHERE state = 'done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_records_use_the_record_id(tmp_path: Path, home: Path, encoder: object) -> None:
    rows = [{"_id": "r1", "title": "Volcanoes", "text": "Magma rises through the crust and erupts."},
            {"_id": "r2", "title": "Tides", "text": "The moon's gravity pulls the oceans into bulges."}]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    index_paths(settings(home), [path], encoder=encoder)  # type: ignore[arg-type]
    with Searcher.open(settings(home), encoder=encoder) as s:  # type: ignore[arg-type]
        hit = s.search("lunar pull on the sea", k=1)[0]
        assert (hit.doc, hit.title, hit.path) == ("r2", "Tides", "corpus.jsonl")


def test_an_index_without_bm25_vectors_gets_them_without_re_embedding(corpus: Path, home: Path, encoder: object) -> None:
    index_paths(settings(home), [corpus], encoder=encoder)  # type: ignore[arg-type]
    with Searcher.open(settings(home), encoder=encoder) as s:  # type: ignore[arg-type]
        dense = [(h.path, round(h.score, 5)) for h in s.search("distant galaxies", k=4)]
    # Make it an index from before BM25 vectors: none recorded in index.json, none stored.
    meta_file = home / "t" / "index.json"
    data = json.loads(meta_file.read_text())
    del data["sparse"]
    meta_file.write_text(json.dumps(data))
    store = open_store(home / "t", data["dim"], create=False)
    store.set_sparse([(pid, Sparse([], [])) for page in store.texts() for pid, _ in page])
    store.close()
    with Searcher.open(settings(home), encoder=encoder) as s, \
            pytest.raises(IndexNotFoundError, match=r"no current BM25 vectors.*docsearch index PATH --index t"):
        s.search("curved mirror", mode="hybrid")

    report = index_paths(settings(home), [corpus], encoder=encoder)  # type: ignore[arg-type]
    assert (report.resparsed, report.chunks, report.indexed, report.unchanged) == (4, 0, 0, 4)
    assert read_meta(home / "t").sparse == SPARSE_ID
    with Searcher.open(settings(home), encoder=encoder) as s:  # type: ignore[arg-type]
        assert s.search("curved mirror", k=1, mode="sparse")[0].path == "space/telescopes.txt"
        assert [(h.path, round(h.score, 5)) for h in s.search("distant galaxies", k=4)] == dense
    assert index_paths(settings(home), [corpus], encoder=encoder).resparsed == 0  # type: ignore[arg-type]
