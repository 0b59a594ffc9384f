"""Bytes to text: which encoding a file is in, whether it is text at all, and gzip.

Order of trust, as the HTML standard has it: a byte-order mark (checked, not believed on sight),
then an encoding the file declares (HTML's ``<meta charset>``), then UTF-8. Past that: UTF-8 with
stray windows-1252 bytes when the file is mostly UTF-8, else a guess by ``charset-normalizer``
that leans to windows-1252 (the standard's default for undeclared legacy text) whenever that reads
about as well as its best guess.
"""

from __future__ import annotations

import codecs
import gzip
import re
import zlib

from ..errors import IngestError

SNIFF_BYTES = 8192
# Control characters other than tab, newline, form feed, carriage return, backspace and escape:
# text has almost none of them, binary formats plenty.
_CONTROL = bytes(sorted(set(range(32)) - {8, 9, 10, 12, 13, 27}))
_WESTERN = frozenset({"cp1252", "latin_1", "iso8859_15"})
# How much worse (in charset-normalizer's percentages) windows-1252 may read than the best guess.
_WESTERN_CHAOS = 10.0
_WESTERN_COHERENCE = 10.0
# Below this share of non-ASCII bytes there is too little to tell legacy encodings apart.
_SPARSE = 0.02
_HIGH = bytes(range(128, 256))
_ESCAPED = re.compile("[\udc80-\udcff]+")


