"""Every path an index run sees is in its report, in exactly one category. Fast: a fake encoder,
the real embedded store."""

from __future__ import annotations

import json
from pathlib import Path

from fakes import FakeEncoder
from helpers import MIXED, write_mixed
from rich.console import Console

from docsearch import Index, Settings, update_index
from docsearch.cli.render import print_report, report_json
from docsearch.types import IndexReport


def index_mixed(tmp_path: Path) -> IndexReport:
    root = write_mixed(tmp_path / "mixed")
    (root / "blob").write_bytes(b"\x00\x01\x02" * 50)  # no suffix, binary
    (root / "notes.txt").write_bytes(b"\xff\xfeJ\xfcrgen's notes on the ssh client, tr\xe8s bien.\n")
    settings = Settings(home=tmp_path / "home", index="t")
    with Index.open_or_create(settings) as index:
        return update_index(index, [root], encoder=FakeEncoder())


def test_the_report_accounts_for_every_file(tmp_path: Path) -> None:
    report = index_mixed(tmp_path)
    files = len(MIXED) + 3  # and manual.pdf, blob, notes.txt
    assert report.walked == files == report.accounted
    assert sorted(report.indexed_paths) == [
        "README", "changelog.Debian.gz", "manual.pdf", "notes.txt", "page.html", "ragged.csv", "records.jsonl"]
    assert [(e.path, e.rule) for e in report.excluded] == [(".hidden.md", "hidden"), ("blob", "binary"),
                                                           ("image.png", "unsupported")]
    assert report.skipped == ()
    partial = {p.path: p.summary() for p in report.partial}
    assert partial == {
        "ragged.csv": "partly read: 2 of 4 records; line 3: 4 fields where the header has 3, "
                      "line 4: unterminated quote (runs to the end of the file)",
        "records.jsonl": "partly read: 2 of 5 records; line 2: broken JSON, line 3: not an object (an array), "
                         "line 4: null text",
    }


def test_a_rerun_accounts_for_every_file_too(tmp_path: Path) -> None:
    first = index_mixed(tmp_path)
    settings = Settings(home=tmp_path / "home", index="t")
    with Index.open_or_create(settings) as index:
        again = update_index(index, [tmp_path / "mixed"], encoder=FakeEncoder())
    assert (again.indexed, again.unchanged, len(again.excluded)) == (0, first.indexed, len(first.excluded))
    assert again.walked == first.walked == again.accounted


def test_summary_and_json_show_every_category(tmp_path: Path) -> None:
    report = index_mixed(tmp_path)
    console = Console(record=True, width=300)
    print_report(console, report)
    text = console.export_text()
    assert "indexed 7 file(s)" in text and "skipped 0;" in text and "passed over 3 — 10 path(s) seen" in text
    assert "passed over by rule: hidden 1, unsupported 1 (.png 1), binary 1" in text
    assert "partly read records.jsonl: 2 of 5 records; line 2: broken JSON" in text
    assert "image.png" not in text  # paths passed over by rule are listed with --verbose only
    verbose = Console(record=True, width=300)
    print_report(verbose, report, verbose=True)
    listed = verbose.export_text()
    assert "unsupported image.png" in listed and "hidden .hidden.md" in listed and "binary blob" in listed
    data = json.loads(report_json(report))
    assert data["walked"] == 10 and data["indexed"] == 7 and data["excluded"] == 3
    assert {e["path"] for e in data["excluded_paths"]} == {".hidden.md", "blob", "image.png"}
    assert data["partly_read"][1]["bad"][0] == {"line": 2, "record": 2, "reason": "broken JSON"}


def test_many_skips_are_capped_unless_verbose() -> None:
    from docsearch.types import Skipped

    report = IndexReport(skipped=tuple(Skipped(f"f{n}.pdf", "corrupt PDF") for n in range(25)), walked=25)
    console = Console(record=True, width=200)
    print_report(console, report)
    text = console.export_text()
    assert "f19.pdf" in text and "f20.pdf" not in text and "and 5 more skipped (--verbose lists all)" in text
    verbose = Console(record=True, width=200)
    print_report(verbose, report, verbose=True)
    assert "f24.pdf" in verbose.export_text()
