"""The walk's ignore rules: gitignore semantics (pathspec) for .gitignore, .docsearchignore,
--exclude and --include, and RuleCheck agreeing with the walk path by path."""

from __future__ import annotations

from pathlib import Path

from helpers import write_files

from docsearch.ingest.ignore import PathRules, path_filter
from docsearch.ingest.walk import RuleCheck, walk
from docsearch.types import Excluded, Source


def items(root: Path, rules: PathRules = PathRules()) -> dict[str, str]:
    """path -> 'source' or the rule it was passed over by (skips are not expected here)."""
    out: dict[str, str] = {}
    for item in walk([root], rules):
        assert isinstance(item, Source | Excluded), item
        out[item.path] = "source" if isinstance(item, Source) else item.rule
    return out


def sources(root: Path, rules: PathRules = PathRules()) -> list[str]:
    return [p for p, rule in items(root, rules).items() if rule == "source"]


def git_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    (root / ".git").mkdir(parents=True)
    return write_files(root, files)


def test_gitignore_negation_and_anchoring(tmp_path: Path) -> None:
    git_tree(tmp_path, {
        ".gitignore": "# notes\n*.txt\n!keep.txt\n/top.md\n",
        "a.txt": "a", "keep.txt": "k", "top.md": "t", "sub/top.md": "t", "sub/b.txt": "b", "sub/keep.txt": "k",
    })
    got = items(tmp_path)
    assert got["a.txt"] == got["sub/b.txt"] == got["top.md"] == "ignored"  # counted, not dropped
    assert sources(tmp_path) == ["keep.txt", "sub/keep.txt", "sub/top.md"]


def test_directory_patterns_match_folders_only_and_are_not_entered(tmp_path: Path) -> None:
    git_tree(tmp_path, {
        ".gitignore": "build/\nout\n!build/keep.md\n",
        "build/a.md": "a", "build/keep.md": "k", "src/build": "a file named build", "src/out/x.md": "x",
        "src/a.md": "a",
    })
    got = items(tmp_path)
    # A folder passed over is one item, and (as in git) `!` cannot bring back a file inside it.
    assert got["build/"] == got["src/out/"] == "ignored"
    assert "build/keep.md" not in got
    assert sources(tmp_path) == ["src/a.md", "src/build"]


def test_nested_gitignore_applies_to_its_subtree_and_wins(tmp_path: Path) -> None:
    git_tree(tmp_path, {
        ".gitignore": "*.txt\n",
        "docs/.gitignore": "!special.txt\nlocal.md\n",
        "docs/special.txt": "s", "docs/other.txt": "o", "docs/local.md": "l", "local.md": "l", "special.txt": "s",
    })
    assert sources(tmp_path) == ["docs/special.txt", "local.md"]


