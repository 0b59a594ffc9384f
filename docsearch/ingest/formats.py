"""What a file's text means: titles of plain text and code, and the HTML and PDF readers, each
turning one file's content into a ``Document`` (records are ``records``' own).

``files`` reads and decodes files and picks the reader by suffix; the readers here raise
``IngestError`` with a one-line reason for content they cannot use.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import re
import warnings
from collections.abc import Iterator
from typing import Any

from ..errors import IngestError
from ..types import Document, Section, Source

PLAIN_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".rst", ".org", ".adoc", ".tex"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
CODE_SUFFIXES = frozenset(
    (
        ".py .pyi .js .mjs .cjs .ts .tsx .jsx .java .c .h .cpp .hpp .cc .cxx .hh .go"
        " .rs .rb .sh .bash .zsh .toml .yaml .yml .ini .cfg .sql .cs .kt .kts .swift"
        " .php .scala .lua .r .jl .pl .pm .ex .exs .erl .hs .ml .clj .dart .vue"
        " .svelte .css .scss .proto .graphql"
    ).split()
)
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
RECORD_SUFFIXES = frozenset({".jsonl", ".json", ".csv", ".tsv"})
# Read by ``office`` and ``mail``; registered here so that ``kinds`` needs no reader to know them.
OFFICE_SUFFIXES = frozenset({".docx", ".pptx", ".xlsx", ".ods", ".odt", ".epub", ".rtf"})
MAIL_SUFFIXES = frozenset({".eml", ".mbox"})
SUPPORTED_SUFFIXES: frozenset[str] = (
    PLAIN_SUFFIXES | CODE_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | RECORD_SUFFIXES | OFFICE_SUFFIXES | MAIL_SUFFIXES
)

MAX_FILE_BYTES = 50 * 1024 * 1024

def file_name(source: Source) -> str:
    """The title of last resort: the file's own name."""
    return source.path.rsplit("/", 1)[-1] or os.path.basename(source.abspath)


# --------------------------------------------------------------------------- titles

_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MD_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RST_UNDERLINE = re.compile(r"""^([=\-~^"'`#*+:._!$%&,/;<>?@\\|])\1{2,}[ \t]*$""")
_TITLE_SCAN_LINES = 400
_MAX_TITLE = 200


def plain_title(text: str, suffix: str) -> str | None:
    """First heading of a prose file; None for code (its file name is the title)."""
    if suffix in CODE_SUFFIXES:
        return None
    lines = text.split("\n", _TITLE_SCAN_LINES)[:_TITLE_SCAN_LINES]
    if suffix == ".rst":
        return _rst_title(lines)
    front, lines = _split_front_matter(lines)
    if front:
        return front
    title = _markdown_title(lines)
    if title is None and suffix not in MARKDOWN_SUFFIXES:
        title = _rst_title(lines)  # .txt files are often written RST-style
    return title


def _split_front_matter(lines: list[str]) -> tuple[str | None, list[str]]:
    """YAML front matter ('---' ... '---') is no setext heading; use its title."""
    if not lines or lines[0].strip() != "---":
        return None, lines
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            for line in lines[1:i]:
                key, _, value = line.partition(":")
                if key.strip() == "title" and value.strip():
                    return clean_title(value.strip().strip("\"'")), lines[i + 1 :]
            return None, lines[i + 1 :]
    return None, lines


def _markdown_title(lines: list[str]) -> str | None:
    in_fence = False
    prev = ""
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
            prev = ""
            continue
        if in_fence:
            continue
        if m := _ATX.match(line):
            return clean_title(m.group(1))
        if prev.strip() and _MD_UNDERLINE.match(line) and not _MD_UNDERLINE.match(prev):
            return clean_title(prev)
        prev = line
    return None


def _rst_title(lines: list[str]) -> str | None:
    for prev, line in itertools.pairwise(lines):
        title = prev.strip()
        if (
            title
            and any(c.isalnum() for c in title)
            and not title.startswith("..")
            and _RST_UNDERLINE.match(line)
            and len(line.rstrip()) >= len(title)
        ):
            return clean_title(title)
    return None


def clean_title(title: str) -> str:
    """A title on one line, at most 200 characters."""
    title = " ".join(title.split())
    return title[:_MAX_TITLE]


# --------------------------------------------------------------------------- HTML

_DROP_TAGS = [
    "script",
    "style",
    "noscript",
    "template",
    "head",
    "svg",
    "iframe",
    "object",
]
_BLOCK_TAGS = (
    "address,article,aside,blockquote,dd,details,dialog,div,dl,dt,fieldset,figcaption,"
    "figure,footer,form,h1,h2,h3,h4,h5,h6,header,hr,li,main,nav,ol,p,section,summary,"
    "table,tr,ul,caption"
)
_PARA = "\ue000"  # private-use sentinels survive parsing and whitespace collapsing
_BREAK = "\ue001"
_SPACES = re.compile(r"\s+")  # the sentinels are not whitespace, so they survive


