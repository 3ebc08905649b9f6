"""Named crash points for the crash-safety tests.

`fault_point` is a testing setting: when it names a point, the server or node process kills itself
there with SIGKILL (no clean-up, no rollback handlers), exactly like a power cut. Unset, this is a
no-op.
"""

from __future__ import annotations

import os
import signal

from medfed.core.config import Settings

POINTS = (
    "aggregate:after_artifact",
    "deploy:before_commit",
    "submit:before_commit",
    "campaign:after_open",
    "buffer:before_commit",
    "registry:mid_import",  # the node, halfway through writing an imported file's diagnoses
)


def crash_point(settings: Settings, name: str) -> None:
    if settings.fault_point == name:
        os.kill(os.getpid(), signal.SIGKILL)
