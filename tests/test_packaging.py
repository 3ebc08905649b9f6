"""What `pip install` carries: the public datasets and disease specs travel with the package."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

from medfed.core.config import PACKAGED_DATASETS_DIR, Settings
from medfed.ml.datasets import read_checksums, sha256_of

ROOT = Path(__file__).resolve().parents[1]


def test_every_bundled_dataset_file_is_declared_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["medfed"]
    package = ROOT / "medfed"
    shipped = [p for p in PACKAGED_DATASETS_DIR.rglob("*") if p.is_file()]
    assert len(shipped) >= 12
    for path in [*shipped, *(package / "core" / "diseases").glob("*.yaml")]:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative


def test_the_default_settings_read_the_bundled_copy_and_its_checksums_hold() -> None:
    assert Settings().datasets_dir == PACKAGED_DATASETS_DIR
    sums = read_checksums(PACKAGED_DATASETS_DIR)
    assert len(sums) == 12  # nine public files and the three of the synthetic cohort
    for name, digest in sums.items():
        assert sha256_of(PACKAGED_DATASETS_DIR / name) == digest, name
    assert "CC BY 4.0" in (PACKAGED_DATASETS_DIR / "LICENSE.md").read_text()
