from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from medfed.core.catalog import get_disease, load_catalog, parse_spec, use_spec_folder
from medfed.core.config import load_settings
from medfed.core.errors import ConfigurationError, NotFound

EXPECTED = {"breast_cancer", "diabetes", "heart", "kidney", "parkinsons", "comorbidity_risk"}
SYNTHETIC = {"comorbidity_risk"}  # no published result to compare with


def test_six_outcomes_with_complete_feature_specs() -> None:
    catalog = load_catalog()
    assert set(catalog) == EXPECTED
    for spec in catalog.values():
        assert spec.features and spec.dataset.files
        assert bool(spec.references) == (spec.id not in SYNTHETIC)
        assert [band.name for band in spec.bands] == ["low", "moderate", "high"]
        for feature in spec.features:
            assert feature.label and feature.help
            if feature.type == "number":
                assert feature.range is not None


def test_the_comorbidity_outcome_is_categorical_with_a_band_per_class() -> None:
    spec = get_disease("comorbidity_risk")
    assert spec.categorical and spec.class_labels == ("Low", "Medium", "High")
    assert spec.band_named("moderate").title == "Medium comorbidity risk (synthetic model)"
    with pytest.raises(NotFound, match="no risk band 'severe'"):
        spec.band_named("severe")


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


# A network's own diseases: an extra folder of specs -------------------------------------------

BENCH_SPECS = Path(__file__).resolve().parents[2] / "bench" / "specs"


@pytest.fixture
def extra_specs() -> Iterator[None]:
    yield
    use_spec_folder(None)


def test_specs_in_the_configured_folder_join_the_built_in_five(
    tmp_path: Path, extra_specs: None
) -> None:
    shutil.copy(BENCH_SPECS / "heart_flamby.yaml", tmp_path)
    load_settings(disease_specs_dir=tmp_path)
    assert set(load_catalog()) == {*EXPECTED, "heart_flamby"}
    assert get_disease("heart_flamby").model_families == ("logistic",)
    load_settings()  # a process without the setting sees only the built-in six
    assert set(load_catalog()) == EXPECTED


def test_an_extra_spec_cannot_take_a_built_in_id(tmp_path: Path, extra_specs: None) -> None:
    text = (BENCH_SPECS / "heart_flamby.yaml").read_text().replace("id: heart_flamby", "id: heart")
    (tmp_path / "heart.yaml").write_text(text)
    use_spec_folder(tmp_path)
    with pytest.raises(ConfigurationError, match="'heart' is already taken"):
        load_catalog()


def test_a_missing_specs_folder_is_named(tmp_path: Path, extra_specs: None) -> None:
    use_spec_folder(tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="nowhere does not exist"):
        load_catalog()


def test_risk_bands_say_their_level_once() -> None:
    from medfed.core.catalog import get_disease

    high = get_disease("diabetes").risk_bands[-1]
    assert high.title == "High risk of diabetes"
    assert high.advice == "Confirm with diagnostic testing."
    benign = get_disease("breast_cancer").risk_bands[0]
    assert benign.title == "Low risk: features typical of a benign mass"
    assert benign.advice == ""


def test_counts_are_described_as_whole_numbers_without_a_unit() -> None:
    from medfed.core.catalog import get_disease

    pregnancies = get_disease("diabetes").feature("pregnancies")
    assert pregnancies.describe_accepted() == "a whole number from 0 to 20"
