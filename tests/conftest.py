from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "datasets" / "scifact"


@pytest.fixture(scope="session")
def encoder():
    from docsearch.encoders import load_encoder

    return load_encoder("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private index home, also set in the environment for CLI subprocesses."""
    path = tmp_path / "indexes"
    monkeypatch.setenv("DOCSEARCH_HOME", str(path))
    yield path


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
