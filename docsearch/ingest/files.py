"""Files to documents: find source files under the given paths and read them.

``walk`` never raises: every path it cannot use comes back as ``Skipped``.
``read_source`` raises ``IngestError`` with a one-line reason, which the
indexer turns into a ``Skipped`` of its own; a record file read only in part
says which records it lost (``PartlyRead``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import IngestError
from ..types import Document, PartlyRead, RecordFields, Skipped, Source
from .decode import decode_text, html_charset
from .formats import (
    HTML_SUFFIXES,
    MAX_FILE_BYTES,
    PDF_SUFFIXES,
    RECORD_SUFFIXES,
    SUPPORTED_SUFFIXES,
    file_name,
    plain_title,
    read_html,
    read_pdf,
)
from .records import read_records

_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
# Markers for a virtualenv / conda env whatever the directory is called.
_ENV_MARKERS = ("pyvenv.cfg", "conda-meta")

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


@dataclass(frozen=True)
class Reading:
    """A source's documents, and for a record file read in part, what it lost."""

    documents: list[Document]
    partial: PartlyRead | None = None


def read_documents(source: Source, fields: RecordFields = RecordFields()) -> list[Document]:
    """Read one source file into documents; raises IngestError(one-line reason)."""
    return read_source(source, fields).documents


def read_source(source: Source, fields: RecordFields = RecordFields()) -> Reading:
    """Read one source file as its suffix says; raises IngestError(one-line reason)."""
    suffix = _suffix(source.path) or _suffix(source.abspath)
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"unsupported file type {suffix or '(no suffix)'}")
    data = _read_bytes(source.abspath)
    if suffix in PDF_SUFFIXES:
        return Reading([read_pdf(data, source)])
    if suffix in HTML_SUFFIXES:
        return Reading([read_html(decode_text(data, html_charset(data)), source)])
    text = decode_text(data)
    if suffix in RECORD_SUFFIXES:
        records = read_records(text, suffix, source, fields)
        return Reading(records.documents, records.partial(source.path))
    title = plain_title(text, suffix) or file_name(source)
    return Reading([Document(source.path, title, text, source.path, line=1, line_mapped=True)])


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


def _file_name(source: Source) -> str:
    return source.path.rsplit("/", 1)[-1] or os.path.basename(source.abspath)
