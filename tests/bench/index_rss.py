"""Peak memory of indexing files, the model left out: ``update_index`` with the fake encoder of
``tests/fakes.py``, so what is measured is reading, chunking and storing. Run it under
``/usr/bin/time -v`` for the peak RSS.

    /usr/bin/time -v python tests/bench/index_rss.py FOLDER --home H
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import FakeEncoder

from docsearch import Index, Settings, update_index


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--home", required=True)
    args = parser.parse_args()
    settings = Settings(home=Path(args.home), index="rss")
    t0 = time.time()
    with Index.open_or_create(settings) as index:
        report = update_index(index, [args.folder], encoder=FakeEncoder())
    print(f"chunks {report.chunks}, skipped {len(report.skipped)}, {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
