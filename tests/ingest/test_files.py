"""Ingest: walking paths and reading every supported format, good and bad input."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest
from helpers import encrypted_pdf, make_pdfs_module

from docsearch.errors import IngestError
from docsearch.ingest import SUPPORTED_SUFFIXES, content_hash, read_documents, walk
from docsearch.ingest import files as ingest
from docsearch.types import Document, Excluded, RecordFields, Skipped, Source

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "data" / "corpus"
SCIFACT = Path(__file__).parents[2].parent / "shared/datasets/scifact"


# --------------------------------------------------------------------------- helpers


def source(path: Path, rel: str | None = None) -> Source:
    st = path.stat()
    return Source(str(path.resolve()), rel or path.name, st.st_size, st.st_mtime_ns)


def write(tmp_path: Path, name: str, content: str | bytes) -> Source:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return source(path, name)


def read_one(tmp_path: Path, name: str, content: str | bytes) -> Document:
    docs = read_documents(write(tmp_path, name, content))
    assert len(docs) == 1
    return docs[0]


def read_error(tmp_path: Path, name: str, content: str | bytes) -> str:
    with pytest.raises(IngestError) as info:
        read_documents(write(tmp_path, name, content))
    reason = str(info.value)
    assert reason and "\n" not in reason  # reasons are shown as one line
    return reason


def walked(*paths: str | os.PathLike[str]) -> list[Source | Skipped]:
    return list(walk(list(paths)))


def rel_paths(items: list[Source | Skipped]) -> list[str]:
    return [item.path for item in items if isinstance(item, Source)]


@pytest.fixture(scope="module")
def make_pdfs() -> ModuleType:
    return make_pdfs_module()


# --------------------------------------------------------------------------- plain text


def test_markdown_atx_title_and_text_kept_verbatim(tmp_path: Path) -> None:
    text = "Intro line\n\n# Composting  ##\n\nGreens and browns.\n"
    doc = read_one(tmp_path, "notes/compost.md", text)
    assert doc == Document("notes/compost.md", "Composting", text, "notes/compost.md", 1, True)


def test_markdown_setext_title_and_code_fences(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "a.md", "```sh\n# not a title\n```\nReal Title\n==========\nbody\n")
    assert doc.title == "Real Title"
    assert read_one(tmp_path, "b.markdown", "Sub title\n---------\nbody\n").title == "Sub title"


def test_markdown_front_matter_title(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "fm.md", '---\ntitle: "From Front Matter"\n---\n# Heading\nbody\n')
    assert doc.title == "From Front Matter"
    assert read_one(tmp_path, "fm2.md", "---\ntags: [a]\n---\n# Heading\nbody\n").title == "Heading"


def test_rst_title_with_and_without_overline(tmp_path: Path) -> None:
    assert read_one(tmp_path, "a.rst", "=======\n Title\n=======\n\nText.\n").title == "Title"
    assert read_one(tmp_path, "b.rst", ".. note:: x\n\nMy Doc\n~~~~~~\n\nText.\n").title == "My Doc"
    # An underline shorter than the text is not a title.
    assert read_one(tmp_path, "c.rst", "Long line of prose\n===\n").title == "c.rst"


def test_txt_title_from_heading_else_file_name(tmp_path: Path) -> None:
    assert read_one(tmp_path, "a.txt", "How DNS Works\n=============\n\nText\n").title == "How DNS Works"
    assert read_one(tmp_path, "b.txt", "Dashes\n------\nText\n").title == "Dashes"
    assert read_one(tmp_path, "c.txt", "just some prose\nwith no heading\n").title == "c.txt"


def test_code_title_is_file_name_and_text_is_whole_file(tmp_path: Path) -> None:
    text = "# Comment, not a heading\nimport os\n\n\ndef f() -> int:\n    return 1\n"
    doc = read_one(tmp_path, "pkg/mod.py", text)
    assert (doc.title, doc.text, doc.doc_id, doc.line, doc.line_mapped) == ("mod.py", text, "pkg/mod.py", 1, True)
    assert read_one(tmp_path, "main.go", "package main\n").title == "main.go"
    assert {".py", ".js", ".ts", ".go", ".rs", ".java", ".yaml", ".sql", ".r", ".jl"} <= SUPPORTED_SUFFIXES


def test_crlf_and_bom_normalised_otherwise_verbatim(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "w.md", b"\xef\xbb\xbf# Win\r\n\r\n  indented  \r\nlast")
    assert doc.text == "# Win\n\n  indented  \nlast"
    assert doc.title == "Win"


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "u.txt", "# Caf\u00e9 notes\r\nbody\r\n".encode("utf-16"))
    assert (doc.title, doc.text) == ("Caf\u00e9 notes", "# Caf\u00e9 notes\nbody\n")


# --------------------------------------------------------------------------- HTML

PAGE = """<!doctype html><html><head><title> Exo  planets </title>
<style>p { color: red }</style><script>var hidden = 1;</script></head>
<body><nav>Home</nav><h1>Finding Exoplanets</h1>
<p>The <b>transit</b>
   method.<br>Second line.</p>
