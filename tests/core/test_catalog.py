from __future__ import annotations

import pytest

from medfed.core.catalog import get_disease, load_catalog, parse_spec
from medfed.core.errors import ConfigurationError, NotFound

EXPECTED = {"breast_cancer", "diabetes", "heart", "kidney", "parkinsons"}


def test_five_diseases_with_complete_feature_specs() -> None:
    catalog = load_catalog()
    assert set(catalog) == EXPECTED
    for spec in catalog.values():
        assert spec.features and spec.dataset.files and spec.references
        assert [band.name for band in spec.risk_bands] == ["low", "moderate", "high"]
        for feature in spec.features:
            assert feature.label and feature.help
            if feature.type == "number":
                assert feature.range is not None


def test_risk_bands_cover_zero_to_one() -> None:
    spec = get_disease("diabetes")
    assert spec.risk_band(0.0).name == "low"
    assert spec.risk_band(0.45).name == "moderate"
    assert spec.risk_band(1.0).name == "high"


def test_unknown_disease_is_not_found_with_the_known_list() -> None:
    with pytest.raises(NotFound, match="diabetes"):
        get_disease("flu")


def test_invalid_spec_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigurationError, match=r"sixth\.yaml"):
        parse_spec("id: sixth\ntitle: x\n", "sixth.yaml")


def test_schema_hash_changes_when_inputs_change() -> None:
    spec = get_disease("heart")
    changed = spec.model_copy(update={"features": spec.features[:-1]})
    assert changed.schema_hash != spec.schema_hash
    reworded = spec.model_copy(update={"description": "other words"})
    assert reworded.schema_hash == spec.schema_hash
