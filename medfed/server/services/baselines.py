"""Train and register the v1.0 baseline of every disease that has no model yet."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from medfed.core.catalog import DiseaseSpec, load_catalog
from medfed.core.errors import DatasetProblem
from medfed.ml.datasets import load_dataset
from medfed.ml.splits import BASELINE_SEED
from medfed.server.db.engine import transaction
from medfed.server.services import audit, registry
from medfed.server.storage import ArtifactStore

logger = logging.getLogger("medfed.baselines")


def ensure_baselines(
    factory: sessionmaker[Session],
    store: ArtifactStore,
    datasets_dir: Path,
    only: list[str] | None = None,
    *,
    untrained: bool = False,
) -> dict[str, str]:
    """Outcome per disease: 'exists', 'trained vX', or why it was skipped. Never half-registers."""
    outcomes: dict[str, str] = {}
    for disease, spec in load_catalog().items():
        if only and disease not in only:
            continue
        with factory() as session:
            if registry.has_versions(session, disease):
                outcomes[disease] = "exists"
                continue
        try:
            outcomes[disease] = _train_and_register(factory, store, spec, datasets_dir, untrained)
        except DatasetProblem as exc:
            logger.warning("baseline for %s skipped: %s", disease, exc.message)
            outcomes[disease] = f"skipped: {exc.message}"
        except IntegrityError:
            outcomes[disease] = "exists"  # another process registered it first
    return outcomes


def _train_and_register(
    factory: sessionmaker[Session],
    store: ArtifactStore,
    spec: DiseaseSpec,
    datasets_dir: Path,
    untrained: bool,
) -> str:
    # Torch is imported only when a baseline must be trained: a server whose registry has its
    # models (every start but the first) serves with NumPy and starts a second sooner.
    from medfed.ml.baseline import train_baseline
    from medfed.ml.baseline import untrained as untrained_start

    logger.info("training the %s baseline", spec.id)
    data = load_dataset(spec, datasets_dir)
    result = train_baseline(spec, data)
    source = "baseline"
    if untrained:
        result, source = untrained_start(result, data), "untrained baseline"
    provenance = {"source": source, "seed": BASELINE_SEED, "data": spec.dataset.source}
    with transaction(factory) as session:
        if registry.has_versions(session, spec.id):
            return "exists"
        version = registry.register_version(
            session,
            store,
            result.model,
            metrics=result.card["metrics"],
            card=result.card,
            provenance=provenance,
            contributing_hospitals=0,
            activate=True,
            actor=audit.SYSTEM_ACTOR,
        )
        label = version.version
    logger.info("registered %s %s", spec.id, label)
    return f"trained {label}"
