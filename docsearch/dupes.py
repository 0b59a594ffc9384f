"""Groups of duplicate documents: exact copies (the same text, by hash; free) and near-duplicates
(document similarity at or above a threshold, candidates from batched Qdrant queries), joined by
union-find, largest groups first. Also the small grouping behind collapsed search results.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .index import Index
from .similar import AGGREGATION, DocChunks, candidates, load_docs, scored

NEIGHBOURS = 16  # chunks each document's query fetches beyond its own: room for a dozen copies
# A near-copy is about the nearest point there is, so a narrow graph search finds it: at 100k
# chunks, width 64 and 16 neighbours took a quarter of the time of search's 256 and 32
# (tests/bench/dupes.py scale).
DUPES_EF = 64
PAIR_BLOCK = 32_768  # candidate pairs scored per vectorised product


@dataclass(frozen=True)
class Member:
    doc: str
    path: str
    title: str
    score: float  # similarity to the group's first member (1.0 for the first and its exact copies)
    exact: bool  # the same text as another member


@dataclass(frozen=True)
class DupeGroup:
    members: tuple[Member, ...]

    @property
    def kind(self) -> str:
        """``exact`` when every member has the first one's text, else ``near``."""
        return "exact" if all(m.score == 1.0 and m.exact for m in self.members) else "near"


@dataclass(frozen=True)
class DupeReport:
    groups: tuple[DupeGroup, ...]
    documents: int  # documents looked at
    threshold: float
    seconds: float

    @property
    def duplicates(self) -> int:
        """Documents that are a copy of another: each group's members but its first."""
        return sum(len(g.members) - 1 for g in self.groups)

    def pairs(self) -> set[frozenset[str]]:
        """Every pair of documents put in one group."""
        out: set[frozenset[str]] = set()
        for g in self.groups:
            docs = [m.doc for m in g.members]
            out.update(frozenset((a, b)) for i, a in enumerate(docs) for b in docs[i + 1:])
        return out


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self, items: Iterable[str]) -> list[list[str]]:
        by_root: dict[str, list[str]] = {}
        for x in items:
            by_root.setdefault(self.find(x), []).append(x)
        return [g for g in by_root.values() if len(g) > 1]


def find_dupes(index: Index, threshold: float, aggregation: str = AGGREGATION,
               docs: Mapping[str, DocChunks] | None = None) -> DupeReport:
    """Every group of two or more documents of ``index`` that are copies or near-copies."""
    started = time.perf_counter()
    known = dict(docs) if docs is not None else load_docs(index)
    uf = _UnionFind()
    by_digest: dict[str, str] = {}
    for doc in sorted(known):  # exact copies: one representative per text
        rep = by_digest.setdefault(known[doc].digest, doc)
        if rep != doc:
            uf.union(rep, doc)
    reps = [known[d] for d in by_digest.values()]
    pools = candidates(index, reps, NEIGHBOURS, DUPES_EF)
    if aggregation == "mean":
        _join_by_means(uf, known, reps, pools, threshold)
    else:
        for target, pool in zip(reps, pools, strict=True):
            for doc, score in scored(target, pool, known, aggregation):
                if score < threshold:
                    break
                uf.union(target.doc, doc)
    groups = [_group(sorted(g), known, aggregation) for g in uf.groups(known)]
    groups.sort(key=lambda g: (-len(g.members), g.kind != "exact", g.members[0].doc))
    return DupeReport(tuple(groups), len(known), threshold, time.perf_counter() - started)


def _join_by_means(uf: _UnionFind, known: Mapping[str, DocChunks], reps: Sequence[DocChunks],
                   pools: Sequence[Sequence[str]], threshold: float) -> None:
    """Score every (document, candidate) pair in one vectorised product of their mean vectors."""
    names = list(known)
    at = {d: i for i, d in enumerate(names)}
    means = np.stack([known[d].mean for d in names])
    pairs = np.array([(at[t.doc], at[d]) for t, pool in zip(reps, pools, strict=True) for d in pool if d in at],
                     dtype=np.int64).reshape(-1, 2)
    for start in range(0, len(pairs), PAIR_BLOCK):  # blocks: gathering 1M pairs' rows at once would take GBs
        block = pairs[start:start + PAIR_BLOCK]
        sims = np.einsum("ij,ij->i", means[block[:, 0]], means[block[:, 1]])
        for i, j in block[sims >= threshold]:
            uf.union(names[i], names[j])


def _group(docs: list[str], known: Mapping[str, DocChunks], aggregation: str) -> DupeGroup:
    """Members ordered by their exact-copy families, largest first: the first member is a text the
    group holds most copies of, and each member's score is its similarity to that one."""
    from collections import Counter

    from .similar import similarity

    copies = Counter(known[d].digest for d in docs)
    docs = sorted(docs, key=lambda d: (-copies[known[d].digest], known[d].digest, d))
    first = known[docs[0]]
    members = []
    for d in docs:
        other = known[d]
        exact = copies[other.digest] > 1
        score = 1.0 if other.digest == first.digest else similarity(first, other, aggregation)
        members.append(Member(d, other.path, other.title, score, exact))
    return DupeGroup(tuple(members))


def leaders(docs: Sequence[str], known: Mapping[str, DocChunks], threshold: float) -> dict[str, str]:
    """For ranked result documents, each one's group leader: the best-ranked document it is a copy
    or near-copy of (itself when none). The few documents of a result page are compared all
    against all, by their mean vectors, in one matrix product."""
    present = [d for d in docs if d in known]
    if len(present) < 2:
        return {d: d for d in docs}
    means = np.stack([known[d].mean for d in present])
    sims = means @ means.T
    uf = _UnionFind()
    digests: dict[str, str] = {}
    for i, d in enumerate(present):
        first = digests.setdefault(known[d].digest, d)
        if first != d:
            uf.union(first, d)
        for j in np.nonzero(sims[i, :i] >= threshold)[0]:
            uf.union(present[int(j)], d)
    rank = {d: i for i, d in enumerate(docs)}
    best: dict[str, str] = {}
    for d in docs:  # the union-find root is the smallest id; the leader is the best-ranked member
        root = uf.find(d)
        if root not in best or rank[d] < rank[best[root]]:
            best[root] = d
    return {d: best[uf.find(d)] for d in docs}
