"""The hospital's own model: the network's served model fine-tuned on this hospital's rows with
DP-SGD, kept at the node beside the served model it started from, both scored on the same local
validation rows. Training is an ordinary node job (its privacy cost goes to the ledger under the
hospital's cap); nothing is sent to the network (the job can still be contributed later, as any)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medfed.core.clock import isoformat, utcnow
from medfed.ml.model import DiseaseModel
from medfed.node.client import ServerClient
from medfed.node.held_models import HeldModel, keep
from medfed.node.inventory import report_quietly
from medfed.node.training import Progress, TrainRequest, run_training


def personalise(
    node_home: Path,
    client: ServerClient,
    request: TrainRequest,
    *,
    on_progress: Progress | None = None,
    job_id: str | None = None,
) -> tuple[HeldModel, HeldModel]:
    """Fetch the served model, fine-tune it here, keep both; returns (global, local)."""
    blob, version = client.download_model(request.disease)
    result = run_training(node_home, client, request, on_progress=on_progress, base=(blob, version))
    served = DiseaseModel.from_bytes(blob)
    update = np.load(node_home / "jobs" / result.job_id / "update.npy")
    local = served.with_parameters(served.parameters + update.astype(np.float64))
    now = isoformat(utcnow())
    kept_global = keep(
        node_home,
        served,
        HeldModel(request.disease, "global", version, version, now, result.metrics["global"]),
    )
    kept_local = keep(
        node_home,
        local,
        HeldModel(
            request.disease,
            "local",
            f"{version}+local-{result.job_id[:8]}",
            version,
            now,
            result.metrics["local"],
            job_id=result.job_id,
            epsilon=result.epsilon,
            rows_train=result.rows_train,
        ),
    )
    report_quietly(node_home, client)  # the network's view of which models this node holds
    return kept_global, kept_local
