"""Which paths a walk passes over as *ignored*: gitignore semantics, through ``pathspec``.

The rules, strongest first: the run's ``--exclude`` patterns; ``.docsearchignore`` files; ``.gitignore``
files and the repository's ``.git/info/exclude`` (inside a git work tree, unless turned off); and,
for files, the run's ``--include`` patterns (when there are any, a file matching none is passed
over). Within each kind of file a deeper file wins over a shallower one and a later line over an
earlier one, as in git; a file's patterns are relative to its own folder, ``--exclude`` and
``--include`` to the root walked. A folder passed over is not entered, so, as in git, ``!`` cannot
bring back a file inside an ignored folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pathspec import GitIgnoreSpec

IGNORE_FILE = ".docsearchignore"
GITIGNORE = ".gitignore"
IGNORE_FILES = (GITIGNORE, IGNORE_FILE)


@dataclass(frozen=True)
class PathRules:
    """What a run adds to the walk's own rules: ``exclude`` and ``include`` patterns (gitignore
    syntax, relative to each root) and whether ``.gitignore`` files count (``gitignore``)."""

    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    gitignore: bool = True


@dataclass(frozen=True)
class _Layer:
    """One ignore file: its patterns, relative to ``base`` (an absolute folder ending in a separator)."""

    base: str
    spec: GitIgnoreSpec

    def verdict(self, abspath: str, is_dir: bool) -> bool | None:
        """True: ignored; False: brought back by a ``!`` pattern; None: no pattern matches."""
        if not abspath.startswith(self.base):
            return None
        rel = abspath[len(self.base):].replace(os.sep, "/")
        return self.spec.check_file(rel + "/" if is_dir else rel).include


@dataclass(frozen=True)
class Matcher:
    """The ignore rules in force in one folder of a walk; :meth:`enter` gives a subfolder's."""

    rules: PathRules
    git: bool  # inside a git work tree whose .gitignore files count
    ours: tuple[_Layer, ...] = ()  # .docsearchignore files, shallow to deep
    theirs: tuple[_Layer, ...] = ()  # .git/info/exclude and .gitignore files, shallow to deep
    exclude: GitIgnoreSpec | None = None
    include: GitIgnoreSpec | None = None

    @classmethod
    def for_root(cls, root: str, rules: PathRules) -> Matcher:
        """The rules a walk of the folder ``root`` starts with (before :meth:`enter` reads the root's
        own ignore files): in a git work tree, the ``.gitignore`` files from the repository's top
        down to the root's parent, unless they ignore the root itself, which was named on purpose."""
        root = os.path.abspath(root)
        matcher = cls(rules, git=False,
                      exclude=_spec(rules.exclude) if rules.exclude else None,
                      include=_spec(rules.include) if rules.include else None)
        top = _git_top(root) if rules.gitignore else None
        if top is None or top == root:
            return matcher
        outer = matcher._entered(top, git=True)
        parent = top
        for name in os.path.relpath(os.path.dirname(root), top).split(os.sep):
            if name not in ("", "."):
                parent = os.path.join(parent, name)
                outer = outer._entered(parent, git=True)
        if any(layer.verdict(root, True) for layer in outer.theirs):
            return matcher
        return outer

    def enter(self, dirpath: str) -> Matcher:
        """The rules inside folder ``dirpath``: these plus its own ignore files (a folder holding
        ``.git`` starts a work tree whose .gitignore files count)."""
        dirpath = os.path.abspath(dirpath)
        git = self.git or (self.rules.gitignore and os.path.exists(os.path.join(dirpath, ".git")))
        return self._entered(dirpath, git)

    def _entered(self, dirpath: str, git: bool) -> Matcher:
        base = dirpath.rstrip(os.sep) + os.sep
        ours, theirs = self.ours, self.theirs
        if git and not self.git:  # the top of a work tree: its own exclude file, weakest of all
            theirs = (*theirs, *_layer(base, os.path.join(dirpath, ".git", "info", "exclude")))
        if git:
            theirs = (*theirs, *_layer(base, os.path.join(dirpath, GITIGNORE)))
        ours = (*ours, *_layer(base, os.path.join(dirpath, IGNORE_FILE)))
        if (ours, theirs, git) == (self.ours, self.theirs, self.git):
            return self
        return Matcher(self.rules, git, ours, theirs, self.exclude, self.include)

    def ignored(self, abspath: str, rel: str, is_dir: bool) -> bool:
        """Whether the walk passes over ``abspath`` (``rel``: its path under the root walked)."""
        rel = rel.replace(os.sep, "/")
        shown = rel + "/" if is_dir else rel
        if self.exclude is not None and self.exclude.match_file(shown):
            return True
        verdict = _verdict(self.ours, abspath, is_dir)
        if verdict is None:  # a .docsearchignore that brings a path back overrules the .gitignore files
            verdict = _verdict(self.theirs, abspath, is_dir)
        if verdict:
            return True
        return not is_dir and self.include is not None and not self.include.match_file(rel)


def path_filter(include: Sequence[str] = (), exclude: Sequence[str] = ()) -> PathFilter:
    return PathFilter(_spec(include) if include else None, _spec(exclude) if exclude else None)


@dataclass(frozen=True)
class PathFilter:
    """``--include`` / ``--exclude`` on indexed paths (a search's results): gitignore patterns, as
    the walk applies them."""

    include: GitIgnoreSpec | None
    exclude: GitIgnoreSpec | None

    def __call__(self, path: str) -> bool:
        if self.exclude is not None and self.exclude.match_file(path):
            return False
        return self.include is None or bool(self.include.match_file(path))


def _verdict(layers: tuple[_Layer, ...], abspath: str, is_dir: bool) -> bool | None:
    """The deepest file's say on a path that any of them has one on."""
    for layer in reversed(layers):
        verdict = layer.verdict(abspath, is_dir)
        if verdict is not None:
            return verdict
    return None


def _spec(lines: Iterable[str]) -> GitIgnoreSpec:
    return GitIgnoreSpec.from_lines(list(lines))


def _layer(base: str, path: str) -> tuple[_Layer, ...]:
    """The layer of an ignore file, or none when there is no such file (or it cannot be read: an
    unreadable ignore file ignores nothing, as git does)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ()
    spec = _spec(lines)
    return (_Layer(base, spec),) if any(p.include is not None for p in spec.patterns) else ()


def _git_top(path: str) -> str | None:
    """The top of the git work tree holding ``path`` (a folder with ``.git``, a folder or, for a
    worktree or submodule, a file), or None."""
    while True:
        if os.path.exists(os.path.join(path, ".git")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
