"""Files to documents: hash a source file and read it.

``read_source`` raises ``IngestError`` with a one-line reason, which the indexer turns into a
``Skipped``; a record file read only in part says which records it lost (``PartlyRead``).
Finding the files is ``walk``'s job.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, replace

from ..errors import IngestError
from ..types import Document, PartlyRead, RecordFields, Source
from .decode import decode_text, gunzip, html_charset
from .formats import (
    CODE_SUFFIXES,
    HTML_SUFFIXES,
    MAIL_SUFFIXES,
    MAX_FILE_BYTES,
    OFFICE_SUFFIXES,
    PDF_SUFFIXES,
    RECORD_SUFFIXES,
    file_name,
    plain_title,
    read_html,
    read_pdf,
)
from .frontmatter import front_matter
from .kinds import file_type, is_code_name, type_label
from .mail import read_mail
from .office import read_office
from .records import read_records

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


@dataclass(frozen=True)
class Reading:
    """A source's documents, and for a record file read in part, what it lost."""

    documents: list[Document]
    partial: PartlyRead | None = None


def read_documents(source: Source, fields: RecordFields = RecordFields()) -> list[Document]:
    """Read one source file into documents; raises IngestError(one-line reason)."""
    return read_source(source, fields).documents


def read_source(source: Source, fields: RecordFields = RecordFields()) -> Reading:
    """Read one source file (gzip-compressed or not) as its type says; raises IngestError."""
    name = source.path.rsplit("/", 1)[-1] or os.path.basename(source.abspath)
    kind = file_type(name)
    if kind is None:
        raise IngestError(f"unsupported file type {type_label(name)}")
    data = _read_bytes(source.abspath, kind.compressed)
    suffix = kind.suffix
    if suffix in PDF_SUFFIXES:
        return Reading([read_pdf(data, source)])
    if suffix in OFFICE_SUFFIXES:
        return Reading([read_office(data, suffix, source)])
    if suffix in MAIL_SUFFIXES:
        return Reading(*read_mail(data, suffix, source))
    if suffix in HTML_SUFFIXES:
        return Reading([_html(decode_text(data, html_charset(data)), source)])
    text = decode_text(data)
    if suffix in RECORD_SUFFIXES:
        records = read_records(text, suffix, source, fields)
        return Reading(records.documents, records.partial(source.path))
    code = is_code_name(name)
    front = None if code or suffix in CODE_SUFFIXES else front_matter(text)
    if front is not None:  # its title wins; its block is reduced to prose, line numbers kept
        text = front.text
    title = None if code else (front and front.title) or plain_title(text, suffix)
    return Reading([Document(source.path, title or file_name(source), text, source.path, line=1, line_mapped=True)])


def _html(text: str, source: Source) -> Document:
    """An HTML page, after the front matter a static-site generator would have read."""
    front = front_matter(text)
    if front is None:
        return read_html(text, source)
    doc = read_html(front.text, source)
    return replace(doc, title=front.title) if front.title else doc


def _read_bytes(abspath: str, compressed: bool = False) -> bytes:
    try:
        # Checked before opening: open() on a FIFO would block until a writer appears.
        st = os.stat(abspath)
        if stat.S_ISDIR(st.st_mode):
            raise IngestError("cannot read file: is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise IngestError("not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise _too_large()
        if compressed:
            data = gunzip(abspath, MAX_FILE_BYTES)
        else:
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


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
