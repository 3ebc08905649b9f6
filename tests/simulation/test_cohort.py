"""The synthetic comorbidity cohort: reproducible, real codes, inputs that follow from the codes,
hospitals that differ, and the shipped files exactly what the generator writes."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from medfed.core import charlson
from medfed.core.catalog import get_disease
from medfed.ml.datasets import sha256_of
from medfed.node.registry import codes
from medfed.simulation import cohort
from tests.utils.processes import medfed_env, run_medfed


@pytest.mark.own_database
def test_the_shipped_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    env = medfed_env(tmp_path / "home", f"sqlite:///{tmp_path / 'unused.db'}")
    done = run_medfed(["datasets", "synthesize", str(tmp_path / "out"), "--diagnoses"], env)
    assert done.returncode == 0, done.stderr
    spec = get_disease("comorbidity_risk")
    for entry in spec.dataset.files:
        assert sha256_of(tmp_path / "out" / Path(entry.path).name) == entry.sha256
    diagnoses = (tmp_path / "out" / "tertiary-diagnoses.csv").read_text().splitlines()
    assert diagnoses[0] == "hadm_id,icd_code,icd_version,seq_num" and len(diagnoses) > 900


def test_every_code_is_real_icd10cm_and_shows_the_condition_it_stands_for() -> None:
    for condition, listed in cohort.CODES.items():
        for code in listed:
            assert codes.lookup(code, 10).code == code
            found = [name for name, flag in charlson.conditions_of([code]).items() if flag]
            assert found == [condition], code
    for code in cohort.OTHER_CODES:
        assert codes.lookup(code, 10).code == code
        assert not any(charlson.conditions_of([code]).values()), code


def test_inputs_follow_from_the_codes_and_hospitals_differ() -> None:
    admissions = cohort.generate()
    assert len(admissions) == sum(site.admissions for site in cohort.SITES)
    first = admissions[0]
    assert first.features()["diagnosis_count"] == len(first.codes)
    tiers = {
        site.name: collections.Counter(a.tier for a in admissions if a.site == site.name)
        for site in cohort.SITES
    }
    share_high = {name: c["high"] / sum(c.values()) for name, c in tiers.items()}
    assert share_high["elderly_care"] > 2 * share_high["district"]  # label skew between sites
    ages = {s.name: [a.age for a in admissions if a.site == s.name] for s in cohort.SITES}
    assert sum(ages["elderly_care"]) / 700 > sum(ages["district"]) / 1200 + 10
    assert cohort.generate(seed=1) != admissions  # the seed matters; the default is fixed


def test_the_outcome_model_is_the_stated_one() -> None:
    assert cohort.tier_of(0, 40, 2, 0.0) == "low"
    assert cohort.tier_of(2, 70, 5, 0.0) == "medium"  # 0.9 + 0.2
    assert cohort.tier_of(6, 80, 8, 0.0) == "high"
