"""Searching an SR content tree within bounds.

A hostile or broken file may nest items thousands deep or hold millions of them;
every search here goes breadth-first with a depth limit and shares one budget of
visited items per file, so that reading stops (and says so) instead of exhausting
the stack or the clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterator
from typing import Any

from hub.rdsr.codes import Code
from hub.rdsr.values import concept, items

#: Deeper than any template nests (TID 10001 is four levels at most, vendors add two).
MAX_DEPTH = 12
#: Far above a real report (a long biplane procedure holds some 50,000 items).
MAX_ITEMS = 500_000


class Budget:
    """The items one file may still have visited; ``exhausted`` once it ran out."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_ITEMS if limit is None else limit
        self.left = self.limit
        self.exhausted = False

    def take(self) -> bool:
        if self.left <= 0:
            self.exhausted = True
            return False
        self.left -= 1
        return True


def descendants(node: Any, budget: Budget, skip: Collection[Code] = (),
                depth: int = MAX_DEPTH) -> Iterator[Any]:
    """Every item under ``node``, breadth-first, not entering containers in ``skip``."""
    queue: deque[tuple[Any, int]] = deque((child, 1) for child in items(node))
    while queue:
        item, level = queue.popleft()
        if not budget.take():
            return
        yield item
        if level < depth and concept(item) not in skip:
            queue.extend((child, level + 1) for child in items(item))


def index(nodes: list[Any], budget: Budget, skip: Collection[Code] = ()) -> dict[Code, list[Any]]:
    """Each concept's items under ``nodes`` (breadth-first, ``nodes`` in order): one
    walk per subtree, however many figures are then looked up in it."""
    found: dict[Code, list[Any]] = {}
    for node in nodes:
        for item in descendants(node, budget, skip):
            code = concept(item)
            if code is not None:
                found.setdefault(code, []).append(item)
    return found


def children(node: Any, budget: Budget) -> list[Any]:
    """The direct children of ``node``, within the budget."""
    out = []
    for item in items(node):
        if not budget.take():
            break
        out.append(item)
    return out
