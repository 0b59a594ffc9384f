"""The loop with the real model (all-MiniLM-L6-v2) through the real command line: a session's
judgements train, win on held-out judgements and are applied, and a rollback restores the previous
model's results; the same judgements with every label flipped are refused with the numbers.

The corpus is 20 topics, each with an explanation and a release note that repeats the question
word for word; the person wants the explanation. Short texts keep the training to minutes on a CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from common import TOPICS, judge, make_index

from docsearch import Settings
from docsearch.meta import read_meta

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
JUDGED = TOPICS[:14]
UNJUDGED = TOPICS[14:]


def docsearch(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "DOCSEARCH_HOME": str(settings.home), "DOCSEARCH_DEVICE": "cpu", "COLUMNS": "160"}
    done = subprocess.run([sys.executable, "-m", "docsearch", *args], env=env, capture_output=True, text=True,
                          timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def top(settings: Settings, topic: str) -> list[str]:
    done = docsearch(settings, "search", f"how do {topic} work", "--index", settings.index, "--json", "-k", "3")
    return [r["doc"] for r in json.loads(done.stdout)["results"]]


@pytest.fixture
def index(tmp_path: Path) -> Settings:
    return make_index(tmp_path, "all-MiniLM-L6-v2", long=True, backend="torch")


def test_a_sessions_judgements_train_apply_and_roll_back(tmp_path: Path) -> None:
    """The explanations do not quote the question, so the model in use ranks the release notes first:
    room for the person's judgements to teach it something."""
    index = make_index(tmp_path, "all-MiniLM-L6-v2", long=True, backend="torch", unquoted=True)
    judge(index, JUDGED, k=5)
    before = {t: top(index, t) for t in UNJUDGED}
    done = docsearch(index, "train", "--index", index.index, "--apply", "--json")
    answer = json.loads(done.stdout)
    learn, applied = answer["learn"], answer["apply"]
    assert learn["accepted"], learn
    assert learn["after"]["ndcg@10"] > learn["before"]["ndcg@10"] and learn["held_out"] == len(JUDGED)
    assert applied["embedded"] == 40 and applied["previous"] == "all-MiniLM-L6-v2"
    meta = read_meta(index.index_dir)
    assert meta.lineage and meta.lineage[-1].judgements == learn["judgements"]
    after = {t: top(index, t) for t in UNJUDGED}
    wins = sum(after[t][0] == f"guides/{t}.md" for t in UNJUDGED) - sum(before[t][0] == f"guides/{t}.md" for t in UNJUDGED)
    assert wins >= 0  # topics nobody judged rank the explanation first at least as often as before
    info = docsearch(index, "info", "--index", index.index).stdout
    assert "learned" in info and "rollback to" in info
    docsearch(index, "index", "--index", index.index, "--rollback")
    assert read_meta(index.index_dir).model == "all-MiniLM-L6-v2"
    assert {t: top(index, t) for t in UNJUDGED} == before  # the previous model's results, exactly


def test_misleading_judgements_are_refused_with_the_numbers(index: Settings) -> None:
    """The same searches judged with every label flipped: the explanation the person asked about is
    'not relevant', everything else is. The guard keeps the model in use and says why."""
    judge(index, JUDGED, k=5, flip=True)
    meta = read_meta(index.index_dir)
    done = docsearch(index, "train", "--index", index.index, "--apply")
    assert "kept the model in use" in done.stdout and "nothing changed" in done.stdout
    assert "nDCG@10" in done.stdout and "MRR@10" in done.stdout and "held-out judgements" in done.stdout
    assert read_meta(index.index_dir) == meta and not (index.index_dir / "index.prev.json").exists()
    logged = json.loads((index.index_dir / "learn.jsonl").read_text().splitlines()[-1])
    assert not logged["accepted"] and logged["before"] and logged["after"]
