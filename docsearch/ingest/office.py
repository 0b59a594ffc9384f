"""Office documents, e-books and RTF to a ``Document`` each: .docx, .pptx, .xlsx, .ods, .odt,
.epub and .rtf, each part of the text labelled with where it comes from (heading, slide, sheet
and row, chapter) so a result can point back to it.

Libraries, all pure Python: python-docx, python-pptx, openpyxl (read-only), odfpy (.odt and .ods),
striprtf; an EPUB is a zip of XHTML read with ``zipfile``, ElementTree and the HTML reader of
``formats``. Each is imported when a file of its kind is read. A zip that is no zip, fails its
CRC checks or lacks the parts a format needs, an encrypted (password-protected) file and a DRM
e-book raise ``IngestError`` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import posixpath
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

from ..errors import IngestError
from ..types import Document, Section, Source
from .formats import clean_title, file_name, html_text

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound-file header of .doc/.xls/.ppt and encrypted OOXML
_REPEAT_CAP = 100  # an ODF row or cell repeated more often than this is layout, not data


@dataclass(frozen=True)
class Part:
    """A piece of a document's text, the section it belongs to, and what separates it from the
    piece before ('\\n\\n' between paragraphs, '\\n' between the rows of a sheet)."""

    label: str
    text: str
    joiner: str = "\n\n"


def read_office(data: bytes, suffix: str, source: Source) -> Document:
    """One document from an office file, e-book or RTF; raises IngestError(one-line reason)."""
    reader = _READERS[suffix]
    if suffix != ".rtf":
        _check_zip(data, suffix)
    try:
        with warnings.catch_warnings():  # openpyxl and odfpy warn about what they do not support
            warnings.simplefilter("ignore")
            title, parts = reader(data)
    except IngestError:
        raise
    except Exception as exc:  # the libraries raise many types on malformed input
        raise IngestError(f"not a valid {suffix} ({_one_line(exc)})") from exc
    return _document(source, title, parts, suffix)


def _document(source: Source, title: str | None, parts: Iterable[Part], suffix: str) -> Document:
    texts: list[str] = []
    sections: list[Section] = []
    at = 0
    for part in parts:
        text = part.text.strip()
        if not text:
            continue
        if texts:
            texts.append(part.joiner)
            at += len(part.joiner)
        if not sections or sections[-1].label != part.label:
            sections.append(Section(at, part.label))
        texts.append(text)
        at += len(text)
    if not texts:
        raise IngestError(f"no text in {suffix} file")
    keep = tuple(sections) if any(s.label for s in sections) else ()
    title = clean_title(title or "") or file_name(source)
    return Document(source.path, title, "".join(texts), source.path, sections=keep)


# --------------------------------------------------------------------------- containers


def _check_zip(data: bytes, suffix: str) -> None:
    """Every format here but RTF is a zip: say plainly when it is not, or is locked."""
    if data.startswith(_OLE):
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise IngestError("password-protected document (encrypted)")
        raise IngestError(f"not a valid {suffix}: an older binary Office file (.doc, .xls, .ppt) under a new name")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            bad = zf.testzip()
            names = set(zf.namelist())
            manifest = zf.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in names else b""
            encryption = zf.read("META-INF/encryption.xml") if "META-INF/encryption.xml" in names else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise IngestError(f"not a valid {suffix} (bad zip: {_one_line(exc)})") from exc
    except Exception as exc:  # zlib and friends on damaged members
        raise IngestError(f"not a valid {suffix} (bad zip: {_one_line(exc)})") from exc
    if bad is not None:
        raise IngestError(f"not a valid {suffix} (bad zip: damaged member {bad})")
    if b"encryption-data" in manifest:  # ODF's own password protection
        raise IngestError("password-protected document (encrypted)")
    if suffix == ".epub" and _drm(encryption):
        raise IngestError("DRM-protected e-book (encrypted content)")


# Font obfuscation is no DRM: it hides embedded fonts, not text.
_FONT_OBFUSCATION = ("http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC")


def _drm(encryption: bytes) -> bool:
    if not encryption:
        return False
    try:
        root = ElementTree.fromstring(encryption)
    except ElementTree.ParseError:
        return True
    methods = [el.get("Algorithm", "") for el in root.iter() if el.tag.endswith("EncryptionMethod")]
    return any(m not in _FONT_OBFUSCATION for m in methods)


# --------------------------------------------------------------------------- Word, PowerPoint, Excel


def _docx(data: bytes) -> tuple[str | None, list[Part]]:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    parts: list[Part] = []
    label, first_heading = "", None
    styles: dict[str | None, str] = {}  # by style id: python-docx looks a name up by scanning the styles
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            parts.append(Part(label, _rows_text(_docx_rows(block))))
            continue
        text = block.text.strip()
        style_id = block._p.style
        if style_id not in styles:
            styles[style_id] = _style_name(block)
        style = styles[style_id]
        if text and style.startswith("Heading"):
            label = f"§ {clean_title(text)}"  # the heading a result is under
        if text and (style == "Title" or style.startswith("Heading")):
            first_heading = first_heading or text
        parts.append(Part(label, text))
    return document.core_properties.title or first_heading, parts


def _style_name(paragraph: Any) -> str:
    try:
        return str(paragraph.style.name or "") if paragraph.style is not None else ""
    except (KeyError, AttributeError, ValueError):  # a style id the styles part does not define
        return ""


def _docx_rows(table: Any) -> Iterator[list[str]]:
    for row in table.rows:
        cells, previous = [], None
        for cell in row.cells:
            if cell._tc is not previous:  # a merged cell is listed once per grid column it spans
                cells.append(cell.text)
            previous = cell._tc
        yield cells


def _pptx(data: bytes) -> tuple[str | None, list[Part]]:
    from pptx import Presentation

    deck = Presentation(io.BytesIO(data))
    parts: list[Part] = []
    first_title = None
    for number, slide in enumerate(deck.slides, start=1):
        label = f"slide {number}"
        heading = slide.shapes.title
        if heading is not None and heading.has_text_frame and heading.text_frame.text.strip():
            first_title = first_title or heading.text_frame.text
        parts.extend(Part(label, text) for text in _shape_texts(slide.shapes))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            parts.append(Part(label, slide.notes_slide.notes_text_frame.text))  # speaker notes
    title = deck.core_properties.title
    return (title if title != "PowerPoint Presentation" else None) or first_title, parts


def _shape_texts(shapes: Iterable[Any]) -> Iterator[str]:
    for shape in shapes:
        if getattr(shape, "shapes", None) is not None:  # a group: its shapes in order
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield shape.text_frame.text
        elif getattr(shape, "has_table", False) and shape.has_table:
            yield _rows_text([cell.text for cell in row.cells] for row in shape.table.rows)


def _xlsx(data: bytes) -> tuple[str | None, list[Part]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)  # cached values, not formulas
    parts: list[Part] = []
    try:
        for sheet in book.worksheets:
            first = True
            rows = sheet.iter_rows(values_only=True)
            for number, row in enumerate(rows, start=sheet.min_row or 1):
                line = _row_text(_cell_text(v) for v in row)
                if line:
                    parts.append(Part(f"sheet {sheet.title}, row {number}", line, "\n\n" if first else "\n"))
                    first = False
        title = book.properties.title
    finally:
        book.close()
    return title, parts


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _row_text(cells: Iterable[str]) -> str:
    """A sheet's row as a line of text: its non-empty cells, apart."""
    return " | ".join(" ".join(c.split()) for c in cells if c and c.strip())


