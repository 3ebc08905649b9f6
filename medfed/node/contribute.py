"""Send a trained job's update to the server, and report the privacy ledger (numbers only).

What leaves the node: the parameter update, the number of training rows, epsilon and delta,
and validation metrics. Nothing else.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from medfed.core.errors import Conflict, NotFound
from medfed.core.numbers import json_safe
from medfed.ml import metrics
from medfed.node.client import ServerClient
from medfed.node.state import NodeState


def contribute(node_home: Path, client: ServerClient, job_id: str | None = None) -> dict[str, Any]:
    state = NodeState(node_home)
    trained = [job for job in state.jobs() if job.status == "trained"]
    if job_id is None:
        if not trained:
            raise NotFound(
                "There is no trained job waiting to be contributed. Run `medfed node train` first."
            )
        job = trained[-1]
    else:
        found = state.job(job_id)
        if found is None:
            raise NotFound(f"There is no job {job_id}.")
        if found.status != "trained":
            raise Conflict(
                f"Job {job_id} is {found.status}; only a trained job can be contributed."
            )
        job = found
    assert job.result is not None
    result = job.result
    update = np.load(node_home / "jobs" / job.id / "update.npy").astype("<f4")
    body = {
        "disease": result["disease"],
        "base_version": result["base_version"],
        "job_ref": job.id,
        "rows": result["rows_train"],
        "epsilon": result["epsilon"],
        "delta": result["delta"],
        "metrics": json_safe(metrics.scalars(result["metrics"])),
    }
    answer = client.contribute(body, update)
    state.mark_contributed(job.id)
    report_ledger(state, client)
    return answer


def report_ledger(state: NodeState, client: ServerClient) -> int:
    pending = [
        entry
        for entry in state.ledger()
        if entry.reported_at is None and math.isfinite(entry.epsilon)
    ]
    if not pending:
        return 0
    client.report_spend(
        [
            {
                "entry_ref": entry.job_id,
                "disease": entry.disease,
                "epsilon": entry.epsilon,
                "delta": entry.delta,
            }
            for entry in pending
        ]
    )
    state.mark_reported([entry.id for entry in pending])
    return len(pending)
