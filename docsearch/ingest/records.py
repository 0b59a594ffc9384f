"""Record files (JSONL, JSON, CSV, TSV): one document per record, and a ``BadRecord`` for each
record that cannot be one, with its line and why, so a file is indexed as far as it is good.

CSV is read strictly (RFC 4180 quoting, every row as wide as the header): a row that breaks the
rules is reported and reading resumes at the next line, so one stray quote costs one record, not
every record after it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import IngestError
from ..types import BadRecord, Document, PartlyRead, RecordFields, Source

# Fallback keys, tried in order when the configured key is absent from a record.
_ID_KEYS = ("id", "_id", "doc_id", "docid")
_TEXT_KEYS = ("text", "body", "content", "contents")
_TITLE_KEYS = ("title",)
_LIST_KEYS = ("documents", "docs", "records", "data", "corpus", "items", "rows", "results")
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


@dataclass
class RecordsRead:
    """What a record file yielded: its documents, and the records that could not be documents."""

    documents: list[Document]
    records: int
    bad: list[BadRecord] = field(default_factory=list)

    def partial(self, path: str) -> PartlyRead | None:
        return PartlyRead(path, self.records, len(self.documents), tuple(self.bad)) if self.bad else None


def read_records(text: str, suffix: str, source: Source, fields: RecordFields) -> RecordsRead:
    """Documents from a record file; raises IngestError when no record is usable, saying why."""
    if suffix == ".jsonl":
        rows = _jsonl_rows(text)
    elif suffix == ".json":
        rows = _json_rows(text)
    else:
        rows = _csv_rows(text, suffix, fields)
    out = RecordsRead([], 0)
    first: dict[str, str] = {}  # id -> where its kept record is
    for number, (line, record) in enumerate(rows, start=1):
        out.records += 1
        if isinstance(record, BadRow):
            out.bad.append(BadRecord(line, number, record.reason))
            continue
        doc = _record_document(record, line, source.path, fields)
        if isinstance(doc, str):
            out.bad.append(BadRecord(line, number, doc))
        elif doc.doc_id in first:  # the id is the document's key downstream: keep the first
            out.bad.append(BadRecord(line, number, f"duplicate id {_short(doc.doc_id)} (kept {first[doc.doc_id]})"))
        else:
            first[doc.doc_id] = f"line {line}" if line is not None else f"record {number}"
            out.documents.append(doc)
    if not out.documents:
        raise IngestError(_none_usable(out))
    return out


@dataclass(frozen=True)
class BadRow:
    """A row the parser could not read as a record."""

    reason: str


def _none_usable(out: RecordsRead) -> str:
    """'no usable records among 2 (no text: 1, broken JSON: 1); line 1: no text (tried text/body/…)'."""
    if not out.records:
        return "no usable records (the file holds none)"
    counts: dict[str, int] = {}
    for bad in out.bad:
        kind = bad.reason.split(" (", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    detail = ", ".join(f"{kind}: {n}" for kind, n in counts.items())
    return f"no usable records among {out.records} ({detail}); {out.bad[0].label()}"


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:39] + "…")


# --------------------------------------------------------------------------- one record


def _record_document(record: Any, line: int | None, path: str, fields: RecordFields) -> Document | str:
    """A Document, or why the record cannot be one."""
    if not isinstance(record, dict):
        return f"not an object ({_JSON_TYPES.get(type(record), 'null')})"
    doc_id = _scalar(_lookup(record, fields.id, _ID_KEYS))
    if not doc_id:
        return f"no id (tried {_tried(fields.id, _ID_KEYS)})"
    raw = _lookup(record, fields.text, _TEXT_KEYS)
    if raw is None:
        present = fields.text in record or any(k in record for k in _TEXT_KEYS)
        return "null text" if present else f"no text (tried {_tried(fields.text, _TEXT_KEYS)})"
    body = _scalar(raw, strip=False)
    if body is None:
        return f"text is {_JSON_TYPES.get(type(raw), 'an object')}, not a string"
    if not body.strip():
        return "empty text"
    if "\r" in body:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
    title = _scalar(_lookup(record, fields.title, _TITLE_KEYS)) or ""
    return Document(doc_id, title, body, path, line=line or 1, line_mapped=False)


def _lookup(record: dict[str, Any], key: str, fallbacks: tuple[str, ...]) -> Any:
    value = record.get(key)
    if value is not None:
        return value
    for alt in fallbacks:
        value = record.get(alt)
        if value is not None:
            return value
    return None


def _scalar(value: Any, strip: bool = True) -> str | None:
    """Strings as they are, numbers stringified; lists, dicts and bools are unusable."""
    if isinstance(value, str):
        return value.strip() if strip else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _tried(key: str, fallbacks: tuple[str, ...]) -> str:
    return "/".join(dict.fromkeys((key, *fallbacks)))


# --------------------------------------------------------------------------- JSON


def _jsonl_rows(text: str) -> Iterator[tuple[int | None, Any]]:
    loads = json.loads
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, loads(line)
        except ValueError:
            yield number, BadRow("broken JSON")


def _json_rows(text: str) -> list[tuple[int | None, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        msg = " ".join(str(exc).split())[:160]
        raise IngestError(f"invalid JSON: {msg}") from None
    return [(None, record) for record in _json_records(data)]


def _json_records(data: Any) -> list[Any]:
    """A list of records, an object holding one, a {id: record} map, or one record."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        raise IngestError("JSON holds neither records nor an object")
    lists = {k: v for k, v in data.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    for key in (*_LIST_KEYS, *lists):
        if key in lists:
            return lists[key]
    if data and all(isinstance(v, dict) for v in data.values()):
        # {"doc1": {"title": ..., "text": ...}}: the key is the id unless given.
        return [{"id": key, **value} for key, value in data.items()]
    return [data]


# --------------------------------------------------------------------------- CSV

_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


def _csv_rows(text: str, suffix: str, fields: RecordFields) -> Iterator[tuple[int | None, Any]]:
    """(line, {column: value}) per row, or (line, BadRow) for a row that breaks the rules."""
    lines = _LINE.findall(text)
    header = lines[0] if lines else ""
    delimiter = "\t" if suffix == ".tsv" else max(",;\t|", key=header.count)
    names = [name.strip() for name in next(csv.reader([header], delimiter=delimiter, skipinitialspace=True), [])]
    if not any(names):
        raise IngestError("CSV has no header row")
    id_col = next((names.index(k) for k in (fields.id, *_ID_KEYS) if k in names), None)
    for line, row in _strict_rows(lines, delimiter, len(names), id_col):
        yield line, row if isinstance(row, BadRow) else dict(zip(names, row, strict=True))


def _strict_rows(lines: list[str], delimiter: str, width: int, id_col: int | None) -> Iterator[tuple[int, Any]]:
    """Rows after the header, with their 1-based line; a row that breaks the rules is a BadRow."""
    # The file cap already bounds a field; csv's own 128 KiB default would refuse long texts.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    start = 1  # 0-based index of the line a fresh reader starts on
    while start < len(lines):
        reader = csv.reader(_from(lines, start), delimiter=delimiter, skipinitialspace=True, strict=True)
        first = start  # where the row being read begins
        try:
            for row in reader:
                end = start + reader.line_num  # the line after this row
                problem, resume = _row_problem(row, lines, first, end, width, id_col, delimiter) if row else (None, end)
                if problem:
                    yield first + 1, BadRow(problem)
                    if resume != end:
                        start = resume
                        break
                elif row:
                    yield first + 1, row
                first = end
            else:
                return
        except csv.Error as exc:
            # Resume on the line after the row's first: an open quote must not take the rest along.
            yield first + 1, BadRow(_csv_reason(exc))
            start = first + 1


def _from(lines: list[str], start: int) -> Iterator[str]:
    for i in range(start, len(lines)):
        yield lines[i]


def _row_problem(row: list[str], lines: list[str], first: int, end: int, width: int, id_col: int | None,
                 delimiter: str) -> tuple[str | None, int]:
    """What is wrong with a row, if anything, and the line to read on from."""
    for n in range(first + 1, end):
        # A quoted field across lines is fine, unless one of its lines is itself a whole record
        # (with an id shaped like this row's): then a quote was left open and swallowed records.
        inner = next(csv.reader([lines[n]], delimiter=delimiter, skipinitialspace=True), [])
        same_shape = id_col is None or id_col >= len(row) or _shape(inner[id_col]) == _shape(row[id_col])
        if len(inner) == width and same_shape:
            return f"unterminated quote (the field runs on into line {n + 1}, which reads as a record)", first + 1
    if len(row) != width:
        return f"{len(row)} fields where the header has {width}", end
    return None, end


def _shape(value: str) -> str:
    """'doc-12' -> 'a-9': letters and digits collapsed by class, so ids of one file share a shape."""
    value = re.sub(r"[^\W\d_]+", "a", value.strip())
    return re.sub(r"\d+", "9", value) if value else "\0"


def _csv_reason(exc: csv.Error) -> str:
    msg = str(exc)
    if "unexpected end of data" in msg:
        return "unterminated quote (runs to the end of the file)"
    if "expected after" in msg:
        return "stray quote (a quoted field must end at a delimiter)"
    return f"malformed CSV: {msg}"
