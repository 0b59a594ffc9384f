"""Office documents, e-books and RTF: each made by its own library, read with its title, text and
where each part comes from; broken and locked ones are one-line reasons; indexed and found."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from office_files import broken_files, drm_epub, encrypted_docx, encrypted_odt, good_files

from docsearch.errors import IngestError
from docsearch.ingest import read_documents
from docsearch.types import Document, Source


def read(tmp_path: Path, name: str, data: bytes) -> Document:
    path = tmp_path / name
    path.write_bytes(data)
    st = path.stat()
    docs = read_documents(Source(str(path), name, st.st_size, st.st_mtime_ns))
    assert len(docs) == 1
    return docs[0]


def reason(tmp_path: Path, name: str, data: bytes) -> str:
    with pytest.raises(IngestError) as info:
        read(tmp_path, name, data)
    text = str(info.value)
    assert text and "\n" not in text
    return text


def where(doc: Document, phrase: str) -> str:
    """The place a chunk made of just ``phrase`` would point back to."""
    at = doc.body.index(phrase)
    return doc.place(at, at + len(phrase))


def test_docx_title_paragraphs_tables_and_headings(tmp_path: Path) -> None:
    doc = read(tmp_path, "garden.docx", good_files()["garden.docx"])
    assert (doc.doc_id, doc.title, doc.line_mapped) == ("garden.docx", "Greenhouse tomatoes", False)
    assert "Water tomato plants deeply" in doc.text and "Sungold | 57" in doc.text  # a table row on a line
    assert where(doc, "Water tomato plants") == "§ Watering"
    assert where(doc, "Aphids") == "§ Pests"
    assert where(doc, "Notes from the allotment") == ""  # before the first heading


def test_pptx_slides_and_speaker_notes(tmp_path: Path) -> None:
    doc = read(tmp_path, "roadmap.pptx", good_files()["roadmap.pptx"])
    assert doc.title == "Quarterly roadmap"  # the first slide's title
    assert where(doc, "Hiring, budget") == "slide 1"
    assert where(doc, "Sea of Tranquility") == "slide 2"
    assert where(doc, "Mention the backup site.") == "slide 2"  # notes belong to their slide
    span = doc.body.index("Hiring"), doc.body.index("Sea of")
    assert doc.place(*span) == "slide 1–2"


def test_xlsx_sheets_as_rows_of_text(tmp_path: Path) -> None:
    doc = read(tmp_path, "stock.xlsx", good_files()["stock.xlsx"])
    assert doc.title == "Music shop stock"
    assert "Violin strings | 40 | B2\nCello bows | 3 | C1" in doc.text  # 3.0 reads as 3
    assert where(doc, "Cello bows") == "sheet Inventory, row 3"
    assert where(doc, "Nordic Rosin Works") == "sheet Suppliers, row 5"  # its real row, empty rows skipped
    first, last = doc.body.index("Violin"), doc.body.index("Cello bows")
    assert doc.place(first, last + 5) == "sheet Inventory, row 2–3"


def test_ods_and_odt(tmp_path: Path) -> None:
    sheet = read(tmp_path, "birds.ods", good_files()["birds.ods"])
    assert sheet.title == "Seabirds"
    assert where(sheet, "Albatross") == "sheet Birds, row 2"
    text = read(tmp_path, "bread.odt", good_files()["bread.odt"])
    assert text.title == "Sourdough"  # no title in its metadata: the first heading
    assert where(text, "Feed the starter") == "§ Sourdough"
    assert where(text, "covered pot") == "§ Baking"


def test_epub_chapters_by_their_table_of_contents(tmp_path: Path) -> None:
    doc = read(tmp_path, "lighthouse.epub", good_files()["lighthouse.epub"])
    assert doc.title == "The Lighthouse Keeper"
    assert where(doc, "winter storm") == "chapter 1: The Storm"
    assert where(doc, "lamp room") == "chapter 2: Calm"
    assert doc.text.count("The Storm") == 1  # the navigation document is no chapter


def test_rtf_text_title_and_code_page(tmp_path: Path) -> None:
    doc = read(tmp_path, "chess.rtf", good_files()["chess.rtf"])
    assert doc.title == "Chess openings"
    assert "Sicilian Defence answers 1.e4 with c5.\nIt was analysed in a café in Paris." in doc.text
    assert "Times New Roman" not in doc.text and "A. Player" not in doc.text


def test_a_gzipped_office_file_is_read_as_the_file_inside(tmp_path: Path) -> None:
    doc = read(tmp_path, "garden.docx.gz", gzip.compress(good_files()["garden.docx"]))
    assert doc.title == "Greenhouse tomatoes" and where(doc, "Aphids") == "§ Pests"


def test_broken_and_locked_files_are_one_line_reasons(tmp_path: Path) -> None:
    broken = broken_files()
    for suffix in ("docx", "pptx", "xlsx", "ods", "odt", "epub"):
        cut = reason(tmp_path, f"broken.{suffix}", broken[f"broken.{suffix}"])  # a zip cut in half
        assert cut == f"not a valid .{suffix} (bad zip: File is not a zip file)"
    assert reason(tmp_path, "broken.rtf", broken["broken.rtf"]) == "not a valid .rtf (unbalanced braces: truncated?)"
    assert reason(tmp_path, "plain.rtf", b"just text") == "not a valid .rtf (no {\\rtf header)"
    assert reason(tmp_path, "locked.docx", encrypted_docx()) == "password-protected document (encrypted)"
    assert reason(tmp_path, "locked.xlsx", encrypted_docx()) == "password-protected document (encrypted)"
    assert reason(tmp_path, "locked.odt", encrypted_odt()) == "password-protected document (encrypted)"
    assert reason(tmp_path, "drm.epub", drm_epub()) == "DRM-protected e-book (encrypted content)"
    old = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    assert "older binary Office file" in reason(tmp_path, "old.docx", old)
    # A zip that is not the format it claims: the library's complaint, in one line.
    assert reason(tmp_path, "epub.docx", good_files()["lighthouse.epub"]).startswith("not a valid .docx (")


def test_a_damaged_member_is_a_bad_zip(tmp_path: Path) -> None:
    import zipfile

    data = bytearray(good_files()["garden.docx"])
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("word/document.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)  # its compressed bytes
    for i in range(start + 10, start + 40):
        data[i] ^= 0xFF
    assert reason(tmp_path, "damaged.docx", bytes(data)).startswith("not a valid .docx (bad zip: ")


def test_an_empty_document_says_so(tmp_path: Path) -> None:
    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    assert reason(tmp_path, "blank.docx", buf.getvalue()) == "no text in .docx file"


def test_every_format_is_indexed_and_found_with_its_place(tmp_path: Path) -> None:
    from fakes import FakeEncoder
    from helpers import write_files

    from docsearch import Index, Searcher, Settings, update_index

    root = write_files(tmp_path / "docs", {**good_files(), **broken_files()})
    settings = Settings(home=tmp_path / "home", index="t")
    with Index.open_or_create(settings) as index:
        report = update_index(index, [root], encoder=FakeEncoder())
    assert report.indexed == len(good_files())
    skipped = {s.path: s.reason for s in report.skipped}
    assert set(skipped) == set(broken_files())
    assert skipped["locked.docx"] == "password-protected document (encrypted)"
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        for query, path, place in (
            ("aphids jet cold water", "garden.docx", "§ Pests"),
            ("rover Tranquility", "roadmap.pptx", "slide 2"),
            ("Nordic Rosin Works", "stock.xlsx", "sheet Suppliers, row 5"),
            ("albatross wingspan", "birds.ods", "sheet Birds, row 2"),
            ("sourdough starter yeast", "bread.odt", "§ Sourdough"),
            ("lighthouse winter storm", "lighthouse.epub", "chapter 1: The Storm"),
            ("Sicilian Defence", "chess.rtf", None),
        ):
            # One chunk holds each of these small files: the place is the best sentence's section.
            hit = searcher.search(query, k=1, mode="sparse")[0]
            assert (hit.path, hit.where) == (path, place), query
