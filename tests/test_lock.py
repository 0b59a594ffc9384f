"""One writer per index: the lock file, its refusal line, --wait, and locks of killed processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from docsearch import Index, IndexBusyError, Interrupted, Settings
from docsearch.lock import LOCK_FILE, WriterLock
from docsearch.settings import load_settings

HOLD = """
import sys, time
from pathlib import Path
from docsearch.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]))
lock.acquire(command="docsearch index docs/ (test holder)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(index_dir: Path, seconds: float = 60) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(index_dir), str(seconds)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_is_refused_in_one_line_naming_the_holder(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, index="notes")
    proc = _holder(settings.index_dir)
    try:
        with pytest.raises(IndexBusyError) as caught:
            Index.open_or_create(settings)
        message = str(caught.value)
        assert "\n" not in message
        assert "'notes'" in message and f"pid {proc.pid}" in message and "(test holder)" in message
        assert re.search(r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", message) and "--wait" in message
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_killed_writer_does_not_block(tmp_path: Path) -> None:
    index_dir = tmp_path / "t"
    proc = _holder(index_dir)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    record = json.loads((index_dir / LOCK_FILE).read_text())
    assert record["pid"] == proc.pid  # the file is still there, saying who had it
    lock = WriterLock(index_dir)
    assert lock.holder() is None
    assert lock.try_acquire("me")
    assert json.loads((index_dir / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()


@pytest.mark.slow
def test_wait_waits_for_the_writer_to_finish(tmp_path: Path) -> None:
    index_dir = tmp_path / "t"
    proc = _holder(index_dir, seconds=1.0)
    told = []
    t0 = time.monotonic()
    lock = WriterLock(index_dir)
    lock.acquire(wait=True, on_wait=told.append)
    try:
        assert time.monotonic() - t0 > 0.3
        assert len(told) == 1 and told[0] is not None and told[0].pid == proc.pid
    finally:
        lock.release()
        proc.wait()


def test_a_wait_ends_when_asked_to_stop(tmp_path: Path) -> None:
    index_dir = tmp_path / "t"
    proc = _holder(index_dir)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    try:
        with pytest.raises(Interrupted):
            WriterLock(index_dir).acquire(wait=True, stop=stop)
    finally:
        proc.kill()
        proc.wait()


def test_one_process_cannot_take_its_own_lock_twice(tmp_path: Path) -> None:
    first, second = WriterLock(tmp_path / "t"), WriterLock(tmp_path / "t")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert second.holder() is not None
    first.release()
    assert second.try_acquire()
    second.release()


def test_wait_is_a_setting() -> None:
    assert load_settings({"DOCSEARCH_WAIT": "1"}).wait is True
    assert load_settings({"DOCSEARCH_WAIT": "false"}).wait is False
