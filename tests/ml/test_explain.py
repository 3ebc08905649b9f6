from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from medfed.ml.explain import _exact_linear, _permutation, explain, explain_classes
from medfed.ml.model import Architecture, DiseaseModel, forward_logits
from medfed.ml.preprocess import FeatureStats, Preprocessor

PREPROCESSOR = Preprocessor(
    (
        FeatureStats("a", "number", 0.0),
        FeatureStats("b", "number", 0.0),
        FeatureStats("c", "category", "x", codes=("x", "y", "z")),
    )
)


def model_with(architecture: Architecture, seed: int) -> DiseaseModel:
    rng = np.random.default_rng(seed)
    parameters = rng.normal(size=architecture.parameter_count(PREPROCESSOR.width))
    background = np.column_stack([rng.normal(size=(20, 2)), np.eye(3)[rng.integers(0, 3, 20)]])
    return DiseaseModel("demo", "h" * 64, architecture, PREPROCESSOR, parameters, background)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_permutation_estimate_is_exact_for_linear_models(seed: int) -> None:
    model = model_with(Architecture("logistic"), seed)
    inputs = np.asarray([0.7, -1.2, 0.0, 1.0, 0.0])
    exact, sampled = _exact_linear(model, inputs, 0), _permutation(model, inputs, 0)
    assert np.allclose(exact.contributions, sampled.contributions, atol=1e-9)
    assert abs(exact.base_value - sampled.base_value) < 1e-9


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.floats(-3, 3), min_size=2, max_size=2))
def test_shap_values_plus_base_reproduce_the_logit(seed: int, values: list[float]) -> None:
    model = model_with(Architecture("mlp", 6), seed)
    inputs = np.asarray([*values, 0.0, 0.0, 1.0])
    explanation = explain(model, inputs)
    assert abs(explanation.base_value + explanation.contributions.sum() - explanation.logit) < 1e-9
    assert explanation.contributions.shape == (3,)


def test_a_feature_the_model_ignores_gets_zero() -> None:
    model = model_with(Architecture("logistic"), 1)
    parameters = model.parameters.copy()
    parameters[1] = 0.0  # weight of feature b
    ignored = model.with_parameters(parameters)
    explanation = explain(ignored, np.asarray([1.0, 5.0, 1.0, 0.0, 0.0]))
    assert explanation.contributions[1] == 0.0


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_each_class_of_a_categorical_model_is_explained_exactly(seed: int) -> None:
    inputs = np.asarray([0.4, -0.9, 0.0, 0.0, 1.0])
    for architecture in (Architecture("logistic", outputs=3), Architecture("mlp", 5, outputs=3)):
        model = model_with(architecture, seed)
        logits = forward_logits(architecture, model.parameters, inputs[None, :])[0]
        explanations = explain_classes(model, inputs)
        assert len(explanations) == 3
        for k, explanation in enumerate(explanations):
            assert abs(explanation.logit - logits[k]) < 1e-9
            total = explanation.base_value + explanation.contributions.sum()
            assert abs(total - explanation.logit) < 1e-9
    linear = model_with(Architecture("logistic", outputs=3), seed)
    for k in range(3):  # the closed form and the sampling estimator agree class by class
        exact, sampled = _exact_linear(linear, inputs, k), _permutation(linear, inputs, k)
        assert np.allclose(exact.contributions, sampled.contributions, atol=1e-9)
