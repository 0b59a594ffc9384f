"""What a file name says about its content: which reader takes it, whether it is gzip-compressed,
and whether only its content can tell (README, LICENSE, Makefile, changelog.Debian...)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .formats import SUPPORTED_SUFFIXES

COMPRESSED_SUFFIX = ".gz"
# Names documentation goes by without a suffix, or with one that is no file type
# (README.Debian, changelog.Debian.gz, LICENSE.APACHE2, COPYING.LIB, NEWS.old).
DOC_NAMES = frozenset(
    "readme changelog changes news license licence copying copyright authors contributors credits thanks"
    " todo install history notice bugs faq hacking maintainers release-notes releasenotes".split()
)
# Files without a suffix that are code: their name is their title, as for code with one.
CODE_NAMES = frozenset(
    "makefile gnumakefile dockerfile containerfile vagrantfile jenkinsfile rakefile gemfile procfile"
    " justfile cmakelists".split()
)


@dataclass(frozen=True)
class FileType:
    """How to read a file: the reader's ``suffix`` ('' for text known by name or content only),
    whether it is ``compressed`` (.gz, read as the inner file), and whether the walk must ``sniff``
    its first bytes to tell text from binary."""

    suffix: str
    compressed: bool = False
    sniff: bool = False


def file_type(name: str) -> FileType | None:
    """The FileType of a file name, or None when no reader takes it (see ``type_label``)."""
    base, compressed = _strip_gz(os.path.basename(name))
    suffix = _suffix(base)
    if suffix in SUPPORTED_SUFFIXES:
        return FileType(suffix, compressed)
    if not suffix or base.split(".", 1)[0].lower() in DOC_NAMES:
        return FileType("", compressed, sniff=True)
    return None


def type_label(name: str) -> str:
    """What the summary calls an unsupported file's type: '.png', '.tar.gz'."""
    base, compressed = _strip_gz(os.path.basename(name))
    return (_suffix(base) or "(none)") + (COMPRESSED_SUFFIX if compressed else "")


def is_code_name(name: str) -> bool:
    base, _ = _strip_gz(os.path.basename(name))
    return base.lower() in CODE_NAMES


def _strip_gz(base: str) -> tuple[str, bool]:
    if base.lower().endswith(COMPRESSED_SUFFIX) and len(base) > len(COMPRESSED_SUFFIX):
        return base[: -len(COMPRESSED_SUFFIX)], True
    return base, False


def _suffix(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    return "" if suffix == "." else suffix
