"""Plain helpers the tests import (conftest.py holds fixtures only: several folders have one)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docsearch.model import ModelDir

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "datasets" / "scifact"


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def make_pdfs_module():  # type: ignore[no-untyped-def]
    """data/make_pdfs.py, loaded by path: it is a script, not part of the package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_pdfs", REPO / "data" / "make_pdfs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def encrypted_pdf(text: str, user_password: str = "", algorithm: str = "AES-256") -> bytes:
    """A one-page PDF holding ``text``, encrypted by pypdf's own writer."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(make_pdfs_module().build_pdf("Encrypted", text)))
    writer.encrypt(user_password=user_password, owner_password="x", algorithm=algorithm)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def gz(text: str | bytes) -> bytes:
    import gzip

    return gzip.compress(text.encode("utf-8") if isinstance(text, str) else text, mtime=0)


# A folder with one of every kind of input the index summary must account for (issue #14):
# name -> content, and what becomes of it.
MIXED: dict[str, str | bytes] = {
    "README": "SSH client\n==========\n\nConfigure the ssh client in ~/.ssh/config: Host, User, IdentityFile.\n",
    "changelog.Debian.gz": gz("openssh (1:9.2p1-2) unstable; urgency=medium\n\n  * Fix the ssh-agent socket path.\n"),
    "records.jsonl": (
        '{"_id": "r1", "title": "Kites", "text": "A kite flies when wind pushes its sail."}\n'
        '{"_id": "r2", "text": "broken\n'
        '["an", "array"]\n'
        '{"_id": "r3", "text": null}\n'
        '{"_id": "r4", "text": "Gliders ride rising air."}\n'
    ),
    "ragged.csv": (
        "id,title,text\n"
        "1,Bees,Bees dance to show where flowers are.\n"
        "2,Ants,Ants follow scent trails,and this row has a field too many\n"
        '3,Moths,"Moths steer by the moon\n'
        "4,Wasps,Wasps build paper nests.\n"
    ),
    "page.html": (
        '<html><head><meta charset="iso-8859-1"><title>Caf\xe9 cr\xe8me</title></head>'
        "<body><p>Le caf\xe9 est tr\xe8s bon.</p></body></html>"
    ).encode("latin-1"),
    "image.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
    ".hidden.md": "# Hidden\n\nnot indexed\n",
}


def write_mixed(root: Path) -> Path:
    """MIXED plus an AES-encrypted PDF that opens without a password, in ``root``."""
    write_files(root, MIXED)
    (root / "manual.pdf").write_bytes(encrypted_pdf("Rotate the ssh host keys every year."))
    return root


def fake_model(root: Path, router: bool = False, pooling: str = "mean") -> ModelDir:
    """A sentence-transformers folder as ModelDir reads it, with no real weights (backend choice tests)."""
    import json

    from docsearch.model import ModelDir

    root.mkdir(parents=True)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if router:
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Router"}]
    (root / "modules.json").write_text(json.dumps(modules))
    (root / "1_Pooling").mkdir()
    (root / "1_Pooling" / "config.json").write_text(json.dumps({f"pooling_mode_{pooling}_tokens": True,
                                                                "word_embedding_dimension": 8}))
    (root / "model.safetensors").write_bytes(root.name.encode())
    return ModelDir.resolve(root)
