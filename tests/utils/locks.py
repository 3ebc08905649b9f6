"""Whether some process holds an `flock` on a file, asked the way another process would."""

from __future__ import annotations

import fcntl


def flock_is_held(path: str) -> bool:
    with open(path, "ab") as other:  # an open file of its own, so this process's lock counts
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(other, fcntl.LOCK_UN)
        return False
