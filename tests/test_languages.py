"""Languages: detection, BM25 per document language, the model's languages and the warning.

Fast tests use the fake encoder and the real embedded store; the CLI ones (slow) the real model.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import FakeEncoder
from helpers import write_files

from docsearch import Index, IndexReport, ModelDir, Searcher, Settings, update_index
from docsearch.encoders.sparse import DEFAULT_SPARSE_ID, Bm25Encoder, bm25_name, sparse_encoder, sparse_id
from docsearch.languages import UNDETERMINED, coverage_warning, detect, main_language, uncovered_share
from docsearch.meta import read_meta
from docsearch.model import front_matter_list

GERMAN = {
    "haus.md": "Die alten Häuser am Marktplatz wurden im neunzehnten Jahrhundert aus rotem Backstein gebaut.",
    "wald.md": "Im dichten Wald wachsen Buchen und Eichen, und im Herbst sammeln die Kinder Kastanien.",
    "zug.md": "Der Zug nach München fährt jeden Morgen um sieben Uhr vom Hauptbahnhof ab.",
}
CHINESE = {
    "beijing.md": "北京是中华人民共和国的首都，也是全国的政治和文化中心。故宫位于北京市中心，每年吸引大量游客。",
    "tea.md": "绿茶是中国最古老的茶类之一，龙井茶产于杭州西湖一带，以色绿、香郁、味甘、形美著称。",
    "panda.md": "大熊猫主要生活在四川的山区竹林中，以竹子为食，是中国的国宝级保护动物。",
}
ENGLISH = {
    "tomatoes.md": "Stake tomato plants and water them at the base to keep the leaves dry.",
    "bread.md": "A sourdough starter needs flour and water every day to stay alive.",
    "telescope.md": "A reflecting telescope gathers light with a curved mirror.",
}


def build(tmp_path: Path, files: dict[str, str], name: str = "t") -> tuple[Settings, Path, IndexReport]:
    root = write_files(tmp_path / f"docs-{name}", files)
    settings = Settings(home=tmp_path / "home", index=name)
    with Index.open_or_create(settings) as index:
        report = update_index(index, [root], encoder=FakeEncoder())
    return settings, root, report


# --- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "code"), [
    (ENGLISH["bread.md"], "en"), (GERMAN["zug.md"], "de"), (CHINESE["tea.md"], "zh"),
    ("東京は日本の首都です。私は毎朝、駅の近くの店でコーヒーを飲みます。", "ja"),
    ("Москва является столицей России и крупнейшим городом страны.", "ru"),
    ("12345 67.89 -- ;;", UNDETERMINED), ("", UNDETERMINED),
])
def test_detect_names_a_document_s_language(text: str, code: str) -> None:
    assert detect(text) == code


def test_detect_abstains_on_text_too_short_to_tell() -> None:
    # A title and an author list: the detector's best guess is unlikely, so nothing is claimed.
    assert detect("Tridiagonal Matrix (Algorithm 122)\n\nAuthors: Dietzel, G. F.") == UNDETERMINED
    # Unsure, but in Chinese characters: Chinese, so its BM25 still segments it.
    assert detect("故宫") == detect("寿司") == "zh"


def test_cld2_answers_when_sure_and_py3langid_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    import docsearch.languages as languages

    german = " ".join(GERMAN.values())
    assert languages._cld2(german) == "de"  # long and plain: the fast path decides
    assert languages._cld2("Tridiagonal Matrix (Algorithm 122)") is None  # too short to be sure
    assert languages._cld2(german + "\x19") is None  # a control character CLD2 refuses
    assert detect(german + "\x19") == "de"  # ... so py3langid names it
    # Without CLD2 (no wheel for the platform) every text still gets its language.
    monkeypatch.setattr(languages, "_cld2", lambda sample: None)
    assert detect(german) == "de" and detect(CHINESE["tea.md"]) == "zh" and detect(ENGLISH["bread.md"]) == "en"


# --- the model's languages and the warning -------------------------------------------------------


def test_the_bundled_model_says_it_is_english() -> None:
    assert ModelDir.resolve("all-MiniLM-L6-v2").languages == ("en",)


def test_model_card_front_matter_is_read_in_its_three_forms() -> None:
    assert front_matter_list("---\nlanguage: en\nlicense: mit\n---\n# x", "language") == ("en",)
    assert front_matter_list("---\nlicense: mit\nlanguage: [de, 'fr']\n---", "language") == ("de", "fr")
    block = "---\nlanguage:\n- multilingual\n  - ar\n- zh\ntags:\n- a\n---\nlanguage: no"
    assert front_matter_list(block, "language") == ("multilingual", "ar", "zh")
    assert front_matter_list("# no front matter\nlanguage: en", "language") == ()


def _model_dir(path: Path, card: str | None, marker: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    (path / "modules.json").write_text("[]")
    if card is not None:
        (path / "README.md").write_text(card)
    if marker is not None:
        (path / "docsearch_model.json").write_text(json.dumps(marker))
    return path


def test_a_model_without_a_card_is_unknown_and_a_trained_one_inherits_its_base(tmp_path: Path) -> None:
    multi = _model_dir(tmp_path / "multi", "---\nlanguage:\n- multilingual\n- de\n---\n")
    assert ModelDir.resolve(multi).languages == ("multilingual", "de")
    assert ModelDir.resolve(_model_dir(tmp_path / "bare", None)).languages is None
    trained = _model_dir(tmp_path / "trained", None, {"variant": "siamese", "base": "all-MiniLM-L6-v2"})
    assert ModelDir.resolve(trained).languages == ("en",)
    gone = _model_dir(tmp_path / "orphan", None, {"base": str(tmp_path / "deleted")})
    assert ModelDir.resolve(gone).languages is None


def test_the_warning_rule() -> None:
    en = ("en",)
    assert coverage_warning({"en": 800, "und": 40}, en, "m") is None  # never for English with an English model
    assert coverage_warning({"zh": 10}, None, "m") is None  # the model's languages unknown: nothing to say
    assert coverage_warning({"zh": 10}, ("multilingual",), "m") is None
    assert coverage_warning({"en": 85, "de": 15}, en, "m") is None  # a small share
    line = coverage_warning({"en": 70, "de": 30}, en, "all-MiniLM-L6-v2")
    assert line is not None and "German (de, 30% of documents)" in line and "all-MiniLM-L6-v2" in line
    assert "--mode sparse" in line and "--model DIR" in line and "\n" not in line
    assert "Chinese" in (coverage_warning({"zh": 5, "en": 4}, en, "m") or "")  # the main language
    assert main_language({"und": 50, "de": 3, "en": 2}) == "de"
    assert uncovered_share({"en": 3, "zh": 1, "und": 6}, en) == 0.1  # undetermined documents count in the whole
    assert coverage_warning({"und": 58, "sn": 2}, en, "m") is None  # made-up words, two guessed as Shona


# --- BM25 per language -------------------------------------------------------------------------


def test_bm25_names_and_ids() -> None:
    assert [bm25_name(c) for c in ("en", "und", "de", "zh", "ja", "th", "ko", "hy")] == [
        "english", "english", "german", "chinese-multilingual", "japanese-multilingual", "none-multilingual", "none",
        "armenian"]
    assert sparse_id([]) == sparse_id(["en", "und"]) == DEFAULT_SPARSE_ID == "qdrant-edge-bm25-english"
    assert sparse_id(["zh", "en", "de"]) == "qdrant-edge-bm25-chinese-multilingual+english+german"
    assert sparse_encoder(sparse_id(["zh", "de"])).names == ("chinese-multilingual", "german")


@pytest.mark.parametrize(("language", "doc", "word"), [
    ("zh", "绿茶是中国最古老的茶类之一，龙井茶产于杭州西湖一带。", "龙井茶"),
    ("ja", "東京は日本の首都です。私は寿司を食べるのが好きです。", "寿司"),
])
def test_the_multilingual_tokenizer_segments_chinese_and_japanese(language: str, doc: str, word: str) -> None:
    segmented = sparse_encoder(sparse_id([language]))
    vector = segmented.documents([doc], [language])[0]
    assert len(vector.indices) > 4  # words, not one token per clause
    assert set(segmented.query(word).indices) <= set(vector.indices)
    words = Bm25Encoder("english")  # Qdrant's word tokenizer: a clause is one token
    assert not set(words.query(word).indices) & set(words.documents([doc])[0].indices)


def test_languages_share_one_id_space_and_a_query_unites_them() -> None:
    assert Bm25Encoder("english").query("berlin").indices == Bm25Encoder("german").query("berlin").indices
    both = sparse_encoder(sparse_id(["en", "de"]))
    united = set(both.query("running Häuser").indices)
    assert united == set(Bm25Encoder("english").query("running Häuser").indices) | set(
        Bm25Encoder("german").query("running Häuser").indices)
    assert set(both.query("x").values) == {1.0}


# --- indexes ------------------------------------------------------------------------------------


def _top(searcher: Searcher, query: str, mode: str) -> tuple[str, float]:
    hits = searcher.search(query, k=3, mode=mode)
    return (hits[0].path, hits[0].score) if hits else ("", 0.0)


def test_a_german_folder_is_recorded_german_and_its_bm25_stems_german(tmp_path: Path) -> None:
    settings, _, report = build(tmp_path, GERMAN)
    meta = read_meta(settings.index_dir)
    assert meta.languages == {"de": 3} and meta.sparse == "qdrant-edge-bm25-german"
    assert report.warnings and "German" in report.warnings[0]
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        # "Haus" is in no document; German stemming finds "Häuser", dense (exact words here) cannot.
        assert _top(searcher, "Haus", "sparse")[0] == "haus.md"
        assert _top(searcher, "Kastanie", "sparse")[0] == "wald.md"
        dense = {h.path: h.score for h in searcher.search("Haus", k=3, mode="dense")}
        assert dense.get("haus.md", 0.0) < 0.1
        assert not searcher.index.covers_language and searcher.index.uncovered_share == 1.0


def test_a_chinese_folder_is_searchable_by_its_words(tmp_path: Path) -> None:
    settings, _, report = build(tmp_path, CHINESE)
    meta = read_meta(settings.index_dir)
    assert meta.languages == {"zh": 3} and meta.sparse == "qdrant-edge-bm25-chinese-multilingual"
    assert len(report.warnings) == 1 and "Chinese (zh, 100% of documents)" in report.warnings[0]
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        for word, doc in (("龙井茶", "tea.md"), ("故宫", "beijing.md"), ("竹子", "panda.md")):
            assert _top(searcher, word, "sparse")[0] == doc, word
            dense = {h.path: h.score for h in searcher.search(word, k=3, mode="dense")}
            assert dense.get(doc, 0.0) < 0.1, word  # the fake dense side sees a clause as one word
        chunks = searcher.index.store.doc_chunks("tea.md")
        assert chunks[0]["lang"] == "zh"
        info = searcher.info()
        assert info.model_languages == ("en",) and info.warnings == tuple(report.warnings)


def test_an_english_folder_keeps_the_english_bm25_bit_for_bit_and_gets_no_warning(tmp_path: Path) -> None:
    settings, _, report = build(tmp_path, ENGLISH)
    meta = read_meta(settings.index_dir)
    assert meta.languages == {"en": 3} and meta.sparse == DEFAULT_SPARSE_ID and report.warnings == ()
    with Index.open(settings) as index:
        assert index.covers_language and index.uncovered_share == 0.0 and index.info().warnings == ()
        ids = [pid for page in index.store.texts() for pid, _ in page]
        texts = {pid: t for page in index.store.texts() for pid, t in page}
    with Index.open(settings) as index:
        shard = index.store.edge._shard  # type: ignore[attr-defined]  # the reader's view of the shard
        for record in shard.retrieve(ids, with_payload=False, with_vector=True):
            stored = record.vector["bm25"]
            expected = Bm25Encoder("english").documents([texts[str(record.id)]])[0]
            assert (sorted(stored.indices), sorted(stored.values)) == (sorted(expected.indices), sorted(expected.values))


def test_a_mixed_folder_finds_each_language_with_its_own_words(tmp_path: Path) -> None:
    files = {f"en/{k}": v for k, v in ENGLISH.items()} | {f"zh/{k}": v for k, v in CHINESE.items()}
    settings, root, report = build(tmp_path, files)
    meta = read_meta(settings.index_dir)
    assert meta.languages == {"en": 3, "zh": 3}
    assert meta.sparse == "qdrant-edge-bm25-chinese-multilingual+english"
    assert report.warnings  # half the documents are Chinese
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        assert _top(searcher, "龙井茶", "sparse")[0] == "zh/tea.md"
        assert _top(searcher, "telescopes", "sparse")[0] == "en/telescope.md"  # English stemming still applies
        assert _top(searcher, "大熊猫 竹林", "hybrid")[0] == "zh/panda.md"

    # The Chinese documents go: the index is English again, without recomputing anything.
    for name in CHINESE:
        (root / "zh" / name).unlink()
    with Index.open_or_create(settings) as index:
        again = update_index(index, [root], encoder=FakeEncoder())
    assert (again.removed, again.resparsed, again.warnings) == (3, 0, ())
    assert read_meta(settings.index_dir).sparse == DEFAULT_SPARSE_ID


def _make_old(settings: Settings) -> None:
    """Turn an index into one written before languages: no languages in index.json, no langs column."""
    meta_file = settings.index_dir / "index.json"
    data = json.loads(meta_file.read_text())
    del data["languages"]
    meta_file.write_text(json.dumps(data))
    db = sqlite3.connect(settings.index_dir / "manifest.sqlite")
    db.execute("ALTER TABLE sources DROP COLUMN langs")
    db.commit()
    db.close()


def test_an_old_index_json_without_languages_opens_and_searches(tmp_path: Path) -> None:
    settings, root, _ = build(tmp_path, ENGLISH)
    _make_old(settings)
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        index = searcher.index
        assert index.meta.languages is None and index.languages == {} and index.has_sparse
        assert index.covers_language and index.language_warning is None
        assert _top(searcher, "sourdough starter", "sparse")[0] == "bread.md"
        assert _top(searcher, "curved mirror", "dense")[0] == "telescope.md"
    with Index.open_or_create(settings) as index:  # an unchanged rerun: nothing to redo, still unknown
        report = update_index(index, [root], encoder=FakeEncoder())
    assert (report.indexed, report.resparsed, report.warnings) == (0, 0, ())
    assert read_meta(settings.index_dir).languages is None

    # A new German document: its source records its language; the old ones count as undetermined.
    (root / "zug.md").write_text(GERMAN["zug.md"])
    with Index.open_or_create(settings) as index:
        report = update_index(index, [root], encoder=FakeEncoder())
        assert (report.indexed, report.resparsed) == (1, 0)
        assert index.meta.languages == {"und": 3, "de": 1}
        assert index.meta.sparse == "qdrant-edge-bm25-english+german"
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        assert _top(searcher, "Züge München", "sparse")[0] == "zug.md"
        assert _top(searcher, "sourdough starter", "sparse")[0] == "bread.md"


def test_an_index_whose_bm25_no_longer_fits_its_languages_is_recomputed_in_each_chunk_s_language(
        tmp_path: Path) -> None:
    settings, root, _ = build(tmp_path, {f"de/{k}": v for k, v in GERMAN.items()} | {f"zh/{k}": v for k, v in CHINESE.items()})
    # As if made by a docsearch whose BM25 tokenized everything as English.
    with Index.open(settings, writable=True) as index:
        english = Bm25Encoder("english")
        index.store.set_sparse([(pid, english.documents([t])[0]) for page in index.store.texts() for pid, t in page])
        index.update(sparse=DEFAULT_SPARSE_ID)
        assert not index.has_sparse
    with Index.open_or_create(settings) as index:
        report = update_index(index, [root], encoder=FakeEncoder())
    assert (report.resparsed, report.chunks) == (6, 0)
    assert read_meta(settings.index_dir).sparse == "qdrant-edge-bm25-chinese-multilingual+german"
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        assert _top(searcher, "故宫", "sparse")[0] == "zh/beijing.md"
        assert _top(searcher, "Haus", "sparse")[0] == "de/haus.md"


# --- the command line (real model) ---------------------------------------------------------------


def ds(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCSEARCH_HOME": str(home), "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "docsearch", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize(("files", "language", "query", "doc"), [
    (GERMAN, "German", "Backstein", "haus.md"),
    (CHINESE, "Chinese", "龙井茶", "tea.md"),
])
def test_cli_a_foreign_folder_is_searchable_by_sparse_and_warned_about_once(
        tmp_path: Path, files: dict[str, str], language: str, query: str, doc: str) -> None:
    root = write_files(tmp_path / "docs", files)
    home = tmp_path / "home"
    done = ds("index", str(root), home=home)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and done.stdout.count("warning") == 1
    assert language in warnings[0] and "all-MiniLM-L6-v2" in warnings[0] and "--mode sparse" in warnings[0]
    found = ds("search", query, "--mode", "sparse", "--json", "-k", "3", home=home)
    assert found.returncode == 0, found.stderr
    answer = json.loads(found.stdout)
    assert list(answer) == ["query", "mode", "fusion", "results"] and answer["results"][0]["doc"] == doc
    assert (answer["mode"], answer["fusion"]) == ("sparse", None)
    info = ds("info", home=home)
    assert info.returncode == 0 and language in info.stdout and "warning" in info.stdout


@pytest.mark.slow
def test_cli_an_english_folder_gets_no_warning(tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", ENGLISH)
    done = ds("index", str(root), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stdout + done.stderr
    info = ds("info", home=tmp_path / "home")
    assert "English (en) 3 (100%)" in info.stdout and "warning" not in info.stdout
