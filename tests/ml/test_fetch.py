"""Fetching the datasets: files already there and intact are kept; the synthetic cohort, which
has no download address, is skipped with the command that writes it, not counted as a failure."""

from __future__ import annotations

import shutil
from pathlib import Path

from medfed.core.catalog import load_catalog
from medfed.ml.fetch import fetch_datasets


def test_kept_files_are_not_fetched_and_the_synthetic_cohort_is_skipped(
    tmp_path: Path, datasets_dir: Path
) -> None:
    for spec in load_catalog().values():
        for entry in spec.dataset.files:
            if entry.url:
                (tmp_path / entry.path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(datasets_dir / entry.path, tmp_path / entry.path)
    outcomes = {o.path: o.status for o in fetch_datasets(tmp_path)}  # no network needed
    assert outcomes["heart/processed.va.data"] == "kept"
    skipped = outcomes["comorbidity_risk/tertiary.csv"]
    assert skipped.startswith("skipped") and "medfed datasets synthesize" in skipped
    assert not any(status.startswith("failed") for status in outcomes.values())
    assert "comorbidity_risk" not in (tmp_path / "SHA256SUMS").read_text()