def read_html(text: str, source: Source) -> Document:
    # Imported lazily: only HTML files need the parser.
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(text)
    title = _html_title(tree)
    body = _html_body_text(tree)
    if not body and not title:
        raise IngestError("no visible text in HTML")
    paragraphs = body.split("\n\n") if body else []
    if title and (not paragraphs or paragraphs[0] != title):
        body = f"{title}\n\n{body}" if body else title  # title is searchable text too
    return Document(source.path, title or file_name(source), body, source.path)


def html_text(text: str) -> tuple[str, str]:
    """(title, visible text) of an HTML page or fragment; either may be ''."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(text)
    return _html_title(tree), _html_body_text(tree)


def _html_title(tree: Any) -> str:
    for selector in ("title", "h1"):
        node = tree.css_first(selector)
        if node is not None:
            title = clean_title(node.text(deep=True, separator=" "))
            if title:
                return title
    return ""


def _html_body_text(tree: Any) -> str:
    root = tree.body or tree.root
    if root is None:
        return ""
    for node in root.css(",".join(_DROP_TAGS)):
        node.decompose()
    for node in root.css("pre"):
        node.replace_with(_PARA + node.text(deep=True).replace("\n", _BREAK) + _PARA)
    for node in root.css("br"):
        node.replace_with(_BREAK)
    for node in root.css("td,th"):
        node.insert_after(" ")  # cells of a row stay on one line, but apart
    for node in root.css(_BLOCK_TAGS):
        node.insert_before(_PARA)
        node.insert_after(_PARA)
    raw = root.text(deep=True, separator="")
    paragraphs = []
    for chunk in raw.split(_PARA):
        lines = (_SPACES.sub(" ", part).strip() for part in chunk.split(_BREAK))
        para = "\n".join(line for line in lines if line)
        if para:
            paragraphs.append(para)
    return "\n\n".join(paragraphs)


# --------------------------------------------------------------------------- PDF


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs and warns about every malformed object; the library stays silent."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def read_pdf(data: bytes, source: Source) -> Document:
    with _quiet_pypdf():
        reader = _open_pdf(data)
        pages = _pdf_pages(reader)
        title = _pdf_title(reader)
    if not pages:
        raise IngestError("no extractable text in PDF (scanned or image-only?)")
    sections, at = [], 0
    for number, text in pages:  # each result points back to its page
        sections.append(Section(at, f"page {number}"))
        at += len(text) + 2
    text = "\n\n".join(text for _, text in pages)
    return Document(source.path, title or file_name(source), text, source.path, sections=tuple(sections))


def _open_pdf(data: bytes) -> Any:
    # Imported lazily: pypdf is slow to import and only PDFs need it.
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    if b"%PDF-" not in data[:1024]:
        raise IngestError("corrupt PDF: no %PDF header")
    # pypdf raises many exception types on malformed input (not only PdfReadError),
    # so anything it throws means the file is unusable; but a missing package is no corruption.
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)  # tries the empty password itself
        encrypted = reader.is_encrypted
    except DependencyError as exc:
        raise _needs_package(exc) from exc
    except Exception as exc:
        raise IngestError(f"corrupt PDF: {_one_line(exc)}") from exc
    if encrypted:
        _decrypt_pdf(reader)
    try:
        count = len(reader.pages)
    except Exception as exc:
        raise IngestError(f"corrupt PDF: {_one_line(exc)}") from exc
    if count == 0:
        raise IngestError("PDF has no pages")
    return reader


def _decrypt_pdf(reader: Any) -> None:
    # Many "encrypted" PDFs only restrict printing or copying and open with an empty password
    # (AES ones need the cryptography package, a dependency for that reason).
    from pypdf.errors import DependencyError

    try:
        ok = reader.decrypt("")
    except DependencyError as exc:
        raise _needs_package(exc) from exc
    except Exception as exc:  # pypdf fails in many ways on a damaged encryption dictionary
        raise IngestError(f"corrupt PDF: encryption: {_one_line(exc)}") from exc
    if not ok:
        raise IngestError("password-protected PDF (it does not open without a password)")


def _needs_package(exc: Exception) -> IngestError:
    return IngestError(f"encrypted PDF needs a package to open: {_one_line(exc)}")


def _pdf_pages(reader: Any) -> list[tuple[int, str]]:
    """(page number, text) of every page with text."""
    pages: list[tuple[int, str]] = []
    failures = 0
    try:
        page_list = list(reader.pages)
    except Exception as exc:
        raise IngestError(f"corrupt PDF: {_one_line(exc)}") from exc
    for number, page in enumerate(page_list, start=1):
        try:
            text = page.extract_text() or ""
        except Exception:  # noqa: BLE001 - pypdf fails in many ways on bad pages
            failures += 1  # one bad page should not lose the rest of the document
            continue
        text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").strip()
        if text:
            pages.append((number, text))
    if failures and not pages:
        raise IngestError(f"corrupt PDF: text extraction failed on {failures} page(s)")
    return pages


def _pdf_title(reader: Any) -> str:
    try:
        meta = reader.metadata
        title = meta.title if meta is not None else None
    except Exception:  # noqa: BLE001 - damaged metadata only costs us the title
        return ""
    return clean_title(title) if isinstance(title, str) else ""


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg[:160]
