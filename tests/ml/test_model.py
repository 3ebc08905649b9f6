from __future__ import annotations

import numpy as np
import pytest
import torch

from medfed.ml.model import Architecture, DiseaseModel, forward_logits
from medfed.ml.network import build_network, get_parameters, set_parameters
from medfed.ml.preprocess import FeatureStats, Preprocessor


@pytest.mark.parametrize(
    "architecture",
    [
        Architecture("logistic"),
        Architecture("mlp", 7),
        Architecture("logistic", outputs=3),
        Architecture("mlp", 7, outputs=3),
    ],
)
def test_numpy_forward_matches_pytorch(architecture: Architecture) -> None:
    torch.manual_seed(0)
    network = build_network(architecture, 5)
    parameters = get_parameters(network)
    assert parameters.shape == (architecture.parameter_count(5),)
    inputs = np.random.default_rng(0).normal(size=(11, 5))
    expected = network(torch.as_tensor(inputs, dtype=torch.float32)).detach().numpy()
    if architecture.outputs == 1:
        expected = expected.ravel()
    assert np.allclose(forward_logits(architecture, parameters, inputs), expected, atol=1e-5)
    set_parameters(network, parameters * 2)
    assert np.allclose(get_parameters(network), parameters * 2, atol=1e-6)


def test_artifact_round_trip_is_exact_and_checked() -> None:
    preprocessor = Preprocessor(
        (
            FeatureStats("x", "number", 1.0, 0.5, 2.0, typical_low=0.0, typical_high=2.0),
            FeatureStats("c", "category", "b", codes=("a", "b")),
        )
    )
    model = DiseaseModel(
        "demo",
        "h" * 64,
        Architecture("logistic"),
        preprocessor,
        np.asarray([0.5, -1.0, 2.0, 0.1]),
        np.zeros((3, 3)),
    )
    again = DiseaseModel.from_bytes(model.to_bytes())
    assert again.preprocessor == preprocessor and np.array_equal(again.parameters, model.parameters)
    rows = [{"x": 3.0, "c": "a"}, {"x": None, "c": None}]
    assert np.allclose(again.predict_proba(rows), model.predict_proba(rows))
    with pytest.raises(ValueError):
        model.with_parameters(np.zeros(3))


def test_a_categorical_model_gives_class_probabilities_and_keeps_its_outputs() -> None:
    preprocessor = Preprocessor((FeatureStats("x", "number", 0.0, 0.0, 1.0),))
    architecture = Architecture("logistic", outputs=3)
    # Class 0 below zero, 2 above, 1 near it: weights -4, 0, 4 and a bias favouring the middle.
    model = DiseaseModel(
        "risk",
        "h" * 64,
        architecture,
        preprocessor,
        np.asarray([-4.0, 0.0, 4.0, 0, 1.0, 0]),
        np.zeros((2, 1)),
    )
    probabilities = model.predict_proba([{"x": -2.0}, {"x": 0.0}, {"x": 2.0}])
    assert probabilities.shape == (3, 3) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities.argmax(axis=1).tolist() == [0, 1, 2]
    again = DiseaseModel.from_bytes(model.to_bytes())
    assert again.architecture == architecture
    assert "over 3 classes" in architecture.describe()


def test_preprocessing_imputes_standardises_and_one_hot_encodes() -> None:
    preprocessor = Preprocessor(
        (
            FeatureStats("x", "number", 1.0, 0.5, 2.0),
            FeatureStats("c", "category", "b", codes=("a", "b")),
        )
    )
    matrix = preprocessor.transform([{"x": 2.5, "c": "a"}, {"x": None, "c": None}])
    assert matrix.tolist() == [[1.0, 1.0, 0.0], [0.25, 0.0, 1.0]]
    assert preprocessor.imputed({"x": None, "c": "a"}) == ["x"]