<div>Block <p>nested</p> tail</div>
<noscript>enable js</noscript><template><p>never shown</p></template>
<table><tr><td>a</td><td>b</td></tr></table><script>alert(1)</script>
</body></html>"""


def test_html_visible_text_with_paragraphs(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "exo.html", PAGE)
    assert doc.title == "Exo planets"
    assert doc.text.split("\n\n") == [
        "Exo planets",
        "Home",
        "Finding Exoplanets",
        "The transit method.\nSecond line.",
        "Block",
        "nested",
        "tail",
        "a b",
    ]
    for hidden in ("hidden", "alert", "color", "enable js", "never shown"):
        assert hidden not in doc.text
    assert (doc.doc_id, doc.path, doc.line_mapped) == ("exo.html", "exo.html", False)


def test_html_title_falls_back_to_h1_then_file_name(tmp_path: Path) -> None:
    assert read_one(tmp_path, "a.htm", "<h1>Big  Heading</h1><p>x</p>").title == "Big Heading"
    doc = read_one(tmp_path, "b.html", "<p>unclosed <div>broken <b>markup")
    assert (doc.title, doc.text) == ("b.html", "unclosed\n\nbroken markup")


def test_html_without_visible_text_is_an_error(tmp_path: Path) -> None:
    assert "no visible text" in read_error(tmp_path, "e.html", "<html><script>x()</script></html>")


# --------------------------------------------------------------------------- PDF


def test_sample_pdfs_title_and_pages(tmp_path: Path) -> None:
    doc = read_documents(source(CORPUS / "finance/household-budgeting.pdf", "finance/household-budgeting.pdf"))[0]
    assert doc.title == "A Practical Guide to Household Budgeting"
    assert "50/30/20 rule" in doc.text and "avalanche method" in doc.text  # pages 1 and 2
    assert "\n\nPaying Off Debt" in doc.text  # pages joined by a paragraph break
    assert (doc.doc_id, doc.line_mapped) == ("finance/household-budgeting.pdf", False)
    untitled = read_documents(source(CORPUS / "sports/marathon-training.pdf"))[0]
    assert untitled.title == "marathon-training.pdf"
    assert "long run" in untitled.text


def test_pdf_results_point_back_to_their_page() -> None:
    doc = read_documents(source(CORPUS / "finance/household-budgeting.pdf", "finance/household-budgeting.pdf"))[0]
    assert [s.label for s in doc.sections] == ["page 1", "page 2"]
    at = doc.body.index("avalanche method")
    assert doc.place(at, at + 16) == "page 2"
    assert doc.place(0, len(doc.body)) == "page 1–2"


def test_committed_pdfs_match_generator(make_pdfs: ModuleType) -> None:
    for name, title, text in make_pdfs.PDFS:
        assert (CORPUS / name).read_bytes() == make_pdfs.build_pdf(title, text), f"rerun data/make_pdfs.py ({name})"


def test_corrupt_pdfs_are_errors(tmp_path: Path, make_pdfs: ModuleType) -> None:
    good = make_pdfs.build_pdf("T", "Some words on a page.")
    assert read_one(tmp_path, "good.pdf", good).text == "Some words on a page."
    assert "corrupt PDF" in read_error(tmp_path, "random.pdf", os.urandom(4096))
    assert "corrupt PDF" in read_error(tmp_path, "header.pdf", b"%PDF-1.4\n" + os.urandom(4096))
    assert "corrupt PDF" in read_error(tmp_path, "truncated.pdf", good[: len(good) // 2])
    assert read_error(tmp_path, "empty.pdf", b"") == "empty file"


def test_pdf_without_text_and_encrypted_pdf(tmp_path: Path, make_pdfs: ModuleType) -> None:
    from pypdf import PdfWriter

    blank = PdfWriter()
    blank.add_blank_page(612, 792)
    buf = io.BytesIO()
    blank.write(buf)
    assert "no extractable text" in read_error(tmp_path, "scan.pdf", buf.getvalue())

    locked = PdfWriter(clone_from=io.BytesIO(make_pdfs.build_pdf("T", "secret words")))
    locked.encrypt("password", algorithm="RC4-128")
    buf = io.BytesIO()
    locked.write(buf)
    assert "password-protected PDF" in read_error(tmp_path, "locked.pdf", buf.getvalue())


def test_aes_encrypted_pdf_with_empty_password_opens(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "aes.pdf", encrypted_pdf("Rotate the ssh host keys every year."))
    assert doc.text == "Rotate the ssh host keys every year."


def test_pdf_with_a_user_password_says_so(tmp_path: Path) -> None:
    for algorithm in ("AES-256", "AES-128", "RC4-128"):
        path = tmp_path / f"locked-{algorithm}.pdf"
        path.write_bytes(encrypted_pdf("secret words", user_password="hunter2", algorithm=algorithm))
        with pytest.raises(IngestError) as info:
            read_documents(Source(str(path), path.name, 1, 0))
        assert str(info.value) == "password-protected PDF (it does not open without a password)", algorithm


def test_aes_pdf_without_cryptography_names_the_package(tmp_path: Path) -> None:
    # pypdf picks its AES provider when imported, so the package is hidden from a fresh process.
    path = tmp_path / "aes.pdf"
    path.write_bytes(encrypted_pdf("words"))
    code = (
        "import sys; sys.modules['cryptography'] = None\n"
        "from docsearch.errors import IngestError\n"
        "from docsearch.ingest import read_documents\n"
        "from docsearch.types import Source\n"
        "try:\n"
        f"    read_documents(Source({str(path)!r}, 'aes.pdf', 1, 0))\n"
        "except IngestError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout.startswith("encrypted PDF needs a package to open: cryptography"), done.stderr


def test_pypdf_noise_is_silenced(tmp_path: Path, make_pdfs: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    broken = make_pdfs.build_pdf("T", "words")[:-40]  # no %%EOF: pypdf warns and recovers
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, data in (("cut.pdf", broken), ("junk.pdf", b"%PDF-1.7\n" + b"\x00junk" * 300)):
            try:
                read_documents(write(tmp_path, name, data))
            except IngestError:
                pass
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert not caught
    assert logging.getLogger("pypdf").level == logging.NOTSET  # restored afterwards


# --------------------------------------------------------------------------- records


@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(), reason="scifact dataset not present")
def test_beir_corpus_with_default_fields_reads_every_record() -> None:
    src = source(SCIFACT / "corpus.jsonl", "corpus.jsonl")
    docs = read_documents(src)
    assert len(docs) == 5183
    assert len({d.doc_id for d in docs}) == 5183
    first = json.loads((SCIFACT / "corpus.jsonl").open(encoding="utf-8").readline())
    assert (docs[0].doc_id, docs[0].title, docs[0].text) == (first["_id"], first["title"], first["text"])
    assert (docs[0].line, docs[-1].line, docs[0].line_mapped, docs[0].path) == (1, 5183, False, "corpus.jsonl")


def jsonl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def test_jsonl_lines_fallback_keys_and_dropped_records(tmp_path: Path) -> None:
    text = jsonl(
        {"_id": 7, "title": "Seven", "text": "numeric id"},
        "",
        {"id": "b", "body": "fallback keys"},
        {"doc_id": "c", "text": "   "},  # empty text: dropped
        {"_id": "d", "title": None, "contents": "null title"},
        {"title": "no id", "text": "x"},
        {"_id": "e", "title": "no text"},
        {"_id": 7, "text": "duplicate id"},
    )
    docs = read_documents(write(tmp_path, "c.jsonl", text))
    assert [(d.doc_id, d.title, d.text, d.line) for d in docs] == [
        ("7", "Seven", "numeric id", 1),
        ("b", "", "fallback keys", 3),
        ("d", "", "null title", 5),
    ]
    assert all(d.path == "c.jsonl" and not d.line_mapped for d in docs)


def test_jsonl_malformed_lines_keep_good_records(tmp_path: Path) -> None:
    text = jsonl({"_id": "1", "text": "good"}, '{"_id": "2", "text": ', "[1, 2]", "not json", {"_id": "3", "text": "ok"})
    docs = read_documents(write(tmp_path, "m.jsonl", text))
    assert [(d.doc_id, d.line) for d in docs] == [("1", 1), ("3", 5)]


def test_records_without_usable_rows_say_why(tmp_path: Path) -> None:
    reason = read_error(tmp_path, "q.jsonl", jsonl({"_id": "1", "query": "what"}, "oops"))
    assert reason.startswith("no usable records among 2 (no text: 1, broken JSON: 1); line 1: no text (tried text/body")
    assert read_error(tmp_path, "blank.jsonl", "\n \n") == "empty file"


def test_custom_record_fields(tmp_path: Path) -> None:
    src = write(tmp_path, "p.jsonl", jsonl({"pid": "p1", "name": "Named", "passage": "custom text", "text": "other"}))
    fields = RecordFields(id="pid", title="name", text="passage")
    assert [(d.doc_id, d.title, d.text) for d in read_documents(src, fields)] == [("p1", "Named", "custom text")]
    reason = read_error(tmp_path, "p2.jsonl", jsonl({"pid": "p1"}))
    assert "no id (tried _id/id/doc_id/docid)" in reason


def test_csv_records_and_line_numbers(tmp_path: Path) -> None:
    text = 'id,title,text\n1,One,"first"\n2,Two,"multi\r\nline"\n3,Three,third\n4,,\n'
    docs = read_documents(write(tmp_path, "t.csv", text))
    assert [(d.doc_id, d.title, d.text, d.line) for d in docs] == [
        ("1", "One", "first", 2),
        ("2", "Two", "multi\nline", 3),
        ("3", "Three", "third", 5),
    ]
    semi = read_documents(write(tmp_path, "s.csv", "doc_id; content\nx; hello\n"))
    assert [(d.doc_id, d.text) for d in semi] == [("x", "hello")]
    fields = RecordFields(id="key", title="heading", text="body")
    custom = read_documents(write(tmp_path, "c.csv", "key,heading,body\nk,H,B\n"), fields)
    assert [(d.doc_id, d.title, d.text) for d in custom] == [("k", "H", "B")]
    assert read_error(tmp_path, "h.csv", "id,title,text\n") == "no usable records (the file holds none)"


def test_json_list_object_map_and_single_record(tmp_path: Path) -> None:
    records = [{"_id": "a", "title": "A", "text": "alpha"}, {"_id": "b", "text": "beta"}]
    as_list = read_documents(write(tmp_path, "l.json", json.dumps(records)))
    assert [(d.doc_id, d.title, d.text, d.line) for d in as_list] == [("a", "A", "alpha", 1), ("b", "", "beta", 1)]
    wrapped = read_documents(write(tmp_path, "w.json", json.dumps({"version": 2, "docs": records})))
    assert [d.doc_id for d in wrapped] == ["a", "b"]
    mapping = read_documents(write(tmp_path, "m.json", json.dumps({"x": {"text": "ex"}, "y": {"text": "why"}})))
    assert [(d.doc_id, d.text) for d in mapping] == [("x", "ex"), ("y", "why")]
    single = read_documents(write(tmp_path, "s.json", json.dumps({"id": 5, "title": "T", "text": "one"})))
    assert [(d.doc_id, d.title) for d in single] == [("5", "T")]
    assert "invalid JSON" in read_error(tmp_path, "bad.json", '{"id": 1,')
    assert "no usable records" in read_error(tmp_path, "n.json", "[1, 2, 3]")


# --------------------------------------------------------------------------- bad input


def test_binary_undecodable_empty_and_whitespace(tmp_path: Path) -> None:
    assert read_error(tmp_path, "bin.txt", b"PK\x03\x04\x00\x00binary") == "binary file"
    assert read_error(tmp_path, "noise.txt", bytes(range(128, 256)) * 4).startswith("not text in any known encoding")
    assert read_error(tmp_path, "empty.md", b"") == "empty file"
    assert read_error(tmp_path, "blank.txt", " \n\t\r\n") == "empty file"
    assert read_error(tmp_path, "blank.html", "  \n") == "empty file"


def test_too_large_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "MAX_FILE_BYTES", 1024)
    assert read_error(tmp_path, "big.txt", "x" * 2048) == "file too large (over 1024 bytes)"


def test_unreadable_sources(tmp_path: Path) -> None:
    (tmp_path / "dir.txt").mkdir()  # a directory where a file was expected
    with pytest.raises(IngestError, match="cannot read file"):
        read_documents(Source(str(tmp_path / "dir.txt"), "dir.txt", 0, 0))
    with pytest.raises(IngestError, match="cannot read file"):
        read_documents(Source(str(tmp_path / "gone.txt"), "gone.txt", 0, 0))
    os.mkfifo(tmp_path / "fifo.txt")
    with pytest.raises(IngestError, match="not a regular file"):
        read_documents(Source(str(tmp_path / "fifo.txt"), "fifo.txt", 0, 0))
    with pytest.raises(IngestError, match="unsupported file type"):
        read_documents(write(tmp_path, "x.xcf", "text"))


def test_content_hash(tmp_path: Path) -> None:
    path = tmp_path / "h.txt"
    path.write_bytes(b"abc" * 500_000)
    assert content_hash(str(path)) == hashlib.blake2b(path.read_bytes(), digest_size=32).hexdigest()
    path.write_bytes(b"abd")
    assert content_hash(str(path)) != hashlib.blake2b(b"abc", digest_size=32).hexdigest()
    with pytest.raises(OSError):
        content_hash(str(tmp_path / "missing.txt"))


# --------------------------------------------------------------------------- walk


def make_tree(root: Path) -> None:
    for name in (
        "b.md",
        "a.txt",
        "sub/z.py",
        "sub/deeper/c.rst",
        "A.HTML",
        "image.png",
        "Makefile",
        ".hidden.md",
        ".git/config.md",
        "__pycache__/m.py",
        "node_modules/pkg/index.js",
        "venv/lib/site.py",
        "venv/pyvenv.cfg",
        ".venv/lib/x.py",
    ):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# t\n")


def test_walk_sorted_and_accounts_for_every_path(tmp_path: Path) -> None:
    make_tree(tmp_path)
    items = walked(tmp_path)
    assert rel_paths(items) == ["A.HTML", "Makefile", "a.txt", "b.md", "sub/deeper/c.rst", "sub/z.py"]
    passed_over = [(i.path, i.rule, i.suffix) for i in items if isinstance(i, Excluded)]
    assert passed_over == [
        (".git/", "hidden", ""),
        (".hidden.md", "hidden", ""),
        (".venv/", "hidden", ""),
        ("__pycache__/", "environment", ""),
        ("image.png", "unsupported", ".png"),
        ("node_modules/", "environment", ""),
        ("venv/", "environment", ""),
    ]
    assert len(items) == 13 and not [i for i in items if isinstance(i, Skipped)]
    assert items == walked(tmp_path)  # deterministic
    first = items[3]
    assert isinstance(first, Source)
    st = (tmp_path / "A.HTML").stat()
    assert first == Source(str(tmp_path / "A.HTML"), "A.HTML", st.st_size, st.st_mtime_ns)


def test_walk_explicit_files_and_missing_paths(tmp_path: Path) -> None:
    make_tree(tmp_path)
    items = walked(tmp_path / "sub" / "z.py", tmp_path / "nope", str(tmp_path / "image.png"), tmp_path / ".hidden.md")
    assert [type(i).__name__ for i in items] == ["Source", "Skipped", "Excluded", "Source"]
    assert [i.path for i in items] == ["z.py", str(tmp_path / "nope"), str(tmp_path / "image.png"), ".hidden.md"]
    assert isinstance(items[1], Skipped) and "no such file" in items[1].reason
    assert items[2] == Excluded(str(tmp_path / "image.png"), "unsupported", ".png")
    # Overlapping roots: each file once, under the first root that reached it.
    assert rel_paths(walked(tmp_path / "sub", tmp_path / "sub" / "z.py", tmp_path)) == [
        "deeper/c.rst",
        "z.py",
        "A.HTML",
        "Makefile",
        "a.txt",
        "b.md",
    ]


def test_walk_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "doc.md").write_text("# Doc\n")
    (tmp_path / "real" / "loop").symlink_to(tmp_path / "real")  # directory loop
    (tmp_path / "link.md").symlink_to(tmp_path / "real" / "doc.md")
    (tmp_path / "broken.txt").symlink_to(tmp_path / "missing.txt")
    (tmp_path / "broken.bin").symlink_to(tmp_path / "missing.bin")  # unsupported by its name alone
    items = walked(tmp_path)
    assert [(type(i).__name__, i.path) for i in items] == [
        ("Excluded", "broken.bin"),
        ("Skipped", "broken.txt"),
        ("Source", "link.md"),
        ("Source", "real/doc.md"),
        ("Excluded", "real/loop/"),  # a directory walked already
    ]
    assert items[-1] == Excluded("real/loop/", "duplicate")
    assert isinstance(items[1], Skipped) and items[1].reason == "broken symlink"
    explicit = walked(tmp_path / "broken.txt")
    assert explicit == [Skipped(str(tmp_path / "broken.txt"), "broken symlink")]
    assert read_documents(next(i for i in items if isinstance(i, Source)))[0].title == "Doc"


def test_walk_unreadable_paths_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    os.mkfifo(tmp_path / "docs" / "pipe.txt")  # reading a FIFO would block forever
    os.mkfifo(tmp_path / "pipe.md")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "docs" / "sock.md"))
        items = walked(tmp_path / "docs", tmp_path / "pipe.md", tmp_path / "a.txt" / "under-a-file.md")
    finally:
        sock.close()
    assert items[:3] == [
        Skipped("pipe.txt", "not a regular file"),
        Skipped("sock.md", "not a regular file"),
        Skipped(str(tmp_path / "pipe.md"), "not a regular file"),
    ]
    assert isinstance(items[3], Skipped) and items[3].path.endswith("under-a-file.md")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads through chmod 000; FIFO and socket cases cover unreadables")
def test_walk_unreadable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.txt").write_text("x")
    locked.chmod(0)
    try:
        assert walked(tmp_path) == [Skipped("locked", "cannot read directory: permission denied")]
    finally:
        locked.chmod(0o755)


# --------------------------------------------------------------------------- sample corpus


def test_sample_corpus_reads_cleanly() -> None:
    items = walked(CORPUS)
    assert all(isinstance(i, Source) for i in items)
    docs = [d for src in items if isinstance(src, Source) for d in read_documents(src)]
    assert 30 <= len(docs) <= 45
    assert len({d.doc_id for d in docs}) == len(docs)
    assert all(d.title and d.text.strip() for d in docs)
    suffixes = {Path(i.path).suffix for i in items}
    assert {".md", ".txt", ".rst", ".html", ".py", ".pdf", ".jsonl", ".csv"} <= suffixes


def test_sample_pairs_are_well_formed() -> None:
    rows = [json.loads(line) for line in (REPO / "data" / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert 40 <= len(rows) <= 60
    assert all(set(r) == {"query", "text", "label"} and r["label"] in (0, 1) and r["text"].strip() for r in rows)
    assert {r["label"] for r in rows} == {0, 1}


def test_docsearchignore_skips_matching_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "keep.md").write_text("# Keep\n\ntext")
    (root / "pairs.jsonl").write_text('{"query": "q", "text": "t", "label": 1}\n')
    (root / "sub" / "drop.txt").write_text("dropped")
    (root / "sub" / "also.txt").write_text("kept")
    (root / ".docsearchignore").write_text("# comment\npairs.jsonl\nsub/drop.txt\n")
    found = [s.path for s in walk([root]) if isinstance(s, Source)]
    assert found == ["keep.md", "sub/also.txt"]
