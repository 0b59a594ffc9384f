"""Files to documents: find source files under the given paths and read them.

``walk`` never raises: every path it cannot use comes back as ``Skipped``.
``read_documents`` raises ``IngestError`` with a one-line reason, which the
indexer turns into a ``Skipped`` of its own.
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import hashlib
import io
import itertools
import json
import logging
import os
import re
import stat
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .errors import IngestError
from .types import Document, RecordFields, Skipped, Source

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
SUPPORTED_SUFFIXES: frozenset[str] = PLAIN_SUFFIXES | CODE_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | RECORD_SUFFIXES

MAX_FILE_BYTES = 50 * 1024 * 1024
_SNIFF_BYTES = 8192
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
# Markers for a virtualenv / conda env whatever the directory is called.
_ENV_MARKERS = ("pyvenv.cfg", "conda-meta")

# Fallback keys, tried in order when the configured key is absent from a record.
_ID_KEYS = ("id", "_id", "doc_id", "docid")
_TEXT_KEYS = ("text", "body", "content", "contents")
_TITLE_KEYS = ("title",)


# --------------------------------------------------------------------------- walk


def walk(paths: Sequence[str | os.PathLike[str]]) -> Iterator[Source | Skipped]:
    """Yield a Source per supported file under ``paths`` and a Skipped per problem.

    Directories are walked depth-first in name order so two runs over the same
    tree yield the same sequence. A file reached twice (overlapping roots) is
    yielded once, since the indexer keys files by absolute path. Never raises.
    """
    yielded: set[str] = set()
    for given in paths:
        for item in _walk_root(os.fspath(given)):
            if isinstance(item, Source):
                if item.abspath in yielded:
                    continue
                yielded.add(item.abspath)
            yield item


def _walk_root(name: str) -> Iterator[Source | Skipped]:
    try:
        st = os.stat(name)
    except OSError as exc:
        yield Skipped(name, _missing_reason(name, exc))
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _walk_dir(name)
    elif not stat.S_ISREG(st.st_mode):
        yield Skipped(name, "not a regular file")
    elif _suffix(name) not in SUPPORTED_SUFFIXES:
        yield Skipped(name, f"unsupported file type {_suffix(name) or '(no suffix)'}")
    else:
        yield _source(name, os.path.basename(os.path.normpath(name)), st)


def _walk_dir(root: str) -> Iterator[Source | Skipped]:
    # (device, inode) of every directory entered: a symlink loop, or a second
    # link to the same directory, is walked once only.
    seen: set[tuple[int, int]] = set()
    yield from _walk_tree(root, "", seen)


IGNORE_FILE = ".docsearchignore"


def _ignore_patterns(dirpath: str, prefix: str) -> list[tuple[str, str]]:
    """Glob patterns from a directory's .docsearchignore, one per line, '#' for comments."""
    try:
        with open(os.path.join(dirpath, IGNORE_FILE), encoding="utf-8") as fh:
            lines = [ln.strip() for ln in fh]
    except (OSError, UnicodeDecodeError):
        return []
    return [(prefix, ln.rstrip("/")) for ln in lines if ln and not ln.startswith("#")]


def _ignored(rel: str, name: str, ignores: Sequence[tuple[str, str]]) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) or fnmatch.fnmatchcase(rel[len(base):], pat) for base, pat in ignores)


def _walk_tree(
    dirpath: str, prefix: str, seen: set[tuple[int, int]], ignores: tuple[tuple[str, str], ...] = ()
) -> Iterator[Source | Skipped]:
    ignores = (*ignores, *_ignore_patterns(dirpath, prefix))
    try:
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(dirpath) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield Skipped(prefix.rstrip("/") or dirpath, f"cannot read directory: {_why(exc)}")
        return
    for entry in entries:
        rel = prefix + entry.name
        if entry.name.startswith(".") or _ignored(rel, entry.name, ignores):
            continue
        result = _classify(entry, rel)
        if isinstance(result, str):
            yield from _walk_tree(result, rel + "/", seen, ignores)
        elif result is not None:
            yield result