def test_gitignore_counts_only_in_a_git_tree_or_when_asked_not_to(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {".gitignore": "*.txt\n", "a.txt": "a", "b.md": "b"}
    write_files(tmp_path / "plain", files)
    assert sources(tmp_path / "plain") == ["a.txt", "b.md"]
    git_tree(tmp_path / "repo", files)
    assert sources(tmp_path / "repo") == ["b.md"]
    assert sources(tmp_path / "repo", PathRules(gitignore=False)) == ["a.txt", "b.md"]
    # A repository inside a folder that is none: its .gitignore counts inside it.
    git_tree(tmp_path / "plain" / "inner", files)
    assert sources(tmp_path / "plain") == ["a.txt", "b.md", "inner/b.md"]


def test_gitignore_above_the_root_counts_unless_it_ignores_the_root(tmp_path: Path) -> None:
    repo = git_tree(tmp_path / "repo", {
        ".gitignore": "docs/drafts/\n*.tmp.md\nbuild/\n", ".git/info/exclude": "secret.md\n",
        "docs/a.md": "a", "docs/drafts/d.md": "d", "docs/x.tmp.md": "x", "docs/secret.md": "s", "build/b.md": "b",
    })
    assert sources(repo / "docs") == ["a.md"]
    assert sources(repo / "build") == ["b.md"]  # named on purpose: indexed even though git ignores it


def test_docsearchignore_is_on_top_of_gitignore(tmp_path: Path) -> None:
    git_tree(tmp_path, {
        ".gitignore": "generated.md\nnotes/\n",
        ".docsearchignore": "!generated.md\n!notes/\ndraft*.md\n",
        "generated.md": "g", "notes/n.md": "n", "draft1.md": "d", "plain.md": "p",
        "sub/.docsearchignore": "!draft2.md\n", "sub/draft2.md": "d", "sub/draft3.md": "d",
    })
    assert sources(tmp_path) == ["generated.md", "notes/n.md", "plain.md", "sub/draft2.md"]


def test_exclude_and_include_flags(tmp_path: Path) -> None:
    write_files(tmp_path, {
        ".docsearchignore": "!*.md\n", "a.md": "a", "b.txt": "b", "docs/c.md": "c", "docs/d.txt": "d",
        "docs/api/e.md": "e", "other/f.md": "f",
    })
    assert sources(tmp_path, PathRules(exclude=("*.txt", "api/"))) == ["a.md", "docs/c.md", "other/f.md"]
    # --exclude wins even over a .docsearchignore that brings a path back.
    assert sources(tmp_path, PathRules(exclude=("a.md",))) == ["b.txt", "docs/api/e.md", "docs/c.md", "docs/d.txt",
                                                              "other/f.md"]
    # --include keeps only matching files (folders are still entered); the rest is counted as ignored.
    got = items(tmp_path, PathRules(include=("docs/",)))
    assert [p for p, r in got.items() if r == "source"] == ["docs/api/e.md", "docs/c.md", "docs/d.txt"]
    assert got["a.md"] == got["other/f.md"] == "ignored"
    assert sources(tmp_path, PathRules(include=("*.md",), exclude=("docs/api/",))) == ["a.md", "docs/c.md", "other/f.md"]


def test_path_filter_on_indexed_paths() -> None:
    keep = path_filter(include=("*.md",), exclude=("drafts/",))
    assert [p for p in ("a.md", "x/b.md", "c.txt", "drafts/d.md", "x/drafts/e.md") if keep(p)] == ["a.md", "x/b.md"]
    assert path_filter()("anything")


def test_rule_check_agrees_with_the_walk(tmp_path: Path) -> None:
    git_tree(tmp_path, {
        ".gitignore": "*.txt\n!keep.txt\nbuild/\n", ".docsearchignore": "secret/\n",
        "a.txt": "a", "keep.txt": "k", "b.md": "b", "build/x.md": "x", "secret/y.md": "y", "pic.png": b"\x89PNG",
        ".hidden/z.md": "z", "node_modules/m.js": "m", "sub/.gitignore": "c.md\n", "sub/c.md": "c", "sub/d.md": "d",
    })
    check = RuleCheck(tmp_path, PathRules(exclude=("sub/d.md",)))
    expect = {
        "a.txt": "ignored", "keep.txt": None, "b.md": None, "build/x.md": "ignored", "secret/y.md": "ignored",
        "pic.png": "unsupported", ".hidden/z.md": "hidden", "node_modules/m.js": "environment",
        "sub/c.md": "ignored", "sub/d.md": "ignored", "sub/.gitignore": None, ".gitignore": None,
        "gone.md": None, "new/deep/file.md": None,
    }
    assert {rel: check.rule(tmp_path / rel) for rel in expect} == expect
    assert check.rule(tmp_path.parent / "elsewhere.md") == "outside"
    walked = items(tmp_path, PathRules(exclude=("sub/d.md",)))
    assert [rel for rel, rule in expect.items() if rule is None and walked.get(rel) == "source"] == ["keep.txt", "b.md"]
