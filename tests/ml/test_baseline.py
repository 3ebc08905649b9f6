"""The whole pipeline is driven by the spec: a sixth disease needs only a spec file and its data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medfed.core.catalog import parse_spec
from medfed.core.errors import ConfigurationError
from medfed.ml.baseline import train_baseline
from medfed.ml.datasets import load_dataset, sha256_of
from medfed.ml.explain import explain

SIXTH = """
id: anemia_demo
title: Anaemia (synthetic)
description: A made-up sixth disease to show that specs drive everything.
positive_label: Anaemia likely
negative_label: Anaemia unlikely
references: {accuracy: 0.8}
risk_bands:
  - {name: low, below: 0.3, wording: low}
  - {name: moderate, below: 0.6, wording: moderate}
  - {name: high, below: 1.01, wording: high}
features:
  - {name: hemoglobin, label: Hemoglobin, type: number, unit: g/dL, range: [3, 20], required: true, aliases: [hb], help: Hb.}
  - {name: fatigue, label: Fatigue, type: boolean, required: false, aliases: [tired], help: Tiredness.}
  - name: diet
    label: Diet
    type: category
    required: false
    help: Diet.
    categories:
      - {code: omnivore, label: Omnivore}
      - {code: vegan, label: Vegan}
dataset:
  source: synthetic
  files: [{path: anemia/data.csv, sha256: "%s"}]
  header: true
  target: {column: label, positive: ["1"], negative: ["0"]}
  split: {test_fraction: 0.25, stratify: target}
"""


def test_a_sixth_disease_trains_and_explains_from_its_spec_alone(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["Hb,tired,diet,label"]
    for _ in range(300):
        hb = rng.normal(13, 2)
        label = int(hb + rng.normal(0, 1) < 12)
        lines.append(
            f"{hb:.1f},{rng.choice(['yes', 'no'])},{rng.choice(['omnivore', 'vegan', ''])},{label}"
        )
    path = tmp_path / "anemia" / "data.csv"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    spec = parse_spec(SIXTH % sha256_of(path), "anemia_demo.yaml")
    data = load_dataset(spec, tmp_path)
    result = train_baseline(spec, data, seed=1)
    assert result.card["metrics"]["accuracy"] > 0.8
    inputs = result.model.preprocessor.transform(
        [{"hemoglobin": 9.0, "fatigue": None, "diet": "vegan"}]
    )[0]
    explanation = explain(result.model, inputs)
    assert int(np.argmax(np.abs(explanation.contributions))) == 0, "haemoglobin dominates"


def test_a_spec_can_restrict_the_model_families_considered(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lines = ["Hb,tired,diet,label"]
    for _ in range(200):
        hb = rng.normal(13, 2)
        # A non-linear rule that a small MLP could fit better than a line.
        label = int(abs(hb - 13) + rng.normal(0, 0.3) > 2)
        lines.append(f"{hb:.1f},no,omnivore,{label}")
    path = tmp_path / "anemia" / "data.csv"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    text = (SIXTH % sha256_of(path)).replace(
        "references: {accuracy: 0.8}", "references: {accuracy: 0.8}\nmodel_families: [logistic]"
    )
    spec = parse_spec(text, "anemia_demo.yaml")
    result = train_baseline(spec, load_dataset(spec, tmp_path), seed=1)
    assert result.model.architecture.kind == "logistic"
    assert all("logistic" in c["candidate"] for c in result.card["selection"]["candidates"])


def test_a_categorical_outcome_trains_a_softmax_model_from_its_spec(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lines = ["Hb,tired,diet,risk"]
    for _ in range(450):
        hb = rng.normal(13, 2)
        score = 13 - hb + rng.normal(0, 0.7)
        risk = "High" if score > 1.5 else "Medium" if score > -0.5 else "low"  # any case
        lines.append(f"{hb:.1f},no,omnivore,{risk}")
    path = tmp_path / "anemia" / "data.csv"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    text = (SIXTH % sha256_of(path)).replace(
        'target: {column: label, positive: ["1"], negative: ["0"]}',
        "target: {column: risk, classes: [{code: low, label: Low, band: low, wording: Low.}, "
        "{code: medium, label: Medium, band: moderate, wording: Medium.}, {code: high, label: "
        "High, aliases: [severe], band: high, wording: 'High: refer.'}]}",
    )
    text = text.replace("positive_label: Anaemia likely\nnegative_label: Anaemia unlikely\n", "")
    text = text.split("risk_bands:")[0] + "features:" + text.split("features:", 1)[1]
    spec = parse_spec(text, "anemia_demo.yaml")
    assert spec.categorical and spec.outputs == 3 and spec.class_labels == ("Low", "Medium", "High")
    data = load_dataset(spec, tmp_path)
    assert sorted(set(data.labels.tolist())) == [0, 1, 2]
    result = train_baseline(spec, data, seed=1)
    assert result.model.architecture.outputs == 3
    metrics = result.card["metrics"]
    assert metrics["accuracy"] > 0.7 and metrics["roc_auc"] > 0.8
    assert len(metrics["confusion"]) == 3 and len(metrics["recall_per_class"]) == 3
    assert set(result.card["rows"]["class_rates"]) == {"Low", "Medium", "High"}
    assert result.card["training"]["loss"].startswith("softmax cross-entropy")
    probabilities = result.model.predict_proba([{"hemoglobin": 8.0, "fatigue": None, "diet": None}])
    assert probabilities.shape == (1, 3) and int(probabilities.argmax()) == 2  # low Hb: High


def test_a_target_is_binary_or_categorical_and_says_what_is_missing() -> None:
    base = SIXTH % ("0" * 64)
    both = base.replace(
        'negative: ["0"]}',
        'negative: ["0"], classes: [{code: a, label: A, band: low, wording: A},'
        " {code: b, label: B, band: moderate, wording: B}, {code: c, label: C, band: high,"
        " wording: C}]}",
    )
    with pytest.raises(ConfigurationError, match=r"binary .* or has classes, not both"):
        parse_spec(both, "anemia_demo.yaml")
    two = base.replace(
        'positive: ["1"], negative: ["0"]}',
        "classes: [{code: a, label: A, band: low, wording: A}, {code: b, label: B, band: high, "
        "wording: B}]}",
    )
    with pytest.raises(ConfigurationError, match="at least three classes"):
        parse_spec(two, "anemia_demo.yaml")
    unordered = base.replace(
        'positive: ["1"], negative: ["0"]}',
        "classes: [{code: a, label: A, band: low, wording: A}, {code: b, label: B, band: high, "
        "wording: B}, {code: c, label: C, band: moderate, wording: C}]}",
    )
    unordered = unordered.split("risk_bands:")[0] + "features:" + unordered.split("features:", 1)[1]
    with pytest.raises(ConfigurationError, match="low, moderate and high"):
        parse_spec(unordered, "anemia_demo.yaml")
    unlabelled = base.replace("positive_label: Anaemia likely\n", "")
    with pytest.raises(ConfigurationError, match="needs positive_label, negative_label"):
        parse_spec(unlabelled, "anemia_demo.yaml")
