"""Regenerate the sample PDFs in data/corpus from the texts below.

Run from anywhere: ``python data/make_pdfs.py``. Stdlib only, so the sample
corpus needs no PDF library at runtime or build time; the output is byte-for-byte
deterministic (no timestamps), so regenerating leaves git clean.

The PDFs are deliberately minimal (one Helvetica font, uncompressed text
streams) but valid, and pypdf extracts their text line by line.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
WRAP = 82  # characters per line that fit 11 pt Helvetica on a Letter page
LINES_PER_PAGE = 46

VOLCANOES = """\
How Volcanoes Form and Erupt

A volcano is an opening in the crust where molten rock, gas and ash escape to \
the surface. Most volcanoes sit along the edges of tectonic plates. Where an \
oceanic plate dives beneath another plate at a subduction zone, water carried \
down with the sinking slab lowers the melting point of the mantle above it, and \
the buoyant magma that forms rises toward the surface. The Pacific Ring of Fire \
is a chain of such subduction volcanoes.

Other volcanoes grow where plates pull apart, as along the Mid-Atlantic Ridge, \
or above hot spots in the middle of a plate. Hawaii is a hot spot island chain: \
the plate slides over a plume of hot mantle, and each island is older and more \
eroded the farther it has drifted from the plume.

Whether an eruption is gentle or explosive depends mostly on the viscosity and \
gas content of the magma. Runny basalt lets gas escape easily, so it pours out \
as lava fountains and long flows that build broad shield volcanoes. Sticky, \
silica-rich magma traps its gas until the pressure shatters it into ash and \
pumice, producing explosive eruptions and steep stratovolcanoes.

Pyroclastic flows, avalanches of hot gas and rock fragments that race downhill \
at hundreds of kilometres per hour, are the deadliest volcanic hazard. Lahars, \
mudflows of ash and water, can travel far down river valleys long after an \
eruption ends. Volcanologists watch for swarms of small earthquakes, swelling \
of the ground and changes in the gases a volcano releases, all signs that magma \
is moving beneath it.
"""

BUDGETING = """\
A Practical Guide to Household Budgeting

A budget is simply a plan for where your money will go before you spend it. \
Start by writing down your take-home pay for the month, then list every \
regular expense: rent or mortgage, utilities, groceries, transport, insurance, \
loan repayments and subscriptions. Bank statements from the last three months \
are the most honest record of what you really spend.

The 50/30/20 rule is a simple starting point. Roughly half of your income goes \
to needs such as housing and food, thirty percent to wants such as eating out \
and holidays, and twenty percent to savings and paying down debt. Adjust the \
proportions to your situation; the point is to decide on purpose.

Build an emergency fund before anything else. Three to six months of essential \
expenses kept in an easy-access savings account means a broken boiler or a lost \
job does not turn into expensive credit card debt.

\f
Paying Off Debt

When you owe money on several cards or loans, two strategies are popular. The \
avalanche method pays the minimum on everything and puts every spare pound or \
dollar toward the debt with the highest interest rate, which costs the least \
overall. The snowball method clears the smallest balance first, giving quick \
wins that keep people motivated.

Review the budget every month. Irregular costs such as car repairs, birthday \
presents and annual insurance premiums wreck budgets that ignore them, so set \
aside a small amount each month in a sinking fund for each one. Automating \
transfers to savings on payday makes saving the default rather than an \
afterthought.
"""

MARATHON = """\
Training for Your First Marathon

Most first-time marathon plans last sixteen to twenty weeks and assume you can \
already run about thirty minutes without stopping. The backbone of the plan is \
the weekly long run, which grows by one or two miles at a time until it peaks \
at around twenty miles three weeks before race day.

Run most of your miles at an easy, conversational pace. Easy running builds \
the aerobic base, strengthens tendons and ligaments, and lets you recover for \
the harder sessions. Add one quality workout a week, such as tempo runs at a \
comfortably hard effort or intervals on a track.

Increase weekly mileage gradually, by no more than about ten percent a week, \
and schedule a lighter recovery week every third or fourth week. Shin splints, \
runner's knee and Achilles pain usually come from doing too much too soon.

Practise race-day fuelling during long runs: take energy gels or sports drink \
every thirty to forty-five minutes so your stomach learns to cope. Taper for \
the last two to three weeks by cutting mileage while keeping some short, fast \
efforts, and you will arrive at the start line rested and ready.
"""

# (file name, /Title metadata or None to leave it out, text; "\f" starts a page)
PDFS = [
    ("geology/volcanoes.pdf", "How Volcanoes Form and Erupt", VOLCANOES),
    ("finance/household-budgeting.pdf", "A Practical Guide to Household Budgeting", BUDGETING),
    # No /Title: exercises the reader's fall-back to the file name.
    ("sports/marathon-training.pdf", None, MARATHON),
]  # fmt: skip


def pdf_string(text: str) -> bytes:
    """A PDF literal string; the texts are ASCII so WinAnsi covers them."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def page_lines(text: str) -> list[list[str]]:
    """Wrap paragraphs to lines, split into pages at form feeds and when full."""
    pages: list[list[str]] = []
    for chunk in text.split("\f"):
        lines: list[str] = []
        for para in chunk.strip("\n").split("\n\n"):
            lines.extend(textwrap.wrap(" ".join(para.split()), WRAP) or [""])
            lines.append("")
        for start in range(0, len(lines), LINES_PER_PAGE):
            pages.append(lines[start : start + LINES_PER_PAGE])
    return pages


def content_stream(lines: list[str]) -> bytes:
    ops = [b"BT", b"/F1 11 Tf", b"14 TL", b"72 740 Td"]
    for line in lines:
        ops.append(pdf_string(line) + b" Tj T*" if line else b"T*")
    ops.append(b"ET")
    return b"\n".join(ops)


def build_pdf(title: str | None, text: str) -> bytes:
    pages = page_lines(text)
    n = len(pages)
    # Object numbers: 1 catalog, 2 page tree, 3 font, 4 info, then page/content pairs.
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (5 + 2 * i) for i in range(n)) + b"] /Count %d >>" % n,
        (b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
        b"<< /Producer (docsearch data/make_pdfs.py)" + (b" /Title " + pdf_string(title) if title else b"") + b" >>",
    ]
    for i, lines in enumerate(pages):
        stream = content_stream(lines)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (6 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return assemble(objects)


def assemble(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def main() -> None:
    for name, title, text in PDFS:
        path = CORPUS / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(build_pdf(title, text))
        print(f"wrote {path.relative_to(CORPUS.parent.parent)}")


if __name__ == "__main__":
    main()
