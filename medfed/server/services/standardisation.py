"""Released analytics as a new model version's preprocessing: the network-wide mean and
standard deviation of number features replace the public dataset's, so training from then on
standardises with the hospitals' own population (ml/restandardise.py keeps every prediction).

The new version is a checkpoint on the training line (stage "trained", not served): the next
round continues from it; doctors get it only if a round's evidence promotes it."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from medfed.analytics.query import MEAN
from medfed.core.catalog import get_disease
from medfed.core.errors import Conflict, InvalidInput
from medfed.ml.model import DiseaseModel
from medfed.ml.restandardise import restandardise
from medfed.server.db.tables import ModelVersion
from medfed.server.services import analytics, registry
from medfed.server.storage import ArtifactStore


def centres(session: Session, disease: str, query_ids: list[int]) -> dict[str, tuple[float, float]]:
    """Each query's feature and its released (mean, sd), after checking the query can serve."""
    spec = get_disease(disease)
    found: dict[str, tuple[float, float]] = {}
    for query_id in query_ids:
        query = analytics.get_query(session, query_id)
        where = f"Query {query_id}"
        if query.disease != spec.id:
            raise InvalidInput(
                f"{where} is about {query.disease}, not {spec.id}.", field="query_ids"
            )
        if query.kind != MEAN or query.query.get("breakdown"):
            raise InvalidInput(
                f"{where} is a {query.kind} query{' with a breakdown' if query.query.get('breakdown') else ''}; "
                "the standardisation takes a mean over all patients (no breakdown).",
                field="query_ids",
            )
        if query.status != "released" or not query.result:
            raise Conflict(f"{where} is {query.status}: nothing was released to use.")
        (cell,) = query.result["network"]["cells"]
        if cell.get("suppressed") or not cell.get("sd") or not math.isfinite(cell["sd"]):
            raise Conflict(f"{where}'s figures were withheld or have no spread; ask again.")
        feature = str(query.query["feature"])
        if feature in found:
            raise InvalidInput(f"Two queries give {feature}; name one.", field="query_ids")
        found[feature] = (float(cell["mean"]), float(cell["sd"]))
    if not found:
        raise InvalidInput("Name at least one released mean query.", field="query_ids")
    return found


def from_analytics(
    session: Session, store: ArtifactStore, disease: str, query_ids: list[int], *, actor: str
) -> ModelVersion:
    """A new version on the disease's training line, standardised by the released figures."""
    stats = centres(session, disease, query_ids)
    head = registry.training_head(session, get_disease(disease).id)
    model = DiseaseModel.from_bytes(store.get(head.artifact_key))
    moved = restandardise(model, stats)
    note = ", ".join(f"{name} mean {m:.4g}, sd {s:.4g}" for name, (m, s) in sorted(stats.items()))
    return registry.register_version(
        session,
        store,
        moved,
        metrics=head.metrics,  # the same function of the raw values: the same metrics
        card={**head.card, "standardisation": f"network-wide analytics ({note})"},
        provenance={
            "source": "standardised from analytics",
            "base": head.version,
            "analytics_queries": sorted(query_ids),
            "centres": {name: list(pair) for name, pair in stats.items()},
        },
        contributing_hospitals=head.contributing_hospitals,
        activate=False,
        actor=actor,
        major=head.major,
        stage="trained",
    )
