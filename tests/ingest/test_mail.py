"""Mail: an .eml is one document, an .mbox one per message (subject as title, 'message N' as its
place, Message-ID in its doc id); bad input is a one-line reason or, inside an mbox, counted."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from office_files import eml_file, mbox_file

from docsearch.errors import IngestError
from docsearch.ingest import read_source
from docsearch.ingest.files import Reading
from docsearch.types import Source


def read(tmp_path: Path, name: str, data: bytes) -> Reading:
    path = tmp_path / name
    path.write_bytes(data)
    st = path.stat()
    return read_source(Source(str(path), name, st.st_size, st.st_mtime_ns))


def reason(tmp_path: Path, name: str, data: bytes) -> str:
    with pytest.raises(IngestError) as info:
        read(tmp_path, name, data)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_eml_subject_headers_body_and_text_attachments(tmp_path: Path) -> None:
    [doc] = read(tmp_path, "invoice.eml", eml_file()).documents
    assert (doc.doc_id, doc.title) == ("invoice.eml", "Invoice for the bicycle repair")
    assert doc.text.startswith("Invoice for the bicycle repair\nFrom: Bike Shop <shop@example.com>\nTo: kim@example.com")
    assert "The new brake pads cost 30 euros" in doc.text and "Shimano brake pads" in doc.text
    at = doc.body.index("Shimano")
    assert doc.place(at, at + 7) == "attachment parts.txt"
    at = doc.body.index("brake pads cost")
    assert doc.place(at, at + 5) == ""  # the message itself: its file is the place


def test_html_only_mail_is_read_as_its_visible_text(tmp_path: Path) -> None:
    data = (b"From: a@example.com\nSubject: News\nContent-Type: text/html; charset=utf-8\n\n"
            b"<html><head><style>p{color:red}</style></head><body><p>Caf\xc3\xa9 opens <b>Monday</b>.</p></body></html>")
    [doc] = read(tmp_path, "news.eml", data).documents
    assert doc.text.endswith("Café opens Monday.") and "color" not in doc.text


def test_mbox_one_document_per_message(tmp_path: Path) -> None:
    reading = read(tmp_path, "friends.mbox", mbox_file())
    assert reading.partial is None
    docs = reading.documents
    assert [d.title for d in docs] == ["Hiking trip on Saturday", "Re: Hiking trip on Saturday", "Book club"]
    # Message-ID when there is one (stable when other messages come and go), else the position.
    assert [d.doc_id for d in docs] == ["friends.mbox#hike-1@example.com", "friends.mbox#hike-2@example.com",
                                        "friends.mbox#3"]
    assert {d.path for d in docs} == {"friends.mbox"}
    assert [d.place(0, 10) for d in docs] == ["message 1", "message 2", "message 3"]
    assert "\nFrom the top we see three volcanoes." in docs[0].text  # mboxrd quoting undone
    assert "Count me in" not in docs[0].text  # messages do not run into each other


def test_mbox_duplicate_ids_and_messages_without_headers(tmp_path: Path) -> None:
    twice = mbox_file().split(b"From cy@")[0] * 2  # the two hiking messages, stored twice
    ids = [d.doc_id for d in read(tmp_path, "twice.mbox", twice).documents]
    assert ids == ["twice.mbox#hike-1@example.com", "twice.mbox#hike-2@example.com", "twice.mbox#3", "twice.mbox#4"]
    junk = mbox_file() + b"From x@example.com Sat Mar  1 10:00:00 2025\n\nno headers here\n"
    reading = read(tmp_path, "junk.mbox", junk)
    assert len(reading.documents) == 3
    assert reading.partial is not None
    line = mbox_file().count(b"\n") + 1  # where the bad message's From_ line is
    assert reading.partial.summary() == f"partly read: 3 of 4 records; line {line}: not an email message (no headers)"


def test_gzipped_mbox(tmp_path: Path) -> None:
    assert len(read(tmp_path, "archive.mbox.gz", gzip.compress(mbox_file())).documents) == 3


def test_bad_mail_is_a_one_line_reason(tmp_path: Path) -> None:
    assert reason(tmp_path, "note.eml", b"Just a note.\n\nNo headers.\n") == (
        "not an email message (no From, To, Subject or Date header)")
    assert reason(tmp_path, "bin.eml", b"\x00\x01" * 100) == "binary file, not an email message"
    assert reason(tmp_path, "text.mbox", b"Subject: hi\n\nbody\n") == (
        "not a valid .mbox (it does not start with a 'From ' line)")
    only_junk = b"From x@example.com Sat Mar  1 10:00:00 2025\n\nno headers\n"
    assert reason(tmp_path, "junk.mbox", only_junk) == "no email message among the 1 in the mbox"


def test_mail_is_indexed_and_found_with_its_place(tmp_path: Path) -> None:
    from fakes import FakeEncoder
    from helpers import write_files

    from docsearch import Index, Searcher, Settings, update_index

    root = write_files(tmp_path / "mail", {"friends.mbox": mbox_file(), "invoice.eml": eml_file()})
    settings = Settings(home=tmp_path / "home", index="m")
    with Index.open_or_create(settings) as index:
        report = update_index(index, [root], encoder=FakeEncoder())
    assert (report.indexed, report.documents) == (2, 4)
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        hit = searcher.search("Middlemarch George Eliot", k=1, mode="sparse")[0]
        assert (hit.doc, hit.title, hit.path, hit.where) == ("friends.mbox#3", "Book club", "friends.mbox", "message 3")
        hit = searcher.search("Shimano pairs", k=1, mode="sparse")[0]
        assert (hit.doc, hit.where) == ("invoice.eml", "attachment parts.txt")
        hits = searcher.search("hiking trip", k=5, mode="sparse")
        assert {h.doc for h in hits} >= {"friends.mbox#hike-1@example.com", "friends.mbox#hike-2@example.com"}
