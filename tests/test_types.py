"""Small values: where a span of a document comes from, and a result's place."""

from __future__ import annotations

from docsearch.types import Document, Section, located, span_label


def test_span_label() -> None:
    assert span_label("page 3", "page 3") == "page 3"
    assert span_label("page 3", "page 4") == "page 3–4"
    assert span_label("sheet A, row 2", "sheet A, row 40") == "sheet A, row 2–40"
    assert span_label("sheet A, row 40", "sheet B, row 2") == "sheet A, row 40 – sheet B, row 2"
    assert span_label("", "§ Pests") == "§ Pests" and span_label("§ Intro", "") == "§ Intro"


def test_places_count_from_the_body_with_the_title_in_front() -> None:
    doc = Document("d", "Deck", "one\n\ntwo\n\nthree", "d.pptx",
                   sections=(Section(0, "slide 1"), Section(5, "slide 2"), Section(10, "slide 3")))
    assert doc.body == "Deck\n\none\n\ntwo\n\nthree"  # the title is put in front: offsets move by 6
    assert doc.places(0, 3) == ((0, "slide 1"),)  # the title counts as the first section
    assert doc.places(6, len(doc.body)) == ((0, "slide 1"), (5, "slide 2"), (10, "slide 3"))
    assert doc.places(12, 14) == ((0, "slide 2"),)
    assert doc.place(11, 17) == "slide 2–3"
    assert Document("p", "t", "text", "p.txt").place(0, 4) == ""


def test_located_prefers_the_section_of_the_best_sentence() -> None:
    places = [[0, "slide 1"], [5, "slide 2"]]
    assert located("slide 1–2", places, 7) == "slide 2"
    assert located("slide 1–2", places, 0) == "slide 1"
    assert located("slide 1–2", places, None) == "slide 1–2"
    assert located("page 4", None, 3) == "page 4"
    assert located(None, None, 3) is None
    assert located("§ A", [[0, ""], [9, "§ A"]], 2) is None  # a preface has no place
