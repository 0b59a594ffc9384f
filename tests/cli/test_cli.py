"""The command line as a user runs it: real subprocesses, real model, real embedded Qdrant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, write_files, write_mixed

pytestmark = pytest.mark.slow


def ds(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCSEARCH_HOME": str(home), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "docsearch", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    done = ds("index", str(REPO / "data"), "--index", "sample", home=home)
    assert done.returncode == 0, done.stderr
    assert "indexed" in done.stdout and "skipped 0" in done.stdout
    return home


def test_help_is_instant_and_lists_commands() -> None:
    code = "import sys, docsearch.cli; print('torch' in sys.modules, 'qdrant_edge' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_search_json_is_one_object_with_the_documented_shape(indexed: Path) -> None:
    done = ds("search", "how to keep a sourdough starter alive", "--index", "sample", "-k", "3", "--json", home=indexed)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # nothing else on stdout
    assert data["query"] == "how to keep a sourdough starter alive"
    assert len(data["results"]) == 3
    first = data["results"][0]
    assert set(first) == {"rank", "score", "doc", "title", "path", "line", "chunk", "text"}
    assert first["rank"] == 1 and "sourdough" in first["path"]
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]


def test_search_table_and_path_filter(indexed: Path) -> None:
    done = ds("search", "telescope", "--index", "sample", "--path", "corpus/cooking/*", "--json", home=indexed)
    paths = {r["path"] for r in json.loads(done.stdout)["results"]}
    assert paths and all(p.startswith("corpus/cooking/") for p in paths)
    table = ds("search", "telescope mirrors", "--index", "sample", "-k", "2", home=indexed)
    assert table.returncode == 0 and "astronomy" in table.stdout


def test_records_are_searchable_by_their_id(indexed: Path) -> None:
    done = ds("search", "glossary", "--index", "sample", "--path", "*.csv", "--json", "-k", "50", home=indexed)
    results = json.loads(done.stdout)["results"]
    assert results and all(r["path"].endswith(".csv") and "/" not in r["doc"] for r in results)


def test_info_shows_model_and_counts(indexed: Path) -> None:
    done = ds("info", "--index", "sample", home=indexed)
    assert done.returncode == 0
    for word in ("all-MiniLM-L6-v2", "fingerprint", "256 tokens", "siamese"):
        assert word in done.stdout


def test_errors_are_one_red_line_and_exit_1(indexed: Path, tmp_path: Path) -> None:
    missing = ds("search", "x", "--index", "nope", home=indexed)
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error:") and len(missing.stderr.strip().splitlines()) == 1
    assert "Traceback" not in missing.stderr

    bad_model = ds("search", "x", "--index", "sample", "--model", str(tmp_path), home=indexed)
    assert bad_model.returncode == 1 and "not a sentence-transformers model" in bad_model.stderr


def test_broken_files_are_reported_not_fatal(tmp_path: Path) -> None:
    root = write_files(tmp_path / "mixed", {
        "ok.md": "# Kites\n\nA kite flies when wind pushes against its sail.",
        "blob.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00",
        "empty.txt": "",
        "bad.pdf": b"%PDF-1.7\n1 0 obj <<",
    })
    done = ds("index", str(root), "--index", "mixed", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "skipped 3" in " ".join(done.stdout.split())
    for name in ("blob.txt", "empty.txt", "bad.pdf"):
        assert name in done.stdout
    again = ds("index", str(root), "--index", "mixed", "--quiet", home=tmp_path / "home")
    assert again.returncode == 0 and again.stdout == ""


def test_index_accounts_for_every_input(tmp_path: Path) -> None:
    root = write_mixed(tmp_path / "mixed")
    (root / "blob").write_bytes(b"\x00\x01\x02" * 50)  # no suffix, binary
    (root / "notes.txt").write_bytes(b"\xff\xfeJ\xfcrgen's notes: tr\xe8s bien.\n")  # Latin-1, not UTF-16
    files = sorted(p.name for p in root.iterdir())
    done = ds("index", str(root), "--index", "mixed", "--json", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # one object, nothing else on stdout
    assert report["walked"] == len(files) == 10
    assert report["indexed"] + report["unchanged"] + report["skipped"] + report["excluded"] == report["walked"]
    listed = report["indexed_paths"] + [p["path"] for p in report["skipped_paths"] + report["excluded_paths"]]
    assert sorted(listed) == files
    assert report["by_rule"] == {"hidden": 1, "unsupported": 1, "binary": 1}
    assert {p["path"]: (p["read"], p["records"], len(p["bad"])) for p in report["partly_read"]} == {
        "ragged.csv": (2, 4, 2), "records.jsonl": (2, 5, 3)}

    again = ds("index", str(root), "--index", "mixed", "--verbose", home=tmp_path / "home")
    summary = " ".join(again.stdout.split())
    assert "unchanged 7; removed 0; skipped 0; passed over 3 — 10 path(s) seen" in summary
    for line in ("hidden .hidden.md", "binary blob", "unsupported image.png", "unsupported 1 (.png 1)"):
        assert line in summary

    hits = ds("search", "how do I configure the ssh client", "--index", "mixed", "--json", "-k", "1",
              home=tmp_path / "home")
    assert json.loads(hits.stdout)["results"][0]["path"] == "README"


def test_the_auto_fusion_chosen_at_index_time_shows_in_info_and_json(indexed: Path) -> None:
    info = ds("info", "--index", "sample", home=indexed)
    assert info.returncode == 0 and "tmm" in info.stdout and "pseudo-query MRR@10" in info.stdout
    done = ds("search", "how to keep a sourdough starter alive", "--index", "sample", "--json", home=indexed)
    answer = json.loads(done.stdout)
    assert answer["mode"] == "auto" and answer["fusion"]["method"] == "tmm"
    again = json.loads(ds("search", "telescope", "--index", "sample", "--json", home=indexed).stdout)
    assert again["fusion"] == answer["fusion"]  # stored with the index: every process reads the same choice
