"""Every office, e-book and mail format through the command line: a folder with one real file of
each (made by its own library) and a broken one of each; each is found by a query and the result
says where in the file it is; each broken one is skipped with its reason in the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gz, write_files
from office_files import broken_files, good_files

pytestmark = pytest.mark.slow

# query -> (path, doc id or None for the path, place shown)
QUERIES = {
    "how often should tomato plants be watered": ("garden.docx", None, "§ Watering"),
    "when does the rover land on the moon": ("roadmap.pptx", None, "slide 2"),
    "who supplies rosin for violin bows": ("stock.xlsx", None, "sheet Suppliers, row 5"),
    "which bird has the longest wingspan": ("birds.ods", None, "sheet Birds, row 2"),
    "keeping a sourdough starter alive": ("bread.odt", None, "§ Sourdough"),
    "waves hit the lighthouse in a storm": ("lighthouse.epub", None, "chapter 1: The Storm"),
    "the Sicilian Defence chess opening": ("chess.rtf", None, None),
    "what did the brake pads for my bicycle cost": ("invoice.eml", None, None),
    "which novel does the book club read next month": ("friends.mbox", "friends.mbox#3", "message 3"),
    "ssh-agent socket path fix": ("changelog.Debian.gz", None, None),
}


def ds(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCSEARCH_HOME": str(home), "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "docsearch", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_every_format_is_found_with_its_place_and_every_broken_one_skipped(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {**good_files(), **broken_files()}
    files["changelog.Debian.gz"] = gz("openssh (1:9.2p1-2) unstable\n\n  * Fix the ssh-agent socket path.\n")
    root = write_files(tmp_path / "docs", files)
    home = tmp_path / "home"

    done = ds("index", str(root), "--index", "formats", "--verbose", home=home)
    assert done.returncode == 0, done.stderr
    summary = " ".join(done.stdout.split())
    assert f"indexed {len(good_files()) + 1} file(s)" in summary
    assert f"skipped {len(broken_files())}" in summary
    for name, why in (
        ("broken.docx", "not a valid .docx (bad zip: File is not a zip file)"),
        ("broken.pptx", "not a valid .pptx (bad zip"), ("broken.xlsx", "not a valid .xlsx (bad zip"),
        ("broken.ods", "not a valid .ods (bad zip"), ("broken.odt", "not a valid .odt (bad zip"),
        ("broken.epub", "not a valid .epub (bad zip"),
        ("broken.rtf", "not a valid .rtf (unbalanced braces: truncated?)"),
        ("broken.eml", "not an email message"), ("broken.mbox", "not a valid .mbox"),
        ("locked.docx", "password-protected document (encrypted)"),
        ("locked.odt", "password-protected document (encrypted)"),
    ):
        assert f"{name}: {why}" in summary or f"{name} {why}" in summary, name

    for query, (path, doc, place) in QUERIES.items():
        found = ds("search", query, "--index", "formats", "--json", "-k", "3", home=home)
        assert found.returncode == 0, found.stderr
        first = json.loads(found.stdout)["results"][0]
        assert (first["path"], first["doc"], first.get("where")) == (path, doc or path, place), query

    table = ds("search", "when does the rover land on the moon", "--index", "formats", "-k", "1", home=home)
    assert "roadmap.pptx, slide 2" in table.stdout