def _classify(entry: os.DirEntry[str], rel: str) -> Source | Skipped | str | None:
    """A Source/Skipped to yield, the path of a directory to descend into, or None."""
    supported = _suffix(entry.name) in SUPPORTED_SUFFIXES
    try:
        st = entry.stat()  # follows symlinks
    except OSError as exc:
        if not supported:
            return None
        return Skipped(rel, _missing_reason(entry.path, exc))
    if stat.S_ISDIR(st.st_mode):
        skip = entry.name in _SKIP_DIRS or _is_env(entry.path)
        return None if skip else entry.path
    if not supported:
        return None
    if not stat.S_ISREG(st.st_mode):
        return Skipped(rel, "not a regular file")
    return _source(entry.path, rel, st)


def _is_env(dirpath: str) -> bool:
    return any(os.path.exists(os.path.join(dirpath, m)) for m in _ENV_MARKERS)


def _source(path: str, rel: str, st: os.stat_result) -> Source:
    return Source(
        abspath=os.path.abspath(path),
        path=rel.replace(os.sep, "/"),
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
    )


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _missing_reason(path: str, exc: OSError) -> str:
    if os.path.islink(path) and not os.path.exists(path):
        return "broken symlink"
    return _why(exc)


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


# --------------------------------------------------------------------------- hashing


def content_hash(abspath: str) -> str:
    """Hex BLAKE2b digest of the file's bytes, read in 1 MiB blocks.

    Raises OSError when the file cannot be read: the indexer hashes before it
    reads and reports either failure as a skipped file.
    """
    digest = hashlib.blake2b(digest_size=32)
    with open(abspath, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- reading


def read_documents(source: Source, fields: RecordFields = RecordFields()) -> list[Document]:
    """Read one source file into documents; raises IngestError(one-line reason)."""
    suffix = _suffix(source.path) or _suffix(source.abspath)
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"unsupported file type {suffix or '(no suffix)'}")
    data = _read_bytes(source.abspath)
    if suffix in PDF_SUFFIXES:
        return [_read_pdf(data, source)]
    text = _decode_text(data)
    if suffix in HTML_SUFFIXES:
        return [_read_html(text, source)]
    if suffix in RECORD_SUFFIXES:
        return _read_records(text, suffix, source, fields)
    title = _plain_title(text, suffix) or _file_name(source)
    return [Document(source.path, title, text, source.path, line=1, line_mapped=True)]


