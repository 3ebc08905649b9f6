"""Patient forms from disease specs: fields, per-field messages, and the multi-disease union."""

from __future__ import annotations

from medfed.core.catalog import get_disease, load_catalog
from medfed.server.web.forms import check_fields, fields_for, missing_required, union_fields


def test_fields_follow_the_spec_in_order() -> None:
    spec = get_disease("heart")
    fields = fields_for(spec, {"age": "61"}, {"sex": "bad"})
    assert [f.name for f in fields] == [f.name for f in spec.features]
    assert fields[0].value == "61" and fields[1].error == "bad"


def test_every_wrong_field_gets_its_own_message() -> None:
    spec = get_disease("heart")
    checked = check_fields(fields_for(spec), {"age": "abc", "resting_bp": "9999", "sex": "1"})
    assert set(checked.errors) == {"age", "resting_bp"}
    assert "18 to 110" in checked.errors["age"] and not checked.ok
    assert checked.patients["heart"]["sex"] == "1"


def test_missing_required_lists_only_the_empty_required_inputs() -> None:
    spec = get_disease("heart")
    checked = check_fields(fields_for(spec), {"age": "50", "cholesterol": "200"})
    missing = {f.name for f in missing_required(spec, checked.patients["heart"])}
    assert "age" not in missing and "cholesterol" not in missing
    assert missing == {f.name for f in spec.features if f.required} - {"age"}


def test_union_shares_inputs_that_mean_the_same_and_fills_each_disease() -> None:
    fields = union_fields(load_catalog().values())
    by_name = {f.name: f for f in fields}
    assert set(by_name["age"].diseases) == {"heart", "diabetes", "kidney", "comorbidity_risk"}
    assert len(fields) == len({f.name for f in fields})
    checked = check_fields(fields, {"age": "45", "glucose": "150"})
    assert checked.patients["heart"]["age"] == 45.0 and checked.patients["diabetes"]["age"] == 45.0
    assert checked.filled["diabetes"] == {"age", "glucose"} and "heart" in checked.filled
    assert "breast_cancer" not in checked.filled


def test_the_multi_disease_form_asks_shared_inputs_once_then_each_disease_apart() -> None:
    from medfed.core.catalog import load_catalog
    from medfed.server.web.forms import group_fields, union_fields

    specs = list(load_catalog().values())
    groups = group_fields(union_fields(specs), specs)
    titles = [title for title, _ in groups]
    assert titles[0] == "Used by several models"
    assert titles[1:] == [f"{spec.title} only" for spec in specs]
    age = next(f for f in groups[0][1] if f.name == "age")
    assert set(age.diseases) >= {"diabetes", "heart"} and "diabetes" in age.required_for
    every = [f.name for _, members in groups for f in members]
    assert sorted(every) == sorted(f.name for f in union_fields(specs))  # none lost or repeated
