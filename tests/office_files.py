"""Real files of every office, e-book and mail format, each made by its own library (python-docx,
python-pptx, openpyxl, odfpy, ebooklib, msoffcrypto-tool for an encrypted one; RTF and mail are
text), and broken ones. Shared by tests/ingest/test_office.py, test_mail.py and the CLI test."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def docx_file() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Greenhouse tomatoes", level=0)  # style 'Title'
    document.add_paragraph("Notes from the allotment, kept over three summers.")
    document.add_heading("Watering", level=1)
    document.add_paragraph("Water tomato plants deeply twice a week so that their roots grow down.")
    document.add_heading("Pests", level=1)
    document.add_paragraph("Aphids on the leaves are washed off with a jet of cold water.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Variety", "Days to harvest"), ("Sungold", "57")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    return _saved(document)


def pptx_file() -> bytes:
    from pptx import Presentation

    deck = Presentation()
    layout = deck.slide_layouts[1]  # title and content
    for title, body, notes in (
        ("Quarterly roadmap", "Hiring, budget and the launch schedule.", ""),
        ("Lunar rover launch", "The rover lands in the Sea of Tranquility in March.", "Mention the backup site."),
    ):
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    return _saved(deck)


def xlsx_file() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.properties.title = "Music shop stock"
    sheet = book.active
    sheet.title = "Inventory"
    sheet.append(["Item", "Count", "Shelf"])
    sheet.append(["Violin strings", 40, "B2"])
    sheet.append(["Cello bows", 3.0, "C1"])
    other = book.create_sheet("Suppliers")
    other.append(["Supplier", "Sells"])
    other["A5"] = "Nordic Rosin Works"
    other["B5"] = "rosin for bows and the strings of violins"
    return _saved(book)


def ods_file() -> bytes:
    from odf import dc
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    document.meta.addElement(dc.Title(text="Seabirds"))
    table = Table(name="Birds")
    for row in (("Species", "Wingspan"), ("Albatross", "3.5 m, the longest wingspan of any living bird"),
                ("Puffin", "53 cm")):
        tr = TableRow()
        for value in row:
            cell = TableCell()
            cell.addElement(P(text=value))
            tr.addElement(cell)
        table.addElement(tr)
    document.spreadsheet.addElement(table)
    return _saved(document)


def odt_file() -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Sourdough"))
    document.text.addElement(P(text="Feed the starter with flour and water every day to keep the yeast alive."))
    document.text.addElement(H(outlinelevel=1, text="Baking"))
    document.text.addElement(P(text="Bake the loaf in a covered pot at 250 degrees for the first twenty minutes."))
    return _saved(document)


def epub_file() -> bytes:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("lighthouse-1")
    book.set_title("The Lighthouse Keeper")
    book.set_language("en")
    chapters = []
    for n, (name, text) in enumerate((
        ("The Storm", "Waves crashed against the lighthouse all through the winter storm."),
        ("Calm", "In spring the keeper painted the lamp room a pale green."),
    ), start=1):
        chapter = epub.EpubHtml(title=name, file_name=f"chap_{n}.xhtml", lang="en")
        chapter.content = f"<h1>{name}</h1><p>{text}</p>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    buf = io.BytesIO()
    epub.write_epub(buf, book)
    return buf.getvalue()


def rtf_file() -> bytes:
    return (
        r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Times New Roman;}}"
        r"{\info{\title Chess openings}{\author A. Player}}"
        r"\f0\fs24 The Sicilian Defence answers 1.e4 with c5.\par "
        r"It was analysed in a caf\'e9 in Paris.\par}"
    ).encode("ascii")


def eml_file() -> bytes:
    return (
        b"From: Bike Shop <shop@example.com>\nTo: kim@example.com\nSubject: Invoice for the bicycle repair\n"
        b"Date: Tue, 4 Mar 2025 10:00:00 +0000\nMessage-ID: <inv-1@example.com>\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b1"\n\n'
        b'--b1\nContent-Type: text/plain; charset="utf-8"\n\nThe new brake pads cost 30 euros, fitted.\n'
        b'--b1\nContent-Type: text/plain; name="parts.txt"\nContent-Disposition: attachment; filename="parts.txt"\n\n'
        b"Shimano brake pads, two pairs.\n--b1--\n"
    )


def mbox_file() -> bytes:
    messages = [
        ("ann@example.com", "Hiking trip on Saturday", "<hike-1@example.com>",
         "We climb Mount Rainier from Paradise at dawn.\n>From the top we see three volcanoes."),
        ("bo@example.com", "Re: Hiking trip on Saturday", "<hike-2@example.com>", "Count me in, I bring the rope."),
        ("cy@example.com", "Book club", "", "Next month we read Middlemarch by George Eliot."),
    ]
    out = []
    for sender, subject, mid, body in messages:
        head = f"From: {sender}\nSubject: {subject}\nDate: Sat, 1 Mar 2025 09:00:00 +0000\n"
        head += f"Message-ID: {mid}\n" if mid else ""
        out.append(f"From {sender} Sat Mar  1 09:00:00 2025\n{head}\n{body}\n\n")
    return "".join(out).encode()


def encrypted_docx() -> bytes:
    """A .docx locked with a password by msoffcrypto-tool (as Word does: an encrypted OLE container)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(docx_file())).encrypt("secret", out)
    return out.getvalue()


