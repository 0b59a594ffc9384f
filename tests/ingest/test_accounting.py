"""The walk accounts for every path it sees, reads text files by content when their name says
nothing (README, LICENSE, changelog.Debian), and reads .gz files as the file inside."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from helpers import gz, write_files

from docsearch.errors import IngestError
from docsearch.ingest import files, read_documents, walk
from docsearch.ingest.kinds import FileType, file_type, type_label
from docsearch.types import Excluded, IndexReport, Skipped, Source


def items(root: Path) -> dict[str, str]:
    """path -> 'source', the rule, or 'skipped: reason'."""
    out: dict[str, str] = {}
    for item in walk([root]):
        if isinstance(item, Source):
            out[item.path] = "source"
        elif isinstance(item, Excluded):
            out[item.path] = item.rule
        else:
            out[item.path] = f"skipped: {item.reason}"
    return out


def source(root: Path, rel: str) -> Source:
    st = (root / rel).stat()
    return Source(str(root / rel), rel, st.st_size, st.st_mtime_ns)


def test_file_types_by_name() -> None:
    assert file_type("notes.md") == FileType(".md")
    assert file_type("foo.md.gz") == FileType(".md", compressed=True)
    assert file_type("README") == FileType("", sniff=True)
    assert file_type("README.gz") == FileType("", compressed=True, sniff=True)
    assert file_type("changelog.Debian.gz") == FileType("", compressed=True, sniff=True)
    assert file_type("LICENSE.APACHE2") == FileType("", sniff=True)
    assert file_type("photo.png") is None and type_label("photo.png") == ".png"
    assert file_type("src.tar.gz") is None and type_label("src.tar.gz") == ".tar.gz"
    assert file_type("libfoo.so") is None


def test_suffixless_text_is_read_and_binary_is_passed_over(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "README": "Read me\n=======\n\nHow to configure the ssh client.\n",
        "LICENSE": "Permission is hereby granted, free of charge...\n",
        "Makefile": "# build\nall:\n\tcc -o x x.c\n",
        "copyright": "Copyright: 2024 J\xfcrgen M\xfcller\n".encode("latin-1"),  # a legacy encoding is text too
        "README.Debian": "Notes for Debian.\n",
        "a.out": b"\x7fELF\x02\x01\x01\x00" + bytes(200),
        "blob": bytes(range(1, 32)) * 20,  # control characters, no NUL
        "UTF16NOTES": "# Notes\r\nwide text\r\n".encode("utf-16"),
        "empty": b"",
    })
    assert items(tmp_path) == {
        "LICENSE": "source", "Makefile": "source", "README": "source", "README.Debian": "source",
        "UTF16NOTES": "source", "a.out": "unsupported", "blob": "binary", "copyright": "source", "empty": "source",
    }
    readme = read_documents(source(tmp_path, "README"))[0]
    assert (readme.title, readme.line_mapped) == ("Read me", True)
    assert read_documents(source(tmp_path, "Makefile"))[0].title == "Makefile"  # code: '# build' is no title
    assert "J\u00fcrgen M\u00fcller" in read_documents(source(tmp_path, "copyright"))[0].text
    assert read_documents(source(tmp_path, "UTF16NOTES"))[0].text == "# Notes\nwide text\n"
    with pytest.raises(IngestError, match="empty file"):
        read_documents(source(tmp_path, "empty"))


def test_suffixless_binary_file_given_by_name_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / "core").write_bytes(b"\x00\x01\x02" * 100)
    assert list(walk([tmp_path / "core"])) == [Excluded(str(tmp_path / "core"), "binary")]


def test_gzip_is_read_as_the_file_inside(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "changelog.Debian.gz": gz("pkg (1.0-1) unstable; urgency=low\n\n  * Initial release.\n"),
        "README.gz": gz("Readme\n======\n\ncompressed\n"),
        "foo.md.gz": gz("# Foo\n\nbar\n"),
        "data.jsonl.gz": gz('{"_id": "1", "text": "one"}\n{"_id": "2", "text": "two"}\n'),
        "core.gz": gz(b"\x00\x01binary"),
        "src.tar.gz": gz(b"ustar"),
    })
    assert items(tmp_path) == {
        "README.gz": "source", "changelog.Debian.gz": "source", "core.gz": "binary", "data.jsonl.gz": "source",
        "foo.md.gz": "source", "src.tar.gz": "unsupported",
    }
    assert "Initial release" in read_documents(source(tmp_path, "changelog.Debian.gz"))[0].text
    assert read_documents(source(tmp_path, "README.gz"))[0].title == "Readme"
    foo = read_documents(source(tmp_path, "foo.md.gz"))[0]
    assert (foo.title, foo.text) == ("Foo", "# Foo\n\nbar\n")
    assert [d.doc_id for d in read_documents(source(tmp_path, "data.jsonl.gz"))] == ["1", "2"]


def test_gzip_bombs_and_corrupt_gzip_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 8192)
    with gzip.open(tmp_path / "bomb.txt.gz", "wb") as fh:
        for _ in range(64):
            fh.write(b"a" * 65536)  # 4 MiB of text in a few KiB
    assert (tmp_path / "bomb.txt.gz").stat().st_size < 8192
    with pytest.raises(IngestError, match=r"file too large \(over 8192 bytes uncompressed\)"):
        read_documents(source(tmp_path, "bomb.txt.gz"))
    whole = gz("# Title\n\n" + os.urandom(1500).hex())
    (tmp_path / "cut.md.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IngestError, match="corrupt gzip"):
        read_documents(source(tmp_path, "cut.md.gz"))
    (tmp_path / "fake.md.gz").write_bytes(b"# not gzip at all\n")
    with pytest.raises(IngestError, match="corrupt gzip"):
        read_documents(source(tmp_path, "fake.md.gz"))


def test_every_path_is_one_item_and_rules_are_named(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "keep.md": "# Keep\n", "drop.txt": "ignored\n", ".docsearchignore": "drop.txt\nbuild/\n",
        "build/out.txt": "x", ".git/HEAD": "ref", "env/pyvenv.cfg": "", "env/lib/a.py": "",
        "node_modules/x/index.js": "", "pic.jpg": b"\xff\xd8\xff", "lib.so": b"\x7fELF", "more.png": b"\x89PNG",
    })
    (tmp_path / "pipe.md").unlink(missing_ok=True)
    os.mkfifo(tmp_path / "pipe.md")
    assert items(tmp_path) == {
        ".docsearchignore": "hidden", ".git/": "hidden", "build/": "ignored", "drop.txt": "ignored",
        "env/": "environment", "keep.md": "source", "lib.so": "unsupported", "more.png": "unsupported",
        "node_modules/": "environment", "pic.jpg": "unsupported", "pipe.md": "skipped: not a regular file",
    }


def test_report_counts_rules_and_top_suffixes() -> None:
    pngs = [Excluded(f"{n}.png", "unsupported", ".png") for n in range(3)]
    excluded = (*pngs, Excluded("a.so", "unsupported", ".so"), Excluded(".git/", "hidden"), Excluded("blob", "binary"))
    report = IndexReport(indexed=2, unchanged=1, skipped=(Skipped("x.pdf", "corrupt PDF"),), excluded=excluded,
                         walked=10)
    assert [(c.rule, c.count, c.suffixes) for c in report.rule_counts()] == [
        ("hidden", 1, ()), ("unsupported", 4, ((".png", 3), (".so", 1))), ("binary", 1, ())]
    assert report.accounted == report.walked
    data = report.to_json()
    assert data["by_rule"] == {"hidden": 1, "unsupported": 4, "binary": 1}
    assert data["unsupported_suffixes"] == {".png": 3, ".so": 1}
    assert data["skipped_paths"] == [{"path": "x.pdf", "reason": "corrupt PDF"}]
