"""Encodings: a BOM is checked before it is believed, HTML is read in the charset it declares, and
text that is not UTF-8 is still read, in the encoding it reads best in."""

from __future__ import annotations

from pathlib import Path

import pytest

from docsearch.errors import IngestError
from docsearch.ingest import read_documents
from docsearch.ingest.decode import decode_text, html_charset, looks_binary
from docsearch.types import Document, Source

# The exact bytes of issue #14: a Latin-1 file whose first two characters are 'ÿþ' (FF FE, the
# UTF-16-LE byte-order mark) and the rest Latin-1 text with no NUL byte.
LATIN1_FF_FE = b"\xff\xfeJ\xfcrgen M\xfcller wrote this changelog entry.\nIt was a tr\xe8s bonne id\xe9e.\n"


def read_one(tmp_path: Path, name: str, data: bytes) -> Document:
    path = tmp_path / name
    path.write_bytes(data)
    st = path.stat()
    docs = read_documents(Source(str(path), name, st.st_size, st.st_mtime_ns))
    assert len(docs) == 1
    return docs[0]


def test_latin1_file_starting_with_ff_fe_is_not_utf16(tmp_path: Path) -> None:
    assert len(LATIN1_FF_FE) % 2 == 0 and LATIN1_FF_FE.decode("utf-16")  # it *does* decode as UTF-16...
    doc = read_one(tmp_path, "notes.txt", LATIN1_FF_FE)
    assert doc.text == LATIN1_FF_FE.decode("latin-1")  # ...but is read as the Latin-1 it is
    assert "J\u00fcrgen M\u00fcller" in doc.text and "tr\u00e8s bonne id\u00e9e" in doc.text


def test_real_utf16_and_utf32_with_bom_are_decoded() -> None:
    text = "# Caf\u00e9 notes\nbody \u4e2d\u6587\n"
    for codec in ("utf-16", "utf-16-be", "utf-32"):
        data = text.encode(codec)
        if codec == "utf-16-be":
            data = b"\xfe\xff" + data
        assert decode_text(data) == text, codec


def test_a_bom_whose_rest_does_not_fit_is_not_believed() -> None:
    odd = b"\xff\xfe" + "abc\n".encode("utf-16-le") + b"x"  # odd length: no UTF-16, and NULs: no text
    with pytest.raises(IngestError, match="binary file"):
        decode_text(odd)
    not_utf8 = b"\xef\xbb\xbfplain \xe9t\xe9\n"  # a UTF-8 BOM before Latin-1 text
    assert decode_text(not_utf8) == not_utf8.decode("cp1252")


def test_legacy_encodings_are_read() -> None:
    assert decode_text("caf\u00e9 cr\u00e8me".encode("latin-1")) == "caf\u00e9 cr\u00e8me"
    quotes = "He said \u201chello\u201d \u2014 and left\u2026 for 5\u20ac.\n"
    assert decode_text(quotes.encode("cp1252")) == quotes
    russian = "Привет, мир! Это документация по настройке клиента.\n"
    assert decode_text(russian.encode("cp1251")) == russian
    japanese = "これは日本語の文書です。設定ファイルを編集してください。\n"
    assert decode_text(japanese.encode("shift_jis")) == japanese
    with pytest.raises(IngestError, match="not text in any known encoding"):
        decode_text(bytes(range(128, 256)) * 4)


def test_html_charset_declarations() -> None:
    assert html_charset(b'<html><head><meta charset="ISO-8859-1">') == "cp1252"
    assert html_charset(b"<meta http-equiv='Content-Type' content='text/html; charset=koi8-r'>") == "koi8-r"
    assert html_charset(b'<?xml version="1.0" encoding="windows-1251"?><html>') == "cp1251"
    assert html_charset(b'<meta charset="utf-16">') == "utf-8"  # as browsers do without a BOM
    assert html_charset(b'<meta charset="no-such-codec">') is None
    assert html_charset(b"<html><p>charset=latin1 in the text, not in a meta</p>") is None
    assert html_charset(b" " * 1100 + b'<meta charset="latin1">') is None  # only the first 1024 bytes count


def test_html_is_read_in_its_declared_charset(tmp_path: Path) -> None:
    page = ('<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head>'
            "<body><p>Le caf\xe9 est tr\xe8s bon.</p></body></html>").encode("latin-1")
    doc = read_one(tmp_path, "fr.html", page)
    assert (doc.title, doc.text) == ("Caf\u00e9", "Caf\u00e9\n\nLe caf\u00e9 est tr\u00e8s bon.")
    cyr = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=koi8-r"></head>'
           "<body><p>\u041f\u0440\u0438\u0432\u0435\u0442</p></body></html>").encode("koi8-r")
    assert read_one(tmp_path, "ru.html", cyr).text == "\u041f\u0440\u0438\u0432\u0435\u0442"
    # A page that declares UTF-8 but is not: the declaration is wrong, so the bytes decide.
    wrong = '<meta charset="utf-8"><p>d\xe9j\xe0 vu</p>'.encode("latin-1")
    assert read_one(tmp_path, "wrong.html", wrong).text == "d\u00e9j\u00e0 vu"


def test_binary_sniffing() -> None:
    assert looks_binary(b"\x7fELF\x02\x01\x01\x00\x00")
    assert looks_binary(bytes(range(1, 32)) * 4)
    assert not looks_binary(b"plain text\twith tabs\r\nand \x1b[1mescapes\x1b[0m\n")
    assert not looks_binary("wide text\n".encode("utf-16"))
    assert not looks_binary(LATIN1_FF_FE)
    assert not looks_binary(b"")


def test_utf8_with_some_latin1_is_read_as_both() -> None:
    data = "Björn Smørgrav, Zoë — ".encode() + "and J\xfcrgen in Latin-1\n".encode("latin-1")
    assert decode_text(data) == "Björn Smørgrav, Zoë — and Jürgen in Latin-1\n"


def test_a_few_accents_amid_english_are_western() -> None:
    # psmisc's changelog: English, and one Latin-1 'é'; charset-normalizer alone says Big5 ('L嶲er').
    data = b"  * Fixed the build on kFreeBSD (thanks Marc L\xe9ger)\n" + b"  * Updated translations.\n" * 40
    assert "Marc L\u00e9ger" in decode_text(data)


def test_latin1_with_some_utf8_amid_english_is_read_as_both() -> None:
    # libxslt's changelog: English, mostly Latin-1 names, one UTF-8 one.
    data = (b"  * Thanks to Bj\xf6rn and St\xe9phane, and Jos\xe9.\n" + "  * Thanks to Kłoczko.\n".encode()
            + b"  * Fixed a leak.\n" * 40)
    text = decode_text(data)
    assert "Bj\u00f6rn and St\u00e9phane, and Jos\u00e9" in text and "K\u0142oczko" in text
