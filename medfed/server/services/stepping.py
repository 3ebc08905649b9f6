"""Move several live things (rounds, analytics queries) on, each as far as it can go now."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable


def advance_each(
    ids: Iterable[int],
    step: Callable[[int], str | None],
    *,
    most: int,
    what: str,
    logger: logging.Logger,
) -> dict[int, str]:
    """Call `step` on each id until it says nothing more is due (None), at most `most` times;
    the last status each reached. One that fails is logged and left: the others still move."""
    moved: dict[int, str] = {}
    for item in sorted(ids):
        for _ in range(most):
            try:
                status = step(item)
            except Exception:  # one broken item must not stop the others
                logger.exception("%s %s could not advance", what, item)
                break
            if status is None:
                break
            moved[item] = status
    return moved
