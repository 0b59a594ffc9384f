"""Front matter: the YAML ('---') or TOML ('+++') block that static-site generators (Jekyll, Hugo,
Astro, MkDocs...) put at the top of Markdown and HTML pages.

Its ``title`` is the page's title. The block itself is metadata, not prose, so it is not indexed
as written: the values of the fields that are prose (title, subtitle, description, summary,
excerpt, abstract) stay, each on its own line, and every other line of the block becomes an empty
line, so the line numbers of the text below it still match the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCES = {"---": ("---", "..."), "+++": ("+++",)}
_PROSE = frozenset({"title", "subtitle", "description", "summary", "excerpt", "abstract"})
_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*[:=]\s?(.*)$")  # 'key: value' (YAML), 'key = value' (TOML)
_BLOCK_SCALAR = re.compile(r"^[>|][+-]?\d*$")  # YAML 'key: >' or 'key: |': the value follows, indented
_MAX_LINES = 200  # a fence without its closing fence this far down is a rule, not front matter


@dataclass(frozen=True)
class FrontMatter:
    """The front matter's ``title`` (None when it has none) and the ``text`` with the block reduced
    to its prose values, as many lines as before."""

    title: str | None
    text: str


def front_matter(text: str) -> FrontMatter | None:
    """The file's front matter, or None when it does not start with one."""
    first, _, _ = text.partition("\n")
    closers = _FENCES.get(first.strip())
    if closers is None or first != first.lstrip():
        return None
    lines = text.split("\n", _MAX_LINES + 1)
    end = next((i for i in range(1, min(len(lines), _MAX_LINES)) if lines[i].strip() in closers), None)
    if end is None:
        return None
    kept, title = _prose(lines[1:end])
    rest = "\n".join(lines[end + 1 :])
    reduced = "\n".join(["", *kept, "", rest]) if end + 1 < len(lines) else "\n".join(["", *kept, ""])
    return FrontMatter(title, reduced)


def _prose(block: list[str]) -> tuple[list[str], str | None]:
    """Each line of the block: a prose field's value, or ''; and the title's value."""
    out: list[str] = []
    title: str | None = None
    key = None
    for line in block:
        match = _KEY.match(line)
        if match:  # a top-level key (indented lines belong to the key above)
            key, value = match.group(1).lower(), _unquote(match.group(2))
            if _BLOCK_SCALAR.match(value):
                value = ""
        else:
            value = line.strip() if key in _PROSE and line[:1].isspace() else ""
        if key in _PROSE and value:
            out.append(value)
            if key == "title":
                title = value if title is None or match else f"{title} {value}"
        else:
            out.append("")
    return out, (" ".join(title.split())[:200] if title else None)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
