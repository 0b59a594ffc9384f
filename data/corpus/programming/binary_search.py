"""Binary search over a sorted list.

Binary search finds an item in a sorted sequence by repeatedly halving the
range that could contain it: compare with the middle element, then keep only
the left or the right half. It needs at most about log2(n) comparisons, so a
million items take about twenty steps, where a linear scan could take a
million.

The classic bugs are off-by-one errors in the bounds and, in languages with
fixed-width integers, overflow when computing the midpoint as (lo + hi) / 2.
Using a half-open range [lo, hi) and lo + (hi - lo) // 2 avoids both.
"""

from __future__ import annotations

from collections.abc import Sequence


def lower_bound(items: Sequence[int], target: int) -> int:
    """Index of the first element >= target (len(items) if there is none)."""
    lo, hi = 0, len(items)
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


def contains(items: Sequence[int], target: int) -> bool:
    """True when target occurs in the sorted sequence."""
    i = lower_bound(items, target)
    return i < len(items) and items[i] == target


if __name__ == "__main__":
    data = [2, 3, 5, 7, 11, 13, 17, 19]
    print(lower_bound(data, 10), contains(data, 13), contains(data, 4))
