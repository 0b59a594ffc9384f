"""Faults as a user meets them, with real subprocesses of the real CLI (the fake encoder in place of
the model, slowed to a model's pace where timing matters): searches during an index run, two
writers, Ctrl-C, a full disk, an unreachable server."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from helpers import REPO, write_files

FAKE_CLI = REPO / "tests" / "fake_cli.py"


def env_for(home: Path, delay: float = 0.0, **extra: str) -> dict[str, str]:
    return {**os.environ, "DOCSEARCH_HOME": str(home), "FAKE_ENCODE_DELAY": str(delay), "COLUMNS": "200",
            "PYTHONPATH": str(REPO), **extra}


def ds(*args: str, home: Path, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(FAKE_CLI), *args], env=env_for(home, **extra), capture_output=True,
                          text=True, timeout=timeout)


def start(*args: str, home: Path, delay: float, **extra: str) -> subprocess.Popen[str]:
    """A CLI run in its own process group, as a terminal runs it (Ctrl-C reaches the whole group)."""
    return subprocess.Popen([sys.executable, str(FAKE_CLI), *args], env=env_for(home, delay, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def corpus(root: Path, n: int, word: str) -> Path:
    return write_files(root, {f"{word}/{i:03}.md": f"# {word} {i}\n\nThe {word} note number {i} is about {word}s "
                                                   f"and item {i}.\n" for i in range(n)})


def done_sources(home: Path, index: str = "t") -> int:
    try:
        with closing(sqlite3.connect(home / index / "manifest.sqlite")) as db:
            return int(db.execute("SELECT COUNT(*) FROM sources WHERE state = 'done'").fetchone()[0])
    except sqlite3.Error:
        return 0


def wait_for(predicate: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


# --- one writer, readers meanwhile ---------------------------------------------------------------------


@pytest.mark.slow
def test_search_and_info_answer_during_an_index_run_and_see_its_data_once_committed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = ds("index", str(corpus(tmp_path / "a", 10, "alpha")), "--index", "t", home=home)
    assert first.returncode == 0, first.stderr
    # 120 files in batches of 4, 0.4 s each: the writer runs about 12 s, room for two CLI starts on a loaded machine.
    writer = start("index", str(corpus(tmp_path / "b", 120, "zebra")), "--index", "t", "--quiet", home=home,
                   delay=0.4, DOCSEARCH_INDEX_BATCH="4")
    try:
        wait_for(lambda: done_sources(home) > 10)
        t0 = time.monotonic()
        info = ds("info", "--index", "t", home=home)
        found = ds("search", "alpha", "--index", "t", "--json", "--no-collapse", "-k", "3", home=home)
        assert time.monotonic() - t0 < 30 and writer.poll() is None, "the readers waited for the writer"
        assert info.returncode == 0, info.stderr
        assert "being written" in info.stdout and f"pid {writer.pid}" in info.stdout
        assert found.returncode == 0, found.stderr
        assert [r["path"].split("/")[0] for r in json.loads(found.stdout)["results"]] == ["alpha"] * 3
    finally:
        code, _, err = finish(writer)
    assert code == 0, err
    after = ds("search", "zebra", "--index", "t", "--json", "--no-collapse", "-k", "120", home=home)
    assert after.returncode == 0, after.stderr
    assert {r["path"] for r in json.loads(after.stdout)["results"]} == {f"zebra/{i:03}.md" for i in range(120)}


@pytest.mark.slow
def test_a_second_writer_is_refused_in_one_line_or_waits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docs = corpus(tmp_path / "docs", 120, "kiwi")  # about 9 s of writing: both later writers meet it mid-run
    writer = start("index", str(docs), "--index", "t", "--quiet", home=home, delay=0.3, DOCSEARCH_INDEX_BATCH="4")
    try:
        wait_for(lambda: (home / "t" / "writer.lock").exists() and done_sources(home) > 0)
        refused = ds("index", str(docs), "--index", "t", home=home)
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert f"index 't' is being written by pid {writer.pid}" in lines[0] and "since" in lines[0]
        waited = ds("index", str(docs), "--index", "t", "--wait", home=home)
        assert waited.returncode == 0, waited.stderr
        # The waiter went only once the first writer released the lock (the writer's process may
        # still be exiting on a loaded machine, so wait for its exit code rather than poll it).
        assert writer.wait(timeout=60) == 0
        assert "waiting: index 't' is being written by" in waited.stderr
    finally:
        finish(writer)


# --- Ctrl-C ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("presses", [1, 2])
@pytest.mark.slow
def test_ctrl_c_stops_within_a_second_or_two_and_a_rerun_completes(tmp_path: Path, presses: int) -> None:
    home = tmp_path / "home"
    docs = corpus(tmp_path / "docs", 60, "fig")
    # Two seconds per forward pass: a stop that waited for the encoder would show.
    writer = start("index", str(docs), "--index", "t", home=home, delay=2.0, DOCSEARCH_INDEX_BATCH="8")
    wait_for(lambda: done_sources(home) >= 8)
    t0 = time.monotonic()
    for _ in range(presses):
        os.killpg(writer.pid, signal.SIGINT)
        time.sleep(0.2)
    code, _, err = finish(writer)
    took = time.monotonic() - t0
    assert code == 130, err
    assert took < 3.0, f"Ctrl-C took {took:.1f} s"
    assert "stopping: finishing the batch being stored…" in err
    assert "interrupted: stopped after storing" in err and "run the same command again" in err
    assert "Traceback" not in err and "terminate" not in err
    partial = done_sources(home)
    assert 8 <= partial < 60
    info = ds("info", "--index", "t", home=home)
    assert info.returncode == 0, info.stderr
    rerun = ds("index", str(docs), "--index", "t", "--quiet", home=home)
    assert rerun.returncode == 0, rerun.stderr
    assert done_sources(home) == 60
    found = ds("search", "fig", "--index", "t", "--json", "--no-collapse", "-k", "60", home=home)
    assert len({r["path"] for r in json.loads(found.stdout)["results"]}) == 60  # no source lost, none twice


# --- a full disk ---------------------------------------------------------------------------------------


@pytest.fixture(params=["tmpfs", "ext4"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A small file system of its own: a tmpfs (where even reading a hole of a memory map takes a
    page), or ext4 in a loop-mounted image (a disk); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if request.param == "tmpfs":
        command = ["mount", "-t", "tmpfs", "-o", "size=320m", "tmpfs", str(mount)]
    else:
        image = tmp_path / "disk.img"
        with open(image, "wb") as fh:
            fh.truncate(320 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True)
        command = ["mount", "-o", "loop", str(image), str(mount)]
    done = subprocess.run(command, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a {request.param} here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mount)], capture_output=True).returncode == 0:
                break
            time.sleep(0.25)
        else:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave: int) -> Path:
    """A file taking all but ``leave`` bytes of the file system."""
    filler = mount / "filler"
    st = os.statvfs(mount)
    with open(filler, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, max(0, st.f_bavail * st.f_frsize - leave))
    return filler


@pytest.mark.slow
def test_a_full_disk_is_one_line_never_a_bus_error_and_the_index_stays_openable(tmp_path: Path,
                                                                                small_disk: Path) -> None:
    home = small_disk / "home"
    small = ds("index", str(corpus(tmp_path / "a", 10, "plum")), "--index", "t", home=home)
    assert small.returncode == 0, small.stderr
    # Room for what opening the index takes (on tmpfs: its dense vectors and keyword indexes whole), not for 15k chunks.
    filler = fill(small_disk, 100 << 20)
    words = " ".join(f"word{i}" for i in range(400))
    big = write_files(tmp_path / "big", {f"pear/{i:04}.txt": f"pear {i}. {words}\n" for i in range(3000)})
    full = ds("index", str(big), "--index", "t", home=home, timeout=300)
    assert full.returncode == 1, (full.returncode, full.stderr[-2000:])  # not -7 / 135: no SIGBUS
    message = " ".join(full.stderr.split())
    assert message.startswith("error: disk full:") and "needs about" in message and "MB are" in message, message
    assert "Traceback" not in full.stderr
    info = ds("info", "--index", "t", home=home)
    assert info.returncode == 0, info.stderr
    found = ds("search", "plum", "--index", "t", "--json", "--no-collapse", home=home)
    assert found.returncode == 0 and json.loads(found.stdout)["results"], found.stderr
    filler.unlink()
    rerun = ds("index", str(big), "--index", "t", "--quiet", home=home, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert done_sources(home) == 3010
    pears = ds("search", "pear", "--index", "t", "--json", "--no-collapse", "-k", "5", "--path", "pear/*", home=home)
    assert len(json.loads(pears.stdout)["results"]) == 5


# --- an unreachable server -----------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_an_unreachable_server_is_one_line_in_seconds_without_warnings(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    t0 = time.monotonic()
    done = ds("index", str(corpus(tmp_path / "a", 2, "lime")), "--index", "t", "--qdrant-url", url, home=tmp_path,
              PYTHONWARNINGS="default")
    assert time.monotonic() - t0 < 20  # a process start with its imports, and a refused connection
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: cannot reach Qdrant at {url}: [Errno 111] Connection refused"]


# --- with the real model, and memory ---------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_stops_a_real_index_run_within_seconds(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docs = corpus(tmp_path / "docs", 150, "quince")
    env = {**os.environ, "DOCSEARCH_HOME": str(home), "DOCSEARCH_INDEX_BATCH": "16"}
    writer = subprocess.Popen([sys.executable, "-m", "docsearch", "index", str(docs), "--index", "t"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: done_sources(home) >= 16, seconds=300)
    t0 = time.monotonic()
    os.killpg(writer.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(writer.pid, signal.SIGINT)
    code, _, err = finish(writer)
    took = time.monotonic() - t0
    assert code == 130 and "terminate" not in err and "Traceback" not in err, err
    assert took < 5.0, f"Ctrl-C took {took:.1f} s"
    rerun = subprocess.run([sys.executable, "-m", "docsearch", "index", str(docs), "--index", "t", "--quiet"],
                           env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert done_sources(home) == 150


@pytest.mark.slow
def test_a_5_mb_single_line_file_is_indexed_in_bounded_memory(tmp_path: Path) -> None:
    if not Path("/usr/bin/time").exists():
        pytest.skip("no /usr/bin/time")
    words = ["tomato", "bread", "river", "stone", "garden", "light", "mirror", "water", "flour", "sky"]
    line = " ".join(words[(i * 7 + i // 3) % len(words)] + ("." if i % 17 == 0 else "") for i in range(900_000))
    root = write_files(tmp_path / "docs", {"one-line.txt": line[: 5 << 20]})
    peak = tmp_path / "peak"
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(peak), sys.executable, str(FAKE_CLI), "index",
                           str(root), "--index", "t", "--quiet"], env=env_for(tmp_path / "home"), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rss_mib = int(peak.read_text().split()[-1]) / 1024
    assert rss_mib < 500, f"peak RSS {rss_mib:.0f} MiB"  # 1.4 GB before chunking went window by window
