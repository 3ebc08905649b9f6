"""Load and clean the public datasets named by a disease spec, checking every file's SHA-256."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medfed.core.catalog import DiseaseSpec
from medfed.core.coercion import Value, ValueProblem, coerce_value, match_columns, parse_label
from medfed.core.errors import DatasetProblem


@dataclass
class CleaningReport:
    rows_read: int = 0
    rows_without_label: int = 0
    rows_incomplete: int = 0  # dropped because a feature was missing (spec: drop_incomplete)
    missing_by_feature: Counter[str] = field(default_factory=Counter)
    invalid_by_feature: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "rows_read": self.rows_read,
            "rows_without_label": self.rows_without_label,
            "rows_incomplete_dropped": self.rows_incomplete,
            "missing_by_feature": dict(self.missing_by_feature),
            "invalid_set_missing_by_feature": dict(self.invalid_by_feature),
        }


@dataclass
class LabelledData:
    rows: list[dict[str, Value]]
    labels: np.ndarray
    sites: list[str | None]
    groups: list[str | None]
    report: CleaningReport

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, indices: np.ndarray) -> LabelledData:
        picked = [int(i) for i in indices]
        return LabelledData(
            rows=[self.rows[i] for i in picked],
            labels=self.labels[picked],
            sites=[self.sites[i] for i in picked],
            groups=[self.groups[i] for i in picked],
            report=self.report,
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksums(datasets_dir: Path) -> dict[str, str]:
    listing = datasets_dir / "SHA256SUMS"
    if not listing.exists():
        return {}
    sums = {}
    for line in listing.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0]
    return sums


def verify_files(spec: DiseaseSpec, datasets_dir: Path) -> list[Path]:
    """The spec's files, each present and unaltered, or DatasetProblem saying which is not."""
    if not datasets_dir.is_dir():
        raise DatasetProblem(
            f"The datasets folder {datasets_dir} does not exist. Set MEDFED_DATASETS_DIR to the "
            "folder holding the public datasets, or fetch them with `medfed datasets fetch`."
        )
    listed = read_checksums(datasets_dir)
    paths = []
    for entry in spec.dataset.files:
        path = datasets_dir / entry.path
        if not path.is_file():
            raise DatasetProblem(f"{spec.title}: the dataset file {path} is missing.")
        actual = sha256_of(path)
        expected = {entry.sha256, listed.get(entry.path, entry.sha256)}
        if len(expected) > 1 or actual != entry.sha256:
            raise DatasetProblem(
                f"{spec.title}: {path} has been altered (SHA-256 {actual[:12]}…, expected "
                f"{entry.sha256[:12]}…). Restore the original file."
            )
        paths.append(path)
    return paths


def load_dataset(spec: DiseaseSpec, datasets_dir: Path) -> LabelledData:
    """Every labelled row of the disease's public data, cleaned as the spec says."""
    paths = verify_files(spec, datasets_dir)
    report = CleaningReport()
    data = LabelledData([], np.zeros(0, dtype=np.int64), [], [], report)
    labels: list[int] = []
    markers = frozenset(spec.dataset.missing_values)
    group_pattern = re.compile(spec.dataset.group.pattern) if spec.dataset.group else None
    for entry, path in zip(spec.dataset.files, paths, strict=True):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader) if spec.dataset.header else list(spec.dataset.columns or ())
            match = match_columns(spec, header)
            if match.target_column is None:
                raise DatasetProblem(f"{path}: no target column {spec.dataset.target.column!r}.")
            group_index = header.index(spec.dataset.group.column) if spec.dataset.group else None
            for cells in reader:
                if not cells:
                    continue
                report.rows_read += 1
                label = parse_label(spec, cells[match.target_column])
                if label is None:
                    report.rows_without_label += 1
                    continue
                row: dict[str, Value] = {}
                for feature in spec.features:
                    index = match.feature_columns.get(feature.name)
                    raw = cells[index] if index is not None and index < len(cells) else None
                    try:
                        value = coerce_value(feature, raw, markers)
                    except ValueProblem:
                        value = None  # implausible values in public data are treated as missing
                        report.invalid_by_feature[feature.name] += 1
                    if value is None:
                        report.missing_by_feature[feature.name] += 1
                    row[feature.name] = value
                if spec.dataset.drop_incomplete and any(v is None for v in row.values()):
                    report.rows_incomplete += 1
                    continue
                group = None
                if group_pattern is not None and group_index is not None:
                    found = group_pattern.match(cells[group_index].strip())
                    group = found.group(1) if found else cells[group_index].strip()
                data.rows.append(row)
                labels.append(label)
                data.sites.append(entry.site)
                data.groups.append(group)
    data.labels = np.asarray(labels, dtype=np.int64)
    return data
