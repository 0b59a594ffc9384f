"""Mail to documents: an ``.eml`` file is one message, an ``.mbox`` file many, each message its own
document (subject as title, 'message N' as where it is), read with the standard library's
``email`` package.

A message's text is its subject, its From, To and Date lines, its body (the plain-text part, else
the HTML one's visible text) and its text attachments, each labelled 'attachment NAME'.

Doc ids: an ``.eml`` is one document, so its id is its path, as for any file. A message of an
mbox is ``PATH#MESSAGE-ID`` (angle brackets dropped), so a judgement in ``feedback.jsonl`` still
names the same message after others are deleted or added; a message without a Message-ID, or with
one an earlier message of the file has, is ``PATH#N``, its position in the file.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from ..errors import IngestError
from ..types import BadRecord, Document, PartlyRead, Section, Source
from .formats import clean_title, file_name, html_text

_HEADERS = ("from", "to", "subject", "date", "message-id")
_SHOWN = ("From", "To", "Cc", "Date")
# RFC 4155's From_ line: "From " sender, then an asctime date; a body line that merely starts with
# "From " has no time of day in it (mboxrd and mboxo writers quote those as ">From " anyway).
_FROM_LINE = re.compile(rb"^From \S+ [^\n]*\d\d:\d\d[^\n]*$", re.MULTILINE)
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)


def read_mail(data: bytes, suffix: str, source: Source) -> tuple[list[Document], PartlyRead | None]:
    """The messages of an .eml or .mbox file as documents, and for an mbox with messages that are
    no mail, which ones; raises IngestError(one-line reason) when none is usable."""
    if b"\x00" in data[:8192]:
        raise IngestError(f"binary file, not {'an mbox' if suffix == '.mbox' else 'an email message'}")
    if suffix == ".eml":
        message = _parse(data)
        if message is None:
            raise IngestError("not an email message (no From, To, Subject or Date header)")
        return [_document(message, source.path, source, "")], None
    return _mbox(data, source)


def _mbox(data: bytes, source: Source) -> tuple[list[Document], PartlyRead | None]:
    starts = [m.start() for m in _FROM_LINE.finditer(data)]
    if not starts or data[: starts[0]].strip():
        raise IngestError("not a valid .mbox (it does not start with a 'From ' line)")
    documents: list[Document] = []
    bad: list[BadRecord] = []
    seen: set[str] = set()
    for number, (start, end) in enumerate(zip(starts, [*starts[1:], len(data)], strict=True), start=1):
        body = data[data.find(b"\n", start) + 1 : end]
        message = _parse(_QUOTED_FROM.sub(rb"\1", body))
        if message is None:
            bad.append(BadRecord(data.count(b"\n", 0, start) + 1, number, "not an email message (no headers)"))
            continue
        key = _message_id(message)
        doc_id = f"{source.path}#{key if key and key not in seen else number}"
        seen.add(key)
        documents.append(_document(message, doc_id, source, f"message {number}"))
    if not documents:
        raise IngestError(f"no email message among the {len(starts)} in the mbox")
    partial = PartlyRead(source.path, len(starts), len(documents), tuple(bad)) if bad else None
    return documents, partial


def _parse(data: bytes) -> EmailMessage | None:
    message = BytesParser(policy=policy.default).parsebytes(data)
    if not any(name in message for name in _HEADERS):
        return None
    return message  # type: ignore[return-value]  # policy.default makes EmailMessage


def _message_id(message: EmailMessage) -> str:
    try:
        value = str(message.get("message-id", "") or "")
    except Exception:  # noqa: BLE001 - a malformed header costs the id only
        return ""
    return "".join(value.split()).strip("<>")


def _document(message: EmailMessage, doc_id: str, source: Source, label: str) -> Document:
    subject = clean_title(_header(message, "subject"))
    head = [f"{name}: {value}" for name in _SHOWN if (value := _header(message, name))]
    pieces: list[tuple[str, str]] = [(label, "\n".join([subject, *head]).strip())]
    body = _body(message)
    if body:
        pieces.append((label, body))
    for name, text in _attachments(message):
        pieces.append((f"{label}, attachment {name}" if label else f"attachment {name}", text))
    texts: list[str] = []
    sections: list[Section] = []
    at = 0
    for where, text in pieces:
        if not text:
            continue
        if not sections or sections[-1].label != where:
            sections.append(Section(at, where))
        texts.append(text)
        at += len(text) + 2
    title = subject or (f"{file_name(source)}, {label}" if label else file_name(source))
    keep = tuple(sections) if any(s.label for s in sections) else ()
    return Document(doc_id, title, "\n\n".join(texts), source.path, sections=keep)


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - the email package raises on some malformed headers
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _body(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # noqa: BLE001 - a malformed MIME structure: no body, the headers still count
        return ""
    return _text(part) if part is not None else ""


def _attachments(message: EmailMessage) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    try:
        parts = list(message.iter_attachments()) if message.is_multipart() else []
    except Exception:  # noqa: BLE001 - as above
        return found
    for part in parts:
        if part.get_content_maintype() == "text":
            name = part.get_filename() or part.get_content_type()
            if text := _text(part):
                found.append((clean_title(name), text))
    return found


def _text(part: EmailMessage) -> str:
    """A text part's content, decoded by its charset (UTF-8 with replacements when that fails)."""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        raw = part.get_payload(decode=True)
        content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = html_text(content)[1]
    return content.replace("\r\n", "\n").strip()
