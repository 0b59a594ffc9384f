"""What `docsearch index` would make of a folder, without embedding anything (issue #14).

Walks the folder as the indexer does, reads every source it finds, and prints where each path
went: indexed (and how many of those only partly), skipped for a reason (grouped by reason), or
passed over by rule (with the commonest unsupported suffixes), and that the categories add up to
every path the walk saw. ``--json`` writes the same as one object.

    python tests/bench/ingest_tree.py /usr/share/doc
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter

from docsearch.errors import IngestError
from docsearch.ingest import read_source, walk
from docsearch.types import Excluded, IndexReport, Skipped, Source


def survey(path: str) -> tuple[IndexReport, int]:
    started = time.perf_counter()
    sources, skipped, excluded, partial, walked, documents = [], [], [], [], 0, 0
    for item in walk([path]):
        walked += 1
        if isinstance(item, Excluded):
            excluded.append(item)
        elif isinstance(item, Skipped):
            skipped.append(item)
        else:
            sources.append(item)
    indexed: list[Source] = []
    for src in sources:
        try:
            reading = read_source(src)
        except (IngestError, OSError) as exc:
            skipped.append(Skipped(src.path, str(exc)))
            continue
        indexed.append(src)
        documents += len(reading.documents)
        if reading.partial:
            partial.append(reading.partial)
    report = IndexReport(indexed=len(indexed), documents=documents, seconds=time.perf_counter() - started,
                         skipped=tuple(skipped), excluded=tuple(excluded), partial=tuple(partial), walked=walked,
                         indexed_paths=tuple(s.path for s in indexed))
    return report, len(sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    report, _ = survey(args.path)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return
    print(f"{report.walked} paths seen in {report.seconds:.1f}s (walk and read, no embedding)")
    print(f"  indexed  {report.indexed} files, {report.documents} documents; partly read {len(report.partial)}")
    # Reasons grouped with their numbers and details left out: 'no usable records among N (no id: N)'.
    reasons = Counter(re.sub(r"\d+", "N", s.reason.split(";")[0]) for s in report.skipped)
    print(f"  skipped  {len(report.skipped)}: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()))
    for c in report.rule_counts():
        top = ", ".join(f"{s} {n}" for s, n in c.suffixes[:8])
        print(f"  {c.rule:12} {c.count}" + (f" ({top})" if top else ""))
    print(f"  accounted {report.accounted} of {report.walked}")


if __name__ == "__main__":
    main()
