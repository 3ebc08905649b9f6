"""Simulated hospitals from a public dataset: their rows, their files, and scoring on their tests."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medfed.core.catalog import DiseaseSpec
from medfed.core.coercion import Value
from medfed.ml import metrics
from medfed.ml.datasets import LabelledData, load_dataset
from medfed.ml.model import DiseaseModel
from medfed.ml.splits import baseline_split
from medfed.simulation import partition


@dataclass
class Hospital:
    name: str
    train: LabelledData
    test: LabelledData
    csv_path: Path


def _cell(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def write_csv(spec: DiseaseSpec, data: LabelledData, path: Path) -> Path:
    """The hospital's rows as its staff would export them: a header, one patient per line."""
    names = [f.name for f in spec.features]
    target = spec.dataset.target
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*names, target.column])
        for row, label in zip(data.rows, data.labels, strict=True):
            if target.classes:
                outcome = target.classes[int(label)].code
            else:
                outcome = target.positive[0] if label else target.negative[0]
            writer.writerow([*(_cell(row.get(n)) for n in names), outcome])
    return path


@dataclass(frozen=True)
class HospitalPlan:
    """How to make the hospitals: 'natural' sites or a number split by `split`."""

    datasets_dir: Path
    workdir: Path
    hospitals: str = "natural"
    split: str = "dirichlet:0.5"
    test_fraction: float = 0.34
    seed: int = 0
    # Leave the public held-out split out of every hospital, so the server can weigh it as
    # promotion evidence without seeing a hospital's rows (see `public_holdout_default`).
    public_holdout: bool = False


def public_holdout_default(hospitals: str) -> bool:
    """Split hospitals leave the server's public held-out rows out; a dataset's natural sites
    keep every row (FLamby's protocol defines their splits), so there the server has none."""
    return hospitals != "natural"


def build_hospitals(plan: HospitalPlan, spec: DiseaseSpec) -> list[Hospital]:
    data = load_dataset(spec, plan.datasets_dir)
    if plan.public_holdout:
        kept, _ = baseline_split(spec, data)
        data = data.subset(kept)
    rng = np.random.default_rng(plan.seed)
    if plan.hospitals == "natural":
        groups = partition.natural(data.sites)
    else:
        groups = partition.dirichlet(
            data.labels, int(plan.hospitals), partition.parse_split(plan.split), rng
        )
    hospitals = []
    for name, indices in groups.items():
        train, test = partition.train_test(data.labels, indices, plan.test_fraction, rng)
        slug = name.lower().replace(" ", "-")
        path = write_csv(spec, data.subset(train), plan.workdir / f"{slug}.csv")
        hospitals.append(Hospital(name, data.subset(train), data.subset(test), path))
    return hospitals


def score(
    model: DiseaseModel, hospitals: list[Hospital]
) -> tuple[dict[str, float], float, float, float]:
    """Accuracy per hospital's test rows, their unweighted mean, and pooled accuracy and AUC."""
    per_site = {}
    labels, probabilities = [], []
    for hospital in hospitals:
        p = model.predict_proba(hospital.test.rows)
        per_site[hospital.name] = round(metrics.accuracy(hospital.test.labels, p), 4)
        labels.append(hospital.test.labels)
        probabilities.append(p)
    pooled_labels, pooled = np.concatenate(labels), np.concatenate(probabilities)
    return (
        per_site,
        round(float(np.mean(list(per_site.values()))), 4),
        round(metrics.accuracy(pooled_labels, pooled), 4),
        round(metrics.roc_auc(pooled_labels, pooled), 4),
    )
