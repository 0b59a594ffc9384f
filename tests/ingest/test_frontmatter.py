"""Front matter gives the title; its block is reduced to prose with the line numbers kept."""

from __future__ import annotations

from pathlib import Path

from docsearch.ingest import read_documents
from docsearch.ingest.frontmatter import front_matter
from docsearch.types import Document, Source

PAGE = """---
title: "Pruning roses"
date: 2024-05-01
tags: [garden, roses]
description: >
  When and how to cut
  back climbing roses.
layout: post
---
# Pruning

Cut above an outward-facing bud.
"""


def read(tmp_path: Path, name: str, text: str) -> Document:
    path = tmp_path / name
    path.write_text(text)
    st = path.stat()
    [doc] = read_documents(Source(str(path), name, st.st_size, st.st_mtime_ns))
    return doc


def test_yaml_front_matter_title_and_prose_lines_kept() -> None:
    front = front_matter(PAGE)
    assert front is not None and front.title == "Pruning roses"
    lines = front.text.split("\n")
    assert len(lines) == len(PAGE.split("\n"))  # so results still point at the right line
    assert lines[:9] == ["", "Pruning roses", "", "", "", "When and how to cut", "back climbing roses.", "", ""]
    assert lines[9:] == PAGE.split("\n")[9:]
    assert "2024-05-01" not in front.text and "layout" not in front.text


def test_toml_front_matter_and_none() -> None:
    front = front_matter('+++\ntitle = "Hugo page"\ndraft = true\n+++\nBody.\n')
    assert front is not None and (front.title, front.text) == ("Hugo page", "\nHugo page\n\n\nBody.\n")
    assert front_matter("# Title\n\n---\n") is None
    assert front_matter("---\nno closing fence\n") is None
    untitled = front_matter("---\ntags: [a]\n---\n# Heading\n")
    assert untitled is not None and untitled.title is None


def test_markdown_file_with_front_matter(tmp_path: Path) -> None:
    doc = read(tmp_path, "roses.md", PAGE)
    assert doc.title == "Pruning roses"
    assert "tags:" not in doc.text and "outward-facing bud" in doc.text
    assert doc.text.split("\n").index("Cut above an outward-facing bud.") + 1 == 12  # its line in the file
    assert read(tmp_path, "plain.md", "---\ntags: [a]\n---\n# Heading\nbody\n").title == "Heading"


def test_html_page_with_front_matter(tmp_path: Path) -> None:
    doc = read(tmp_path, "page.html", "---\ntitle: Jekyll page\nlayout: default\n---\n<h1>Other</h1><p>Some text.</p>\n")
    assert doc.title == "Jekyll page"
    assert "layout" not in doc.text and "Some text." in doc.text
    assert read(tmp_path, "plain.html", "<html><head><title>T</title></head><body>x</body></html>").title == "T"
