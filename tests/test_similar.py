"""Document similarity, near-duplicate groups, collapsed results and calibration, on the fake encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEncoder
from helpers import write_files

from docsearch import DataError, Index, Searcher, Settings, update_index
from docsearch.calibrate import Threshold, from_distribution, from_pairs, load, read_pairs, save, threshold_for
from docsearch.dupes import find_dupes, leaders
from docsearch.similar import DocChunks, compare, resolve, similar, similarity

BASE = ("Tomatoes need full sun, deep watering twice a week and a stake to climb. Pinch the side shoots so the "
        "plant puts its strength into fruit. Feed with potash once the first truss sets.")
FILES = {
    "tomatoes.txt": BASE,
    "tomatoes-copy.txt": BASE.replace("twice a week", "two times weekly"),  # a near-copy
    "tomatoes-exact.txt": BASE,  # an exact copy
    "telescope.txt": "A reflecting telescope gathers starlight with a curved primary mirror and an eyepiece.",
    "bread.txt": "Sourdough rises slowly: a starter of wild yeast, flour, water and salt, proofed overnight.",
    "jazz.txt": "Bebop jazz swings at fast tempos with complex chord changes and improvised solos.",
}


@pytest.fixture
def index(tmp_path: Path) -> Index:
    root = write_files(tmp_path / "docs", FILES)
    settings = Settings(home=tmp_path / "home", index="t")
    with Index.open_or_create(settings) as idx:
        update_index(idx, [root], encoder=FakeEncoder())
    opened = Index.open(settings)
    save(opened, Threshold(0.9, "given", opened.meta.fingerprint, 6))
    yield opened
    opened.close()


def doc(name: str, *rows: list[float]) -> DocChunks:
    vectors = np.asarray(rows, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return DocChunks(name, name, name, vectors, tuple(f"{name} {i}" for i in range(len(rows))))


def test_aggregations_score_a_shared_chunk_differently() -> None:
    a = doc("a", [1, 0, 0], [0, 1, 0])
    b = doc("b", [1, 0, 0], [0, 0, 1])  # shares one chunk with a
    assert similarity(a, b, "max") == pytest.approx(1.0)  # max-sim calls them copies
    assert similarity(a, b, "chamfer") == pytest.approx(0.5)
    assert similarity(a, b, "mean") == pytest.approx(0.5)
    assert similarity(a, a) == pytest.approx(1.0)


def test_similar_ranks_the_near_copy_first(index: Index) -> None:
    target = resolve(index, "tomatoes.txt")
    found = similar(index, target, k=3)
    assert {found[0].doc, found[1].doc} == {"tomatoes-copy.txt", "tomatoes-exact.txt"}
    assert found[2].score < 0.5
    assert "tomatoes.txt" not in [s.doc for s in found]


def test_a_file_outside_the_index_is_embedded_on_the_fly(index: Index, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("Jazz at fast tempos: bebop swings with improvised solos over complex chord changes.")
    target = resolve(index, str(outside), encoder=FakeEncoder())
    assert similar(index, target, k=1)[0].doc == "jazz.txt"


def test_compare_says_same_for_copies_and_different_for_strangers(index: Index) -> None:
    same = compare(resolve(index, "tomatoes.txt"), resolve(index, "tomatoes-copy.txt"), 0.9)
    assert same.same and not same.exact and same.score > 0.9
    exact = compare(resolve(index, "tomatoes.txt"), resolve(index, "tomatoes-exact.txt"), 0.999)
    assert exact.same and exact.exact
    other = compare(resolve(index, "tomatoes.txt"), resolve(index, "bread.txt"), 0.9)
    assert not other.same and other.score < 0.5


def test_unknown_target_is_one_clear_error(index: Index) -> None:
    from docsearch import ConfigError

    with pytest.raises(ConfigError, match="neither a document"):
        resolve(index, "no-such-thing.txt")


def test_dupes_groups_exact_and_near_copies(index: Index) -> None:
    report = find_dupes(index, 0.9)
    assert [sorted(m.doc for m in g.members) for g in report.groups] == [
        ["tomatoes-copy.txt", "tomatoes-exact.txt", "tomatoes.txt"]]
    members = {m.doc: m for m in report.groups[0].members}
    assert members["tomatoes-exact.txt"].exact and not members["tomatoes-copy.txt"].exact
    assert report.duplicates == 2 and report.documents == 6
    assert find_dupes(index, 0.9999).groups[0].kind == "exact"  # only the exact copy is left


def test_leaders_fold_onto_the_best_ranked_copy() -> None:
    known = {"a": doc("a", [1, 0, 0]), "b": doc("b", [0, 1, 0]), "c": doc("c", [0.99, 0.05, 0])}
    assert leaders(["b", "c", "a"], known, 0.95) == {"b": "b", "c": "c", "a": "c"}


def test_search_collapses_near_duplicates(index: Index) -> None:
    with Searcher(index, FakeEncoder()) as searcher:
        plain = searcher.search("tomatoes sun watering", k=4, mode="dense")
        folded = searcher.search("tomatoes sun watering", k=4, mode="dense", collapse=True)
    assert sum(h.doc.startswith("tomatoes") for h in plain) == 3
    tomato = [h for h in folded if h.doc.startswith("tomatoes")]
    assert len(tomato) == 1 and len(tomato[0].duplicates) == 2
    assert [h.rank for h in folded] == [1, 2, 3, 4] and len({h.doc for h in folded}) == 4


def test_distribution_threshold_sits_above_the_bulk() -> None:
    rng = np.random.default_rng(0)
    bulk = list(np.clip(rng.normal(0.6, 0.05, 480), 0, 1)) + [0.99] * 20
    value, figures = from_distribution(bulk)
    assert 0.85 <= value <= 0.98 and figures["above"] == 20


def test_pairs_threshold_reports_held_out_figures() -> None:
    rng = np.random.default_rng(1)
    scores = list(rng.uniform(0.9, 1.0, 40)) + list(rng.uniform(0.3, 0.85, 60))
    fit = from_pairs(scores, [1] * 40 + [0] * 60)
    assert 0.7 <= fit.threshold <= 0.9  # in the gap between the two labels
    assert fit.accuracy == 1.0 and fit.precision == 1.0 and fit.recall == 1.0
    assert fit.held_out == 30 and fit.train == 70
    with pytest.raises(DataError, match="at least 10"):
        from_pairs([0.9, 0.1], [1, 0])


def test_read_pairs_counts_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join([json.dumps({"a": "x", "b": "y", "label": 1}), "{broken",
                               json.dumps({"query": "q", "text": "t", "label": 0}), json.dumps({"a": "x", "label": 1}),
                               json.dumps({"a": "x", "b": "y", "label": 2})]) + "\n")
    rows, bad = read_pairs(path)
    assert rows == [("x", "y", 1), ("q", "t", 0)]
    assert [b.split(":")[0] for b in bad] == ["line 2", "line 4", "line 5"]


def test_stored_threshold_is_dropped_for_another_model(index: Index) -> None:
    assert load(index).value == 0.9  # type: ignore[union-attr]
    save(index, Threshold(0.9, "given", "another-fingerprint", 6))
    assert load(index) is None
    assert threshold_for(index).source == "distribution" and load(index) is not None
