"""Hospital nodes stepped in a background thread while a browser journey runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence


def keep_stepping(
    steps: Sequence[Callable[[], object]], stop: threading.Event, failures: list[str]
) -> None:
    """Call each node's step every 0.2 s until `stop`; a failure is kept for the test to report
    (not swallowed) and ends the loop."""
    while not stop.is_set():
        for step in steps:
            try:
                step()
            except Exception as problem:
                failures.append(f"{type(problem).__name__}: {problem}")
                return
        time.sleep(0.2)