def _rows_text(rows: Iterable[list[str]]) -> str:
    return "\n".join(line for line in (_row_text(r) for r in rows) if line)


# --------------------------------------------------------------------------- OpenDocument


def _odf(data: bytes) -> Any:
    from odf.opendocument import load

    return load(io.BytesIO(data))


def _odf_title(document: Any) -> str | None:
    from odf import dc, teletype

    for element in document.meta.getElementsByType(dc.Title):
        if title := teletype.extractText(element).strip():
            return title
    return None


def _odt(data: bytes) -> tuple[str | None, list[Part]]:
    from odf import teletype
    from odf.namespaces import TEXTNS

    document = _odf(data)
    parts: list[Part] = []
    label, first_heading = "", None
    for element in _odf_blocks(document.text, TEXTNS):
        text = teletype.extractText(element).strip()
        if element.qname == (TEXTNS, "h") and text:
            label = f"§ {clean_title(text)}"
            first_heading = first_heading or text
        parts.append(Part(label, text))
    return _odf_title(document) or first_heading, parts


def _odf_blocks(element: Any, textns: str) -> Iterator[Any]:
    """Headings and paragraphs in document order (lists, tables and sections hold more)."""
    stack = list(reversed(element.childNodes))
    while stack:
        node = stack.pop()
        if getattr(node, "qname", None) in ((textns, "h"), (textns, "p")):
            yield node
        elif getattr(node, "childNodes", None):
            stack.extend(reversed(node.childNodes))


def _ods(data: bytes) -> tuple[str | None, list[Part]]:
    from odf import teletype
    from odf.table import Table, TableRow
    from odf.text import P

    document = _odf(data)
    parts: list[Part] = []
    for table in document.spreadsheet.getElementsByType(Table):
        name, number, first = table.getAttribute("name"), 0, True
        for row in table.getElementsByType(TableRow):
            repeat = int(row.getAttribute("numberrowsrepeated") or 1)
            cells: list[str] = []
            for cell in row.childNodes:
                text = " ".join(teletype.extractText(p) for p in cell.getElementsByType(P)).strip()
                if text:  # empty cells repeat to the sheet's edge; only text is worth repeating
                    cells.extend([text] * min(int(cell.getAttribute("numbercolumnsrepeated") or 1), _REPEAT_CAP))
            line = _row_text(cells)
            for i in range(min(repeat, _REPEAT_CAP) if line else 0):
                parts.append(Part(f"sheet {name}, row {number + i + 1}", line, "\n\n" if first else "\n"))
                first = False
            number += repeat
    return _odf_title(document), parts


