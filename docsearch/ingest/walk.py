"""Find the files to index under the given paths, and account for every path passed over.

``walk`` yields one item per path it looks at: a ``Source`` to read, an ``Excluded`` (passed over
by rule: hidden, .docsearchignore, environments, a second link to a directory, unsupported type,
binary without a suffix) or a ``Skipped`` (a path it could not use, with the reason). A directory it does not enter is one item;
the files inside it are not looked at. It never raises.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence

from ..types import Excluded, Skipped, Source
from .decode import SNIFF_BYTES, gunzip_head, looks_binary
from .kinds import FileType, file_type, type_label

Item = Source | Skipped | Excluded

IGNORE_FILE = ".docsearchignore"
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
# Markers for a virtualenv / conda env whatever the directory is called.
_ENV_MARKERS = ("pyvenv.cfg", "conda-meta")


def walk(paths: Sequence[str | os.PathLike[str]]) -> Iterator[Item]:
    """Yield an item per path looked at under ``paths``, depth-first in name order, so two runs
    over the same tree yield the same sequence. A path reached twice (overlapping roots, links to
    one file) is yielded once, under the first root that reached it."""
    yielded: set[str] = set()
    for given in paths:
        for abspath, item in _walk_root(os.fspath(given)):
            if abspath in yielded:
                continue
            yielded.add(abspath)
            yield item


def _walk_root(name: str) -> Iterator[tuple[str, Item]]:
    abspath = os.path.abspath(name)
    try:
        st = os.stat(name)
    except OSError as exc:
        yield abspath, Skipped(name, _missing_reason(name, exc))
        return
    if stat.S_ISDIR(st.st_mode):
        # (device, inode) of every directory entered: a symlink loop, or a second link to the
        # same directory, is walked once only.
        yield from _walk_tree(name, "", set())
    else:
        # A file named on the command line is read even when hidden or ignored; if it is not read,
        # it is reported by the name it was given.
        item = _file(name, os.path.basename(os.path.normpath(name)), st, name)
        yield abspath, item if isinstance(item, Source) else dataclasses.replace(item, path=name)


def _walk_tree(
    dirpath: str, prefix: str, seen: set[tuple[int, int]], ignores: tuple[tuple[str, str], ...] = ()
) -> Iterator[tuple[str, Item]]:
    ignores = (*ignores, *_ignore_patterns(dirpath, prefix))
    try:
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            if prefix:  # a link to a directory walked already (or a loop): its files are counted there
                yield os.path.abspath(dirpath), Excluded(prefix, "duplicate")
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(dirpath) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield os.path.abspath(dirpath), Skipped(prefix.rstrip("/") or dirpath, f"cannot read directory: {_why(exc)}")
        return
    for entry in entries:
        rel = prefix + entry.name
        abspath = os.path.abspath(entry.path)
        if entry.name.startswith("."):
            yield abspath, Excluded(_shown(entry, rel), "hidden")
        elif _ignored(rel, entry.name, ignores):
            yield abspath, Excluded(_shown(entry, rel), "ignored")
        elif _is_dir(entry):
            if entry.name in _SKIP_DIRS or _is_env(entry.path):
                yield abspath, Excluded(rel + "/", "environment")
            else:
                yield from _walk_tree(entry.path, rel + "/", seen, ignores)
        else:
            yield abspath, _entry(entry, rel)


def _entry(entry: os.DirEntry[str], rel: str) -> Item:
    if file_type(entry.name) is None:
        return Excluded(rel, "unsupported", type_label(entry.name))
    try:
        st = entry.stat()  # follows symlinks
    except OSError as exc:
        return Skipped(rel, _missing_reason(entry.path, exc))
    return _file(entry.path, rel, st, entry.name)


def _file(path: str, rel: str, st: os.stat_result, name: str) -> Item:
    """A file the walk reached (or was given): a Source, or why not."""
    kind = file_type(name)
    if kind is None:
        return Excluded(rel, "unsupported", type_label(name))
    if not stat.S_ISREG(st.st_mode):
        return Skipped(rel, "not a regular file")  # opening a FIFO would block until a writer comes
    if kind.sniff:
        try:
            if looks_binary(_head(path, kind)):
                return Excluded(rel, "binary")
        except OSError as exc:
            return Skipped(rel, f"cannot read file: {_why(exc)}")
    return Source(abspath=os.path.abspath(path), path=rel.replace(os.sep, "/"), size=st.st_size, mtime_ns=st.st_mtime_ns)


def _head(path: str, kind: FileType) -> bytes:
    """The first bytes of a file's content (decompressed for .gz), to tell text from binary."""
    if kind.compressed:
        return gunzip_head(path)
    with open(path, "rb") as fh:
        return fh.read(SNIFF_BYTES)


# --------------------------------------------------------------------------- rules


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


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks; a broken link is no directory
    except OSError:
        return False


def _is_env(dirpath: str) -> bool:
    return any(os.path.exists(os.path.join(dirpath, m)) for m in _ENV_MARKERS)


def _shown(entry: os.DirEntry[str], rel: str) -> str:
    """A directory's path ends with '/', so a summary tells one item from a whole tree."""
    return rel + "/" if _is_dir(entry) else rel


def _missing_reason(path: str, exc: OSError) -> str:
    if os.path.islink(path) and not os.path.exists(path):
        return "broken symlink"
    return _why(exc)


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
