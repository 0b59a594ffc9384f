"""Latency of the interactive session as a user feels it: from Enter to the next prompt.

Drives the real program in a pseudo-terminal, as a person would: types a query,
waits until it is on screen, then times from pressing Enter until the results
have been printed and the prompt is back. The first query (which may still wait
for the model) is not counted. Prints p50/p95 of that wall time and of the
per-query milliseconds the session itself reports.

    python tests/bench/interactive_latency.py --home /tmp/scifact_home --index scifact \\
        --queries ../shared/datasets/scifact/queries.jsonl -n 100

The index's history file is put back as it was afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import pexpect

_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[@-Z\\-_=>])")
_FALLBACK = ["what causes type 2 diabetes", "effect of vitamin D on bone density", "how do vaccines trigger immunity",
             "gene expression in cancer cells", "antibiotic resistance mechanisms", "sleep and memory consolidation"]


def load_queries(path: Path | None, n: int) -> list[str]:
    texts = list(_FALLBACK)
    if path is not None:
        with path.open(encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()]
    texts = [" ".join(t.split()) for t in texts if t.strip() and not t.lstrip().startswith(":")]
    return [texts[i % len(texts)] for i in range(n + 1)]  # +1: the first is a warm-up


class Screen:
    """A child on a pty and its output with escape codes removed."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.child = pexpect.spawn(argv[0], argv[1:], env=env, dimensions=(50, 120), encoding="utf-8",
                                   codec_errors="replace", timeout=300)
        self.child.delaybeforesend = None  # pexpect sleeps 50 ms before each send by default: not ours to time
        self.raw = ""

    def reset(self) -> None:
        self.raw = ""

    def wait(self, pattern: re.Pattern[str], timeout: float = 300, flat: bool = False) -> re.Match[str]:
        """The first match in the output so far; ``flat`` matches across the terminal's line wraps."""
        deadline = time.perf_counter() + timeout
        while True:
            text = _ANSI.sub("", self.raw).replace("\r", "")
            found = pattern.search(text.replace("\n", "") if flat else text)
            if found:
                return found
            if time.perf_counter() > deadline:
                raise TimeoutError(f"never saw {pattern.pattern!r}; screen tail: {self.raw[-2000:]!r}")
            try:
                chunk = self.child.read_nonblocking(65536, timeout=0.05)
            except pexpect.TIMEOUT:
                continue
            self.raw += chunk
            for _ in range(chunk.count("\x1b[6n")):  # answer cursor-position requests, as a terminal does
                self.child.send("\x1b[50;1R")


def time_query(screen: Screen, query: str, prompt: str, pause: float = 0.0) -> tuple[float, float]:
    """(ms from Enter to the next prompt, ms the session reported) for one query.

    ``pause``: seconds between the query being on screen and Enter, as a person takes; the session
    encodes the line during such a pause, so 0 measures the worst case.
    """
    screen.reset()
    screen.child.send(query)
    # typed and echoed (typing is not what we time); a space where the line wrapped is gone from the flattened screen
    screen.wait(re.compile(r"\s*".join(re.escape(w) for w in query[-12:].split(" "))), flat=True)
    time.sleep(pause)
    screen.reset()
    started = time.perf_counter()
    screen.child.send("\r")
    done = screen.wait(re.compile(r"(?:results [^\n]*?([\d.]+) ms|no results)[^\n]*\n.*?" + re.escape(prompt), re.S))
    wall = (time.perf_counter() - started) * 1000
    return wall, float(done[1]) if done[1] else float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--queries", type=Path, help="BEIR queries.jsonl (default: a few built-in queries)")
    ap.add_argument("-n", type=int, default=100, help="queries to time (after one warm-up)")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--mode", default="dense")
    ap.add_argument("--pause", type=float, default=0.0,
                    help="seconds between typing a query and Enter (0: Enter at once, the worst case)")
    args = ap.parse_args()

    history = Path(args.home) / args.index / "history"
    saved = history.read_bytes() if history.exists() else None
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "PROMPT_TOOLKIT_NO_CPR")}
    env.update(TERM="xterm-256color", HF_HUB_OFFLINE="1")
    exe = str(Path(sys.executable).with_name("docsearch"))
    argv = [exe, "search", "-I", "--index", args.index, "--home", args.home, "-k", str(args.k), "--mode", args.mode]
    prompt = f"{args.index} {args.mode}>"
    queries = load_queries(args.queries, args.n)
    try:
        started = time.perf_counter()
        screen = Screen(argv, env)
        screen.wait(re.compile(re.escape(prompt)))
        ready = time.perf_counter() - started
        first, _ = time_query(screen, queries[0], prompt)
        timings = [time_query(screen, q, prompt, args.pause) for q in queries[1:]]
        screen.child.sendcontrol("d")
        screen.child.expect(pexpect.EOF)
    finally:
        if saved is None:
            history.unlink(missing_ok=True)
        else:
            history.write_bytes(saved)
    wall, reported = [w for w, _ in timings], [r for _, r in timings]
    print(f"index {args.index} ({args.mode}, k={args.k}), {len(timings)} queries, {args.pause:g} s before Enter; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"prompt after {ready * 1000:.0f} ms; first query {first:.0f} ms (model loading in the background)")
    for name, values in (("Enter -> next prompt", wall), ("session-reported", reported)):
        print(f"{name:>22}: p50 {percentile(values, 0.5):6.1f} ms  p95 {percentile(values, 0.95):6.1f} ms  "
              f"mean {statistics.fmean(values):6.1f} ms  max {max(values):6.1f} ms")


if __name__ == "__main__":
    main()
