"""The fixed transformation from patient values to model inputs: impute, standardise, one-hot.

Its statistics come from the public baseline training data and are stored with every model
version, so the global model, each hospital's update and each prediction use the same inputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medfed.core.catalog import DiseaseSpec
from medfed.core.coercion import Value


@dataclass(frozen=True)
class FeatureStats:
    name: str
    kind: str  # number | boolean | category
    fill: float | str  # imputation value: median, rate, or most frequent code
    mean: float = 0.0
    scale: float = 1.0
    codes: tuple[str, ...] = ()
    typical_low: float | None = None
    typical_high: float | None = None

    @property
    def width(self) -> int:
        return len(self.codes) if self.kind == "category" else 1


@dataclass(frozen=True)
class Preprocessor:
    stats: tuple[FeatureStats, ...]

    @property
    def width(self) -> int:
        return sum(s.width for s in self.stats)

    @property
    def column_feature(self) -> np.ndarray:
        """For each input column, the index of the feature it encodes."""
        return np.repeat(np.arange(len(self.stats)), [s.width for s in self.stats])

    def transform(self, rows: Sequence[dict[str, Value]]) -> np.ndarray:
        matrix = np.zeros((len(rows), self.width), dtype=np.float64)
        column = 0
        for stat in self.stats:
            values = [row.get(stat.name) for row in rows]
            if stat.kind == "category":
                for offset, code in enumerate(stat.codes):
                    matrix[:, column + offset] = [
                        1.0 if (value if value is not None else stat.fill) == code else 0.0
                        for value in values
                    ]
            else:
                fill = float(stat.fill)
                raw = np.asarray(
                    [fill if v is None else float(v) for v in values], dtype=np.float64
                )
                matrix[:, column] = (raw - stat.mean) / stat.scale
            column += stat.width
        return matrix

    def imputed(self, row: dict[str, Value]) -> list[str]:
        return [s.name for s in self.stats if row.get(s.name) is None]

    def to_dict(self) -> dict[str, Any]:
        return {"stats": [stat.__dict__ for stat in self.stats]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        return cls(tuple(FeatureStats(**{**s, "codes": tuple(s["codes"])}) for s in data["stats"]))


def fit_preprocessor(spec: DiseaseSpec, rows: Sequence[dict[str, Value]]) -> Preprocessor:
    stats = []
    for feature in spec.features:
        present = [row[feature.name] for row in rows if row.get(feature.name) is not None]
        if feature.type == "category":
            counts = Counter(str(v) for v in present)
            codes = tuple(c.code for c in feature.categories)
            fill = counts.most_common(1)[0][0] if counts else codes[0]
            stats.append(FeatureStats(feature.name, "category", fill, codes=codes))
            continue
        numbers = np.asarray(
            [float(v) for v in present if isinstance(v, int | float)], dtype=np.float64
        )
        if feature.type == "boolean":
            rate = float(numbers.mean()) if len(numbers) else 0.0
            filled = np.concatenate([numbers, np.full(len(rows) - len(numbers), rate)])
            scale = float(filled.std()) or 1.0
            stats.append(FeatureStats(feature.name, "boolean", rate, float(filled.mean()), scale))
            continue
        median = (
            float(np.median(numbers)) if len(numbers) else float(np.mean(feature.range or (0, 0)))
        )
        filled = np.concatenate([numbers, np.full(len(rows) - len(numbers), median)])
        low, high = feature.typical or (
            (float(np.percentile(numbers, 25)), float(np.percentile(numbers, 75)))
            if len(numbers)
            else (median, median)
        )
        stats.append(
            FeatureStats(
                feature.name,
                "number",
                median,
                float(filled.mean()),
                float(filled.std()) or 1.0,
                typical_low=low,
                typical_high=high,
            )
        )
    return Preprocessor(tuple(stats))
