"""similar, compare, dupes and collapsed search as a user runs them: real model, real Qdrant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_files

pytestmark = pytest.mark.slow

RELEASE = ("Release notes for version 12 of the distribution. The upgrade from version 11 needs the new configuration "
           "format, so read the section on configuration before you start. Back up your settings and your package list "
           "before you upgrade. The package manager now resolves dependencies in parallel and downloads packages over "
           "several connections. The default editor changed to nano, and vim remains available as a package. Support "
           "for 32-bit systems ends with this release. The kernel is now version 6.1 with long-term support.")
FILES = {
    "release.txt": RELEASE,
    # A sentence reworded (cosine 0.997 with all-MiniLM-L6-v2). Dropping the editor sentence instead
    # gives 0.78 on a text this short: a near-copy to a reader, not to this model.
    "release-copy.txt": RELEASE.replace("Back up your settings and your package list before you upgrade.",
                                        "Before upgrading, back up your settings and the list of your packages."),
    "ssh.txt": "Configure the ssh client in ~/.ssh/config: a Host block names the server, User and IdentityFile.",
    "ssh-backup.txt": "Configure the ssh client in ~/.ssh/config: a Host block names the server, User and IdentityFile.",
    "bread.txt": "Sourdough rises slowly: a starter of wild yeast, flour, water and salt, proofed overnight.",
    "telescope.txt": "A reflecting telescope gathers starlight with a curved primary mirror and an eyepiece.",
}


def ds(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCSEARCH_HOME": str(home), "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "docsearch", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    root = write_files(tmp_path_factory.mktemp("docs"), FILES)
    done = ds("index", str(root), "--index", "notes", home=home)
    assert done.returncode == 0, done.stderr
    return home


def test_similar_ranks_the_near_copy_first(home: Path) -> None:
    done = ds("similar", "release.txt", "--index", "notes", "--json", "-k", "3", home=home)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["target"]["doc"] == "release.txt"
    assert answer["results"][0]["doc"] == "release-copy.txt" and answer["results"][0]["same"]
    assert not answer["results"][1]["same"]


def test_compare_says_same_for_the_pair_and_different_for_strangers(home: Path) -> None:
    same = ds("compare", "release.txt", "release-copy.txt", "--index", "notes", home=home)
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("same")
    other = json.loads(ds("compare", "release.txt", "bread.txt", "--index", "notes", "--json", home=home).stdout)
    assert other["verdict"] == "different" and other["score"] < other["threshold"]


def test_dupes_finds_the_pair_and_the_exact_copy(home: Path) -> None:
    done = ds("dupes", "--index", "notes", "--json", home=home)
    assert done.returncode == 0, done.stderr
    groups = {frozenset(d["doc"] for d in g["documents"]): g["kind"] for g in json.loads(done.stdout)["groups"]}
    assert groups == {frozenset({"release.txt", "release-copy.txt"}): "near",
                      frozenset({"ssh.txt", "ssh-backup.txt"}): "exact"}


def test_search_folds_the_copy_and_no_collapse_shows_both(home: Path) -> None:
    folded = ds("search", "upgrade release notes", "--index", "notes", "-k", "3", home=home)
    assert folded.returncode == 0, folded.stderr
    assert "+1 near-duplicate" in folded.stdout
    assert ("release-copy.txt" in folded.stdout) and folded.stdout.count("release") >= 2  # named in the fold line
    answer = json.loads(ds("search", "upgrade release notes", "--index", "notes", "-k", "3", "--json", home=home).stdout)
    top = answer["results"][0]
    assert {top["doc"], top["duplicates"][0]["doc"]} == {"release.txt", "release-copy.txt"}
    assert not any(r["doc"].startswith("release") for r in answer["results"][1:])
    plain = json.loads(ds("search", "upgrade release notes", "--index", "notes", "-k", "3", "--json", "--no-collapse",
                          home=home).stdout)
    assert {r["doc"] for r in plain["results"][:2]} == {"release.txt", "release-copy.txt"}
    assert "duplicates" not in plain["results"][0]