def encrypted_odt() -> bytes:
    """An .odt as LibreOffice writes one with a password: its manifest lists encryption data and
    content.xml is ciphertext."""
    src = zipfile.ZipFile(io.BytesIO(odt_file()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "META-INF/manifest.xml":
                entry = b'manifest:full-path="content.xml" manifest:media-type="text/xml"'
                assert entry + b"/>" in data
                data = data.replace(entry + b"/>", entry + b'><manifest:encryption-data '
                                    b'manifest:checksum-type="SHA1/1K"/></manifest:file-entry>')
            elif info.filename == "content.xml":
                data = bytes(range(256)) * 4
            out.writestr(info, data)
    return buf.getvalue()


def drm_epub() -> bytes:
    src = zipfile.ZipFile(io.BytesIO(epub_file()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        out.writestr("META-INF/encryption.xml", (
            '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
            'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
            '<enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
            '<enc:CipherData><enc:CipherReference URI="EPUB/chap_1.xhtml"/></enc:CipherData>'
            "</enc:EncryptedData></encryption>"))
    return buf.getvalue()


# name -> a real file of that format
GOOD: dict[str, bytes] = {}


def good_files() -> dict[str, bytes]:
    if not GOOD:
        GOOD.update({"garden.docx": docx_file(), "roadmap.pptx": pptx_file(), "stock.xlsx": xlsx_file(),
                     "birds.ods": ods_file(), "bread.odt": odt_file(), "lighthouse.epub": epub_file(),
                     "chess.rtf": rtf_file(), "invoice.eml": eml_file(), "friends.mbox": mbox_file()})
    return dict(GOOD)


def broken_files() -> dict[str, bytes]:
    """A broken file of each format (a zip cut short, a locked one, text that is no such file)."""
    good = good_files()
    broken = {f"broken{Path(name).suffix}": data[: len(data) // 2] for name, data in good.items()
              if Path(name).suffix not in (".rtf", ".eml", ".mbox")}
    broken.update({
        "broken.rtf": rb"{\rtf1\ansi The text stops in the midd",
        "broken.eml": b"This is a note, not an email message.\nIt has no headers at all.\n",
        "broken.mbox": b"Subject: no From_ line\n\nThis is no mailbox.\n",
        "locked.docx": encrypted_docx(),
        "locked.odt": encrypted_odt(),
    })
    return broken


def _saved(document: object) -> bytes:
    buf = io.BytesIO()
    document.save(buf)  # type: ignore[attr-defined]
    return buf.getvalue()
