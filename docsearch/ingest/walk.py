"""Find the files to index under the given paths, and account for every path passed over.

``walk`` yields one item per path it looks at: a ``Source`` to read, an ``Excluded`` (passed over
by rule: hidden, ignored (.gitignore, .docsearchignore, --exclude, --include: see ``ignore``),
environments, a second link to a directory, unsupported type, binary without a suffix) or a
``Skipped`` (a path it could not use, with the reason). A directory it does not enter is one item;
the files inside it are not looked at. It never raises. ``RuleCheck`` answers, for one path, what
the walk would make of it.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator, Sequence

from ..types import Excluded, Skipped, Source
from .decode import SNIFF_BYTES, gunzip_head, looks_binary
from .ignore import IGNORE_FILE, IGNORE_FILES, Matcher, PathRules
from .kinds import FileType, file_type, type_label

Item = Source | Skipped | Excluded

__all__ = ["IGNORE_FILE", "Item", "PathRules", "RuleCheck", "walk"]
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
# Markers for a virtualenv / conda env whatever the directory is called.
_ENV_MARKERS = ("pyvenv.cfg", "conda-meta")


def walk(paths: Sequence[str | os.PathLike[str]], rules: PathRules = PathRules()) -> Iterator[Item]:
    """Yield an item per path looked at under ``paths``, depth-first in name order, so two runs
    over the same tree yield the same sequence. A path reached twice (overlapping roots, links to
    one file) is yielded once, under the first root that reached it."""
    yielded: set[str] = set()
    for given in paths:
        for abspath, item in _walk_root(os.fspath(given), rules):
            if abspath in yielded:
                continue
            yielded.add(abspath)
            yield item


def _walk_root(name: str, rules: PathRules) -> Iterator[tuple[str, Item]]:
    abspath = os.path.abspath(name)
    try:
        st = os.stat(name)
    except OSError as exc:
        yield abspath, Skipped(name, _missing_reason(name, exc))
        return
    if stat.S_ISDIR(st.st_mode):
        # (device, inode) of every directory entered: a symlink loop, or a second link to the
        # same directory, is walked once only.
        yield from _walk_tree(name, "", set(), Matcher.for_root(name, rules))
    else:
        # A file named on the command line is read even when hidden or ignored; if it is not read,
        # it is reported by the name it was given.
        item = _file(name, os.path.basename(os.path.normpath(name)), st, name)
        yield abspath, item if isinstance(item, Source) else dataclasses.replace(item, path=name)


def _walk_tree(dirpath: str, prefix: str, seen: set[tuple[int, int]], rules: Matcher) -> Iterator[tuple[str, Item]]:
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
    rules = rules.enter(dirpath)
    for entry in entries:
        rel = prefix + entry.name
        abspath = os.path.abspath(entry.path)
        is_dir = _is_dir(entry)
        shown = rel + "/" if is_dir else rel  # a summary tells one item from a whole tree
        if entry.name.startswith("."):
            yield abspath, Excluded(shown, "hidden")
        elif rules.ignored(abspath, rel, is_dir):
            yield abspath, Excluded(shown, "ignored")
        elif is_dir:
            if entry.name in _SKIP_DIRS or _is_env(entry.path):
                yield abspath, Excluded(shown, "environment")
            else:
                yield from _walk_tree(entry.path, shown, seen, rules)
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


class RuleCheck:
    """Why a walk of ``root`` would pass a path over, without walking the tree: for a watcher
    deciding whether a change matters. Each folder's ignore files are read once per RuleCheck, so
    make a new one when they may have changed."""

    def __init__(self, root: str | os.PathLike[str], rules: PathRules = PathRules()) -> None:
        self.root = os.path.abspath(root)
        self._rules = rules
        self._matchers: dict[str, Matcher] = {}

    def rule(self, path: str | os.PathLike[str]) -> str | None:
        """The rule (``hidden``, ``ignored``, ``environment``, ``unsupported``) by which the walk
        would pass ``path``, or a folder above it, over; ``outside`` for a path not under the root;
        None when the walk would look at it. An ignore file is looked at: it changes what the
        walk finds."""
        path = os.path.abspath(path)
        rel = os.path.relpath(path, self.root)
        if path == self.root:
            return None
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return "outside"
        parts = rel.split(os.sep)
        matcher, here = self._matcher(self.root, None), self.root
        for i, name in enumerate(parts):
            here = os.path.join(here, name)
            last = i == len(parts) - 1
            is_dir = not last or os.path.isdir(here)
            if name.startswith("."):
                return None if last and name in IGNORE_FILES else "hidden"
            if matcher.ignored(here, "/".join(parts[: i + 1]), is_dir):
                return "ignored"
            if is_dir and (name in _SKIP_DIRS or _is_env(here)):
                return "environment"
            if is_dir and not last:
                matcher = self._matcher(here, matcher)
            elif not is_dir and file_type(name) is None:
                return "unsupported"
        return None

    def _matcher(self, dirpath: str, parent: Matcher | None) -> Matcher:
        if dirpath not in self._matchers:
            start = parent or Matcher.for_root(dirpath, self._rules)
            self._matchers[dirpath] = start.enter(dirpath)
        return self._matchers[dirpath]



def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks; a broken link is no directory
    except OSError:
        return False


def _is_env(dirpath: str) -> bool:
    return any(os.path.exists(os.path.join(dirpath, m)) for m in _ENV_MARKERS)


def _missing_reason(path: str, exc: OSError) -> str:
    if os.path.islink(path) and not os.path.exists(path):
        return "broken symlink"
    return _why(exc)


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