def _read_bytes(abspath: str) -> bytes:
    try:
        # Checked before opening: open() on a FIFO would block until a writer appears.
        st = os.stat(abspath)
        if stat.S_ISDIR(st.st_mode):
            raise IngestError("cannot read file: is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise IngestError("not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise _too_large()
        with open(abspath, "rb") as fh:
            # One byte past the cap, so a file that grew since the stat is caught.
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise IngestError(f"cannot read file: {_why(exc)}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise _too_large()
    if not data:
        raise IngestError("empty file")
    return data


def _too_large() -> IngestError:
    limit = f"{MAX_FILE_BYTES // 2**20} MB" if MAX_FILE_BYTES >= 2**20 else f"{MAX_FILE_BYTES} bytes"
    return IngestError(f"file too large (over {limit})")


def _decode_text(data: bytes) -> str:
    """UTF-8 (BOM optional) or BOM-marked UTF-16/32 to str with '\\n' newlines."""
    encoding = _bom_encoding(data)
    if encoding is None and b"\x00" in data[:_SNIFF_BYTES]:
        raise IngestError("binary file")
    try:
        text = data.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError("not UTF-8 text") from None
    if encoding:
        text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError("empty file")
    return text


def _bom_encoding(data: bytes) -> str | None:
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return None


def _file_name(source: Source) -> str:
    return source.path.rsplit("/", 1)[-1] or os.path.basename(source.abspath)


# --------------------------------------------------------------------------- titles

_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MD_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RST_UNDERLINE = re.compile(r"""^([=\-~^"'`#*+:._!$%&,/;<>?@\\|])\1{2,}[ \t]*$""")
_TITLE_SCAN_LINES = 400
_MAX_TITLE = 200


def _plain_title(text: str, suffix: str) -> str | None:
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
                    return _clean_title(value.strip().strip("\"'")), lines[i + 1 :]
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
            return _clean_title(m.group(1))
        if prev.strip() and _MD_UNDERLINE.match(line) and not _MD_UNDERLINE.match(prev):
            return _clean_title(prev)
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
            return _clean_title(title)
    return None


def _clean_title(title: str) -> str:
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


def _read_html(text: str, source: Source) -> Document:
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
    return Document(source.path, title or _file_name(source), body, source.path)


def _html_title(tree: Any) -> str:
    for selector in ("title", "h1"):
        node = tree.css_first(selector)
        if node is not None:
            title = _clean_title(node.text(deep=True, separator=" "))
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


def _read_pdf(data: bytes, source: Source) -> Document:
    with _quiet_pypdf():
        reader = _open_pdf(data)
        pages = _pdf_pages(reader)
        title = _pdf_title(reader)
    if not pages:
        raise IngestError("no extractable text in PDF (scanned or image-only?)")
    return Document(source.path, title or _file_name(source), "\n\n".join(pages), source.path)


def _open_pdf(data: bytes) -> Any:
    # Imported lazily: pypdf is slow to import and only PDFs need it.
    from pypdf import PdfReader

    if b"%PDF-" not in data[:1024]:
        raise IngestError("corrupt PDF: no %PDF header")
    # pypdf raises many exception types on malformed input (not only PdfReadError),
    # so anything it throws means the file is unusable.
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
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
    # Many "encrypted" PDFs only restrict printing and open with an empty password.
    try:
        ok = reader.decrypt("")
    except Exception:  # noqa: BLE001 - unsupported cipher, missing crypto package...
        ok = False
    if not ok:
        raise IngestError("encrypted PDF (password required)")


def _pdf_pages(reader: Any) -> list[str]:
    pages: list[str] = []
    failures = 0
    try:
        page_list = list(reader.pages)
    except Exception as exc:
        raise IngestError(f"corrupt PDF: {_one_line(exc)}") from exc
    for page in page_list:
        try:
            text = page.extract_text() or ""
        except Exception:  # noqa: BLE001 - pypdf fails in many ways on bad pages
            failures += 1  # one bad page should not lose the rest of the document
            continue
        text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").strip()
        if text:
            pages.append(text)
    if failures and not pages:
        raise IngestError(f"corrupt PDF: text extraction failed on {failures} page(s)")
    return pages


def _pdf_title(reader: Any) -> str:
    try:
        meta = reader.metadata
        title = meta.title if meta is not None else None
    except Exception:  # noqa: BLE001 - damaged metadata only costs us the title
        return ""
    return _clean_title(title) if isinstance(title, str) else ""


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg[:160]


# --------------------------------------------------------------------------- records


class _Tally:
    """Counts why records were rejected, so an empty result can say why."""

    def __init__(self) -> None:
        self.records = 0
        self.malformed = 0
        self.not_object = 0
        self.no_id = 0
        self.no_text = 0
        self.empty_text = 0
        self.duplicate = 0

    def reason(self, fields: RecordFields) -> str:
        parts = [
            (self.malformed, "malformed"),
            (self.not_object, "not an object"),
            (self.no_id, f"without id (tried {_tried(fields.id, _ID_KEYS)})"),
            (self.no_text, f"without text (tried {_tried(fields.text, _TEXT_KEYS)})"),
            (self.empty_text, "with empty text"),
            (self.duplicate, "with a duplicate id"),
        ]
        detail = ", ".join(f"{n} {what}" for n, what in parts if n)
        return f"no usable records among {self.records}" + (f": {detail}" if detail else "")


def _tried(key: str, fallbacks: tuple[str, ...]) -> str:
    return "/".join(dict.fromkeys((key, *fallbacks)))


def _read_records(text: str, suffix: str, source: Source, fields: RecordFields) -> list[Document]:
    tally = _Tally()
    if suffix == ".jsonl":
        rows = _jsonl_rows(text, tally)
    elif suffix == ".json":
        rows = _json_rows(text)
    else:
        rows = _csv_rows(text, suffix)
    docs: list[Document] = []
    seen: set[str] = set()
    for line, record in rows:
        tally.records += 1
        doc = _record_document(record, line, source.path, fields, tally)
        if doc is None:
            continue
        if doc.doc_id in seen:
            tally.duplicate += 1  # the id is the document's key downstream: keep the first
            continue
        seen.add(doc.doc_id)
        docs.append(doc)
    if not docs:
        raise IngestError(tally.reason(fields))
    return docs


def _record_document(record: Any, line: int, path: str, fields: RecordFields, tally: _Tally) -> Document | None:
    if not isinstance(record, dict):
        tally.not_object += 1
        return None
    doc_id = _scalar(_lookup(record, fields.id, _ID_KEYS))
    if not doc_id:
        tally.no_id += 1
        return None
    body = _scalar(_lookup(record, fields.text, _TEXT_KEYS), strip=False)
    if body is None:
        tally.no_text += 1
        return None
    if not body.strip():
        tally.empty_text += 1
        return None
    if "\r" in body:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
    title = _scalar(_lookup(record, fields.title, _TITLE_KEYS)) or ""
    return Document(doc_id, title, body, path, line=line, line_mapped=False)


def _lookup(record: dict[str, Any], key: str, fallbacks: tuple[str, ...]) -> Any:
    value = record.get(key)
    if value is not None:
        return value
    for alt in fallbacks:
        value = record.get(alt)
        if value is not None:
            return value
    return None


def _scalar(value: Any, strip: bool = True) -> str | None:
    """Strings as they are, numbers stringified; lists, dicts and bools are unusable."""
    if isinstance(value, str):
        return value.strip() if strip else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _jsonl_rows(text: str, tally: _Tally) -> Iterator[tuple[int, Any]]:
    loads = json.loads
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, loads(line)
        except ValueError:
            tally.records += 1  # counted here because it never reaches the caller
            tally.malformed += 1


def _json_rows(text: str) -> list[tuple[int, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise IngestError(f"invalid JSON: {_one_line(exc)}") from None
    return [(1, record) for record in _json_records(data)]


_LIST_KEYS = (
    "documents",
    "docs",
    "records",
    "data",
    "corpus",
    "items",
    "rows",
    "results",
)


def _json_records(data: Any) -> list[Any]:
    """A list of records, an object holding one, a {id: record} map, or one record."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        raise IngestError("JSON holds neither records nor an object")
    lists = {k: v for k, v in data.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    for key in (*_LIST_KEYS, *lists):
        if key in lists:
            return lists[key]
    if data and all(isinstance(v, dict) for v in data.values()):
        # {"doc1": {"title": ..., "text": ...}}: the key is the id unless given.
        return [{"id": key, **value} for key, value in data.items()]
    return [data]


def _csv_rows(text: str, suffix: str) -> Iterable[tuple[int, Any]]:
    header = text.split("\n", 1)[0]
    delimiter = "\t" if suffix == ".tsv" else max(",;\t|", key=header.count)
    # Long text fields exceed csv's 128 KiB default; the file cap already bounds them.
    if csv.field_size_limit() < MAX_FILE_BYTES:
        csv.field_size_limit(MAX_FILE_BYTES)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    try:
        if reader.fieldnames is None:
            raise IngestError("CSV has no header row")
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
        rows = []
        start = reader.line_num + 1
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise IngestError(f"malformed CSV at line {reader.line_num}: {exc}") from None
    return rows
