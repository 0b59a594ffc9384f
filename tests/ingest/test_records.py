"""Record files read in part: every bad record is reported with its line and why, the good ones are
indexed, and CSV is strict enough that one stray quote cannot merge records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import MIXED

from docsearch.errors import IngestError
from docsearch.ingest import read_source
from docsearch.types import BadRecord, PartlyRead, Source


def read(tmp_path: Path, name: str, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    return read_source(Source(str(path), name, st.st_size, st.st_mtime_ns))


def bad(reading) -> list[tuple[int | None, str]]:  # type: ignore[no-untyped-def]
    assert reading.partial is not None
    return [(b.line, b.reason) for b in reading.partial.bad]


def test_jsonl_bad_lines_have_line_numbers_and_reasons(tmp_path: Path) -> None:
    text = "\n".join([
        json.dumps({"_id": "1", "text": "good"}),
        '{"_id": "2", "text": ',
        "[1, 2]",
        "null",
        json.dumps({"_id": "3", "text": None}),
        json.dumps({"_id": "4", "text": "  "}),
        "",
        json.dumps({"_id": "1", "text": "second with the same id"}),
        json.dumps({"_id": "5"}),
        json.dumps({"text": "no id"}),
        json.dumps({"_id": "6", "text": ["a", "list"]}),
        json.dumps({"_id": "7", "text": "also good"}),
    ])
    reading = read(tmp_path, "c.jsonl", text)
    assert [(d.doc_id, d.line) for d in reading.documents] == [("1", 1), ("7", 12)]
    assert bad(reading) == [
        (2, "broken JSON"),
        (3, "not an object (an array)"),
        (4, "not an object (null)"),
        (5, "null text"),
        (6, "empty text"),
        (8, "duplicate id '1' (kept line 1)"),
        (9, "no text (tried text/body/content/contents)"),
        (10, "no id (tried _id/id/doc_id/docid)"),
        (11, "text is an array, not a string"),
    ]
    assert (reading.partial.records, reading.partial.read) == (11, 2)  # the blank line is no record


def test_partly_read_summary_is_capped_and_complete_on_request() -> None:
    part = PartlyRead("c.jsonl", 8, 4, tuple(BadRecord(n, n, "broken JSON") for n in (2, 3, 5, 7)))
    assert part.summary() == "partly read: 4 of 8 records; line 2: broken JSON, line 3: broken JSON, " \
                             "line 5: broken JSON, +1 more"
    assert part.summary(None).endswith("line 5: broken JSON, line 7: broken JSON")
    assert BadRecord(None, 3, "not an object (a number)").label() == "record 3: not an object (a number)"


def test_a_file_without_bad_records_is_not_partly_read(tmp_path: Path) -> None:
    reading = read(tmp_path, "ok.jsonl", json.dumps({"_id": "1", "text": "fine"}) + "\n")
    assert reading.partial is None and len(reading.documents) == 1


def test_json_bad_records_are_numbered(tmp_path: Path) -> None:
    reading = read(tmp_path, "l.json", json.dumps([{"_id": "a", "text": "x"}, 5, {"_id": "a", "text": "y"}]))
    assert [d.doc_id for d in reading.documents] == ["a"]
    assert [(b.line, b.record, b.label()) for b in reading.partial.bad] == [
        (None, 2, "record 2: not an object (a number)"),
        (None, 3, "record 3: duplicate id 'a' (kept record 1)"),
    ]


def test_csv_ragged_rows_are_reported_not_truncated(tmp_path: Path) -> None:
    text = "id,title,text\n1,One,first\n2,Two\n3,Three,third,extra\n4,Four,fourth\n\n5,,\n"
    reading = read(tmp_path, "r.csv", text)
    assert [(d.doc_id, d.text, d.line) for d in reading.documents] == [("1", "first", 2), ("4", "fourth", 5)]
    assert bad(reading) == [
        (3, "2 fields where the header has 3"),
        (4, "4 fields where the header has 3"),
        (7, "empty text"),
    ]


def test_csv_unterminated_quote_to_the_end_costs_one_record(tmp_path: Path) -> None:
    reading = read(tmp_path, "q.csv", MIXED["ragged.csv"])  # type: ignore[arg-type]
    assert [(d.doc_id, d.line) for d in reading.documents] == [("1", 2), ("4", 5)]
    assert bad(reading) == [
        (3, "4 fields where the header has 3"),
        (4, "unterminated quote (runs to the end of the file)"),
    ]


def test_csv_unterminated_quote_closed_by_a_later_quote_is_caught(tmp_path: Path) -> None:
    # The open quote on line 2 is closed by the stray one at the end of line 3: the csv module
    # alone reads one record "1" whose text swallowed record "2".
    text = 'id,title,text\n1,One,"first\n2,Two,second"\n3,Three,"third"\n'
    reading = read(tmp_path, "m.csv", text)
    assert [(d.doc_id, d.text, d.line) for d in reading.documents] == [("2", 'second"', 3), ("3", "third", 4)]
    assert bad(reading) == [(2, "unterminated quote (the field runs on into line 3, which reads as a record)")]


def test_csv_stray_quote_after_a_quoted_field(tmp_path: Path) -> None:
    text = 'id,text\na1,"quoted"tail\na2,fine\n'
    reading = read(tmp_path, "s.csv", text)
    assert [d.doc_id for d in reading.documents] == ["a2"]
    assert bad(reading) == [(2, "stray quote (a quoted field must end at a delimiter)")]


def test_csv_multiline_prose_with_commas_stays_one_record(tmp_path: Path) -> None:
    # Lines of a quoted field that hold as many commas as a record, but no id-shaped first field.
    text = 'id,title,text\n1,Poem,"Roses, violets, daisies\nlilies, tulips, irises"\n2,Two,second\n'
    reading = read(tmp_path, "p.csv", text)
    assert [(d.doc_id, d.line) for d in reading.documents] == [("1", 2), ("2", 4)]
    assert reading.documents[0].text == "Roses, violets, daisies\nlilies, tulips, irises"
    assert reading.partial is None


def test_all_bad_records_is_an_error_that_says_why(tmp_path: Path) -> None:
    with pytest.raises(IngestError) as info:
        read(tmp_path, "b.jsonl", "oops\n[1]\n")
    assert str(info.value) == "no usable records among 2 (broken JSON: 1, not an object: 1); line 1: broken JSON"