def looks_binary(head: bytes) -> bool:
    """For files without a suffix: a NUL byte, or more than 1 in 10 bytes a control character."""
    if not head:
        return False
    if b"\x00" in head:
        return _bom_text(head, partial=True) is None  # UTF-16/32 text has NULs, behind a BOM that checks out
    return len(head.translate(None, _CONTROL)) < 0.9 * len(head)


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Text with '\\n' newlines, from a validated BOM, the ``declared`` encoding, UTF-8 or a guess.
    Raises IngestError for binary or undecodable content and for text that is only whitespace."""
    text = _bom_text(data)
    if text is None:
        text = _declared_text(data, declared)
    if text is None:
        if b"\x00" in data[:SNIFF_BYTES]:
            raise IngestError("binary file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _guessed_text(data)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError("empty file")
    return text


# --------------------------------------------------------------------------- BOM


_BOMS = (
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    (codecs.BOM_UTF32_LE, "utf-32-le", 4),
    (codecs.BOM_UTF32_BE, "utf-32-be", 4),
    (codecs.BOM_UTF8, "utf-8", 1),
    (codecs.BOM_UTF16_LE, "utf-16-le", 2),
    (codecs.BOM_UTF16_BE, "utf-16-be", 2),
)


def _bom_text(data: bytes, partial: bool = False) -> str | None:
    """The text after a byte-order mark, if the rest really is in that encoding; else None.

    Bytes FF FE begin a UTF-16 file, but also a Latin-1 one that starts with 'ÿþ'. So the rest
    must be a whole number of code units, decode strictly, and read as text: UTF-16/32 text has
    newlines or spaces (each a unit with a zero byte), and a misread 8-bit file has none.
    ``partial``: ``data`` is the head of a file, which may end inside a character.
    """
    for bom, encoding, unit in _BOMS:
        if not data.startswith(bom):
            continue
        body = data[len(bom):]
        if partial:
            body = body[: len(body) - len(body) % unit]
        elif len(body) % unit:
            return None
        try:
            text = body.decode(encoding, errors="replace" if partial else "strict")
        except UnicodeDecodeError:
            return None
        if unit > 1 and not _plausible_wide(text):
            return None
        return text
    return None


def _plausible_wide(text: str) -> bool:
    sample = text[:65536]
    if len(sample) <= 2:
        return True  # too short to tell; nothing to lose either way
    if not any(c in " \t\n\r" for c in sample):
        return False
    printable = sum(c.isprintable() or c in "\t\n\r\f" for c in sample)
    return printable >= 0.95 * len(sample)


# --------------------------------------------------------------------------- declared

# WHATWG: these labels mean windows-1252, which agrees with Latin-1 on every byte Latin-1 prints.
_LABELS = {"iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
           "l1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252", "x-sjis": "shift_jis"}
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def html_charset(data: bytes) -> str | None:
    """The encoding an HTML file declares in its first 1024 bytes (as browsers look for it):
    ``<meta charset>``, ``<meta http-equiv="Content-Type" content="…; charset=…">`` or an XML
    declaration; a Python codec name, or None when none is declared or Python knows no such codec."""
    head = data[:1024]
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if not match:
        return None
    label = match.group(1).decode("ascii").lower()
    label = _LABELS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A page declaring UTF-16 or -32 without a BOM is read as UTF-8, as browsers do.
    return "utf-8" if name.startswith(("utf-16", "utf-32")) else name


def _declared_text(data: bytes, declared: str | None) -> str | None:
    if not declared:
        return None
    if declared == "cp1252":
        return _western(data)  # every byte means something in it
    try:
        return data.decode(declared)
    except UnicodeDecodeError:
        return None  # the declaration is wrong: detect instead


# --------------------------------------------------------------------------- guessed


def _guessed_text(data: bytes) -> str:
    """Not UTF-8 and nothing declared: UTF-8 with a few Latin-1 bytes mixed in (a changelog that
    changed encoding over the years) is read as both; otherwise charset-normalizer's best reading,
    or windows-1252 when that reads nearly as well or the file holds too few non-ASCII bytes to
    tell (its ties on short text fall to codec order: 'café' came back as Farsi cp1006, 'Léger'
    amid English as Big5)."""
    mixed = _mostly_utf8(data)
    if mixed is not None:
        return mixed
    from charset_normalizer import from_bytes  # imported lazily: only non-UTF-8 files need it

    matches = list(from_bytes(data))
    if not matches:
        raise IngestError("not text in any known encoding (not UTF-8)")
    best = matches[0]
    western = next((m for m in matches if _WESTERN & {m.encoding, *m.could_be_from_charset}), None)
    if western is not None and western.percent_coherence >= best.percent_coherence - _WESTERN_COHERENCE and (
        western.percent_chaos <= best.percent_chaos + _WESTERN_CHAOS or _high_share(data) < _SPARSE
    ):
        return _western(data)
    return str(best)


def _high_share(data: bytes) -> float:
    return 1 - len(data.translate(None, _HIGH)) / len(data)


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with its invalid bytes read as windows-1252, when its valid non-ASCII characters
    outnumber those, or the file is mostly ASCII and has some (a run of valid multi-byte UTF-8
    is next to impossible by chance in 8-bit text); else None."""
    text = data.decode("utf-8", errors="surrogateescape")  # an invalid byte b becomes U+DC00+b
    runs = _ESCAPED.findall(text)
    valid = len(text) - len(data.translate(None, _HIGH)) - sum(map(len, runs))  # non-ASCII characters
    if valid <= len(runs) and not (valid and _high_share(data) < _SPARSE):
        return None
    return _ESCAPED.sub(lambda m: _western(m.group().encode("utf-8", "surrogateescape")), text)


def _western(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # the five bytes windows-1252 leaves undefined


# --------------------------------------------------------------------------- gzip


def gunzip(path: str, limit: int) -> bytes:
    """A .gz file's content, decompressed as it is read; raises IngestError past ``limit`` bytes
    (the cap applies to what comes out, so a small bomb cannot fill memory) or on corrupt data."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno is not None:
            raise IngestError(f"cannot read file: {(exc.strerror or str(exc)).lower()}") from exc
        raise IngestError(f"corrupt gzip: {_one_line(exc)}") from exc
    if len(data) > limit:
        size = f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit} bytes"
        raise IngestError(f"file too large (over {size} uncompressed)")
    return data


def gunzip_head(path: str, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` decompressed bytes, for sniffing; empty when the file is not gzip (its
    reading says so). Raises OSError when the file cannot be read."""
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error):
        return b""


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg[:160]
