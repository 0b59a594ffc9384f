"""Time from Ctrl-C to exit of a real `docsearch index` run.

Starts the CLI in its own process group (as a terminal does), sends SIGINT to the group after
``--after`` seconds (``--twice``: again 0.5 s later), and reports the exit code, the seconds from
the first SIGINT to exit, and what it printed.

    python tests/bench/ctrl_c.py DOCS --home H [--after 40] [--twice]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("docs")
    parser.add_argument("--home", required=True)
    parser.add_argument("--after", type=float, default=40.0)
    parser.add_argument("--twice", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "DOCSEARCH_HOME": args.home}
    proc = subprocess.Popen([sys.executable, "-m", "docsearch", "index", args.docs], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, text=True)
    time.sleep(args.after)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    if args.twice:
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    print(json.dumps({"exit": proc.returncode, "seconds_to_exit": round(time.monotonic() - t0, 2),
                      "stdout": out[-500:], "stderr": err[-1500:]}, indent=1))


if __name__ == "__main__":
    main()