# --------------------------------------------------------------------------- EPUB and RTF


def _epub(data: bytes) -> tuple[str | None, list[Part]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        container = ElementTree.fromstring(zf.read("META-INF/container.xml"))
        rootfile = next((el.get("full-path") for el in container.iter() if el.tag.endswith("rootfile")), None)
        if not rootfile:
            raise IngestError("not a valid .epub (no package document in META-INF/container.xml)")
        opf = ElementTree.fromstring(zf.read(rootfile))
        base = posixpath.dirname(rootfile)
        items = {el.get("id"): el for el in opf.iter() if el.tag.endswith("}item")}
        spine = [el.get("idref") for el in opf.iter() if el.tag.endswith("}itemref")]
        toc = _epub_toc(zf, base, items)
        parts: list[Part] = []
        chapter = 0
        for idref in spine:
            item = items.get(idref)
            if item is None or "html" not in (item.get("media-type") or ""):
                continue
            if "nav" in (item.get("properties") or "").split():  # the table of contents, not a chapter
                continue
            path = _join(base, item.get("href") or "")
            heading, text = html_text(zf.read(path).decode("utf-8", "replace"))
            if text.strip():
                chapter += 1
                name = toc.get(path) or heading
                parts.append(Part(f"chapter {chapter}" + (f": {clean_title(name)}" if name else ""), text))
    title = next((el.text for el in opf.iter() if el.tag.endswith("}title") and el.text), None)
    return title, parts


def _epub_toc(zf: zipfile.ZipFile, base: str, items: dict[Any, Any]) -> dict[str, str]:
    """Chapter titles by file, from the EPUB 3 navigation document or the EPUB 2 NCX."""
    toc: dict[str, str] = {}
    for item in items.values():
        href, kind = _join(base, item.get("href") or ""), item.get("media-type") or ""
        with contextlib.suppress(KeyError, ElementTree.ParseError):  # a table of contents is a nicety
            if "nav" in (item.get("properties") or "").split():
                root = ElementTree.fromstring(zf.read(href))
                links = ((el.get("href"), "".join(el.itertext())) for el in root.iter() if el.tag.endswith("}a"))
            elif kind == "application/x-dtbncx+xml":
                root = ElementTree.fromstring(zf.read(href))
                links = ((_ncx_src(p), _ncx_label(p)) for p in root.iter() if p.tag.endswith("}navPoint"))
            else:
                continue
            for target, name in links:
                if target and name.strip():
                    toc.setdefault(_join(posixpath.dirname(href), target.split("#", 1)[0]), " ".join(name.split()))
    return toc


def _ncx_src(point: Any) -> str | None:
    return next((el.get("src") for el in point if el.tag.endswith("}content")), None)


def _ncx_label(point: Any) -> str:
    return next(("".join(el.itertext()) for el in point if el.tag.endswith("}navLabel")), "")


def _join(base: str, href: str) -> str:
    return posixpath.normpath(posixpath.join(base, unquote(href)))


_CODEPAGE = re.compile(r"\\ansicpg(\d+)")
_RTF_TITLE = re.compile(r"\{\\title\s?([^{}]*)\}")


def _rtf(data: bytes) -> tuple[str | None, list[Part]]:
    from striprtf.striprtf import rtf_to_text

    raw = data.decode("latin-1")  # RTF is 7-bit; other bytes are escaped (\'e9) in the file's code page
    if not raw.lstrip().startswith("{\\rtf"):
        raise IngestError("not a valid .rtf (no {\\rtf header)")
    if "\\bin" not in raw and _unbalanced(raw):
        raise IngestError("not a valid .rtf (unbalanced braces: truncated?)")
    page = _CODEPAGE.search(raw, 0, 4096)
    encoding = _codec(f"cp{page.group(1)}" if page else "cp1252")
    text = rtf_to_text(raw, encoding=encoding, errors="replace")
    found = _RTF_TITLE.search(raw)
    title = rtf_to_text("{\\rtf1 " + found.group(1) + "}", encoding=encoding, errors="replace") if found else None
    return title, [Part("", text)]


def _unbalanced(raw: str) -> bool:
    plain = raw.replace("\\\\", "").replace("\\{", "").replace("\\}", "")
    return plain.count("{") != plain.count("}")


def _codec(name: str) -> str:
    import codecs

    try:
        return codecs.lookup(name).name
    except LookupError:
        return "cp1252"


_READERS: dict[str, Callable[[bytes], tuple[str | None, list[Part]]]] = {
    ".docx": _docx, ".pptx": _pptx, ".xlsx": _xlsx, ".odt": _odt, ".ods": _ods, ".epub": _epub, ".rtf": _rtf,
}


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg[:160]
