"""The conventions every command shares: --version, exit codes in --help, shell completion, and
the one line docsearch mcp says without the MCP SDK. Fast: no model, no index."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import REPO
from typer.testing import CliRunner

import docsearch
from docsearch.cli import app


def test_version_prints_the_package_version() -> None:
    done = CliRunner().invoke(app, ["--version"])
    assert done.exit_code == 0 and done.stdout.strip() == f"docsearch {docsearch.__version__}"


def test_help_documents_exit_codes_and_offers_completion() -> None:
    done = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    text = " ".join(done.stdout.split())
    assert done.exit_code == 0
    assert "0 done; 1 error (one red line on stderr); 2 usage (a bad flag or argument); 130 interrupted" in text
    assert "--install-completion" in text and "--show-completion" in text and "mcp" in text


def test_a_usage_error_exits_2_and_a_library_error_1(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert CliRunner().invoke(app, ["search", "x", "--no-such-flag"]).exit_code == 2
    missing = CliRunner().invoke(app, ["info", "--home", str(tmp_path), "--index", "nope"])
    assert missing.exit_code == 1 and "no index 'nope'" in missing.stderr


def test_completion_completes_commands_and_flags() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "_DOCSEARCH_COMPLETE": "complete_bash"}
    words = {"COMP_WORDS": "docsearch se", "COMP_CWORD": "1"}
    code = "import sys; sys.argv[0] = 'docsearch'; from docsearch.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code], env={**env, **words}, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["search"]
    flags = {"COMP_WORDS": "docsearch index --dry", "COMP_CWORD": "2"}
    done = subprocess.run([sys.executable, "-c", code], env={**env, **flags}, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["--dry-run"]


def test_mcp_without_the_sdk_says_how_to_install_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = ("import sys; sys.modules['mcp'] = None  # as if it were not installed\n"
            "sys.argv = ['docsearch', 'mcp', '--home', sys.argv[1]]\nfrom docsearch.cli import main; main()")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'docsearch[mcp]'" in lines[0]
