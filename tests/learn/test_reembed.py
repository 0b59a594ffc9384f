"""Re-embedding an index beside the live one, the atomic switch, rollback, resuming after an
interruption and the writer lock, with the fake encoder (instant) answering to a tiny model's id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEncoder
from helpers import write_files

from docsearch import Index, IndexBusyError, IndexMeta, Lineage, Searcher, Settings, index_paths
from docsearch.errors import ConfigError, ModelError
from docsearch.lock import WriterLock
from docsearch.meta import PREVIOUS_FILE, read_meta
from docsearch.reembed import STATE_FILE, reembed, rollback

DOCS = {
    "tomatoes.md": "Tomato plants need full sun, deep watering and support as they grow.",
    "bread.md": "Sourdough bread rises slowly because wild yeast ferments the dough.",
    "bees.md": "Honey bees dance to tell each other where the flowers are.",
    "tides.md": "Tides rise and fall twice a day, pulled by the moon.",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """An index of four notes, made with the fake encoder as the bundled model, 64-token chunks."""
    docs = write_files(tmp_path / "docs", {**DOCS, **{f"extra/n{i}.md": f"note {i} about item {i}" for i in range(40)}})
    s = Settings(home=tmp_path / "home", index="notes", chunk_tokens=64, device="cpu")
    index_paths(s, [docs], encoder=FakeEncoder())
    return s


def search(settings: Settings, encoder: FakeEncoder, query: str = DOCS["bread.md"]) -> list[str]:
    with Searcher(Index.open(settings), encoder) as s:
        return [h.path for h in s.search(query, k=3, mode="dense")]


def test_an_index_json_without_data_or_lineage_still_loads() -> None:
    old = {"name": "n", "model": "all-MiniLM-L6-v2", "model_id": "m", "fingerprint": "f", "dim": 384,
           "variant": "siamese", "chunk_tokens": 256, "overlap": 32}
    meta = IndexMeta.from_json(old)
    assert meta.data == "" and meta.lineage == ()
    step = Lineage("base", 40, 12, 12, 1.0, {"ndcg@10": 0.5}, {"ndcg@10": 0.6})
    again = IndexMeta.from_json(json.loads(json.dumps(IndexMeta.from_json({**old, "data": "generations/x"}).to_json())))
    assert again.data == "generations/x"
    with_lineage = IndexMeta.from_json(json.loads(json.dumps({**meta.to_json(), "lineage": [step.to_json()]})))
    assert with_lineage.lineage == (step,)


def test_reembed_switches_to_a_new_data_folder_and_rollback_swaps_back(settings: Settings, tiny_model: Path) -> None:
    before = read_meta(settings.index_dir)
    assert search(settings, FakeEncoder())[0] == "bread.md"
    new = FakeEncoder(str(tiny_model))
    report = reembed(settings, tiny_model, encoder=new)
    meta = read_meta(settings.index_dir)
    assert meta.fingerprint == new.fingerprint and meta.dim == 32 and meta.data.startswith("generations/")
    assert report.chunks == report.embedded == 44 and report.resumed == 0 and report.previous == before
    assert json.loads((settings.index_dir / PREVIOUS_FILE).read_text())["fingerprint"] == before.fingerprint
    assert not (settings.index_dir / STATE_FILE).exists()
    assert (settings.index_dir / meta.data / "published").is_dir()  # searchable the moment index.json names it
    assert search(settings, new)[0] == "bread.md"
    with Index.open(settings) as index:
        assert index.info().chunks == 44 and index.store.count() == 44
    with pytest.raises(Exception, match="built with"):
        search(settings, FakeEncoder())  # the old model no longer matches

    now, was = rollback(settings)
    assert now == before and was.fingerprint == new.fingerprint
    assert read_meta(settings.index_dir) == before and search(settings, FakeEncoder())[0] == "bread.md"
    rollback(settings)  # and forward again
    assert read_meta(settings.index_dir).fingerprint == new.fingerprint


def test_a_second_switch_removes_what_neither_index_names(settings: Settings, tiny_model: Path) -> None:
    reembed(settings, tiny_model, encoder=FakeEncoder(str(tiny_model)))
    first = read_meta(settings.index_dir).data
    reembed(settings, "all-MiniLM-L6-v2", encoder=FakeEncoder())  # back to the bundled model, as a new folder
    meta = read_meta(settings.index_dir)
    assert meta.data != first and meta.data.startswith("generations/")
    folder = settings.index_dir
    assert sorted(p.name for p in (folder / "generations").iterdir()) == sorted([Path(first).name, Path(meta.data).name])
    assert not (folder / "shard").exists() and not (folder / "manifest.sqlite").exists()  # the original data
    assert search(settings, FakeEncoder())[0] == "bread.md"


class Dies(FakeEncoder):
    """Raises after ``lives`` encode calls, as a kill would stop a run."""

    def __init__(self, model: str, lives: int) -> None:
        super().__init__(model)
        self.lives = lives

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.calls >= self.lives:
            raise KeyboardInterrupt
        return super()._embed(texts)


def test_an_interrupted_reembed_leaves_the_old_index_and_the_next_run_resumes(
    settings: Settings, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docsearch.reembed as module

    monkeypatch.setattr(module, "PAGE", 10)
    before = read_meta(settings.index_dir)
    with pytest.raises(KeyboardInterrupt):
        reembed(settings, tiny_model, encoder=Dies(str(tiny_model), lives=2))
    assert read_meta(settings.index_dir) == before and search(settings, FakeEncoder())[0] == "bread.md"
    state = json.loads((settings.index_dir / STATE_FILE).read_text())
    assert state["done"] == 20
    again = FakeEncoder(str(tiny_model))
    report = reembed(settings, tiny_model, encoder=again)
    assert (report.resumed, report.embedded, report.chunks) == (20, 24, 44)
    assert read_meta(settings.index_dir).data == state["data"]
    with Index.open(settings) as index:
        assert index.store.count() == 44
    assert search(settings, again)[0] == "bread.md"


def test_an_interrupted_run_for_another_model_is_discarded(settings: Settings, tiny_model: Path, tiny_model_2: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import docsearch.reembed as module

    monkeypatch.setattr(module, "PAGE", 10)
    with pytest.raises(KeyboardInterrupt):
        reembed(settings, tiny_model, encoder=Dies(str(tiny_model), lives=1))
    abandoned = json.loads((settings.index_dir / STATE_FILE).read_text())["data"]
    report = reembed(settings, tiny_model_2, encoder=FakeEncoder(str(tiny_model_2)))
    assert report.resumed == 0 and not (settings.index_dir / abandoned).exists()


def test_one_writer_at_a_time(settings: Settings, tiny_model: Path, tmp_path: Path) -> None:
    with WriterLock(settings.index_dir, "notes"):
        with pytest.raises(IndexBusyError, match="being written"):
            index_paths(settings, [tmp_path / "docs"], encoder=FakeEncoder())
        with pytest.raises(IndexBusyError):
            reembed(settings, tiny_model, encoder=FakeEncoder(str(tiny_model)))
        with pytest.raises(IndexBusyError):
            rollback(settings)
    index_paths(settings, [tmp_path / "docs"], encoder=FakeEncoder())  # free again


def test_refusals(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no previous"):
        rollback(settings)
    with pytest.raises(ConfigError, match="already uses"):
        reembed(settings, "all-MiniLM-L6-v2", encoder=FakeEncoder())
    from tiny import build_tiny_model

    short = build_tiny_model(tmp_path / "short", max_seq_length=16)
    with pytest.raises(ModelError, match="fewer than the index's 64-token chunks"):
        reembed(settings, short, encoder=FakeEncoder(str(short)))


def test_docsearch_check_finds_a_reembedded_and_a_rolled_back_index_whole(settings: Settings, tiny_model: Path) -> None:
    from docsearch import check_index

    reembed(settings, tiny_model, encoder=FakeEncoder(str(tiny_model)))
    report = check_index(settings, repair=True)
    assert report.ok and not report.repaired, report.problems  # the new store records the new model
    assert read_meta(settings.index_dir).fingerprint == FakeEncoder(str(tiny_model)).fingerprint
    rollback(settings)
    assert check_index(settings).ok
