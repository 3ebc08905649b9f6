"""A model version as one ONNX graph, preprocessing included (pure: model in, bytes out).

Input `features`: float64 [rows, features], the raw values in the spec's feature order; a
number in the feature's own unit, a yes/no as 1 or 0, a category as the index of its code in
the spec's list (the metadata lists them); NaN where a value is missing (imputed as MedFed
imputes it). Output `probability`: float64 [rows] (P(positive)), or [rows, classes] for a
categorical outcome. Double precision throughout, so the graph reproduces MedFed's NumPy
forward pass to rounding error.

The metadata carries the public part of the model card only (architecture, public held-out
metrics and calibration, the data source, the feature list): nothing about a hospital, a
round or the people who trained it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from medfed.core.catalog import DiseaseSpec
from medfed.ml.model import DiseaseModel

OPSET = 17
PUBLIC_CARD = (
    *("disease", "title", "architecture", "parameters", "metrics", "calibration"),
    *("split", "data_source"),
)


def feature_list(spec: DiseaseSpec) -> list[dict[str, Any]]:
    """How each input column is to be filled, in order."""
    listed = []
    for index, feature in enumerate(spec.features):
        entry: dict[str, Any] = {
            "index": index,
            "name": feature.name,
            "label": feature.label,
            "type": feature.type,
        }
        if feature.type == "number":
            entry["unit"] = feature.unit
        elif feature.type == "category":
            entry["codes"] = [c.code for c in feature.categories]
            entry["labels"] = [c.label for c in feature.categories]
        listed.append(entry)
    return listed


def export(spec: DiseaseSpec, model: DiseaseModel, version: str, card: dict[str, Any]) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    stats = model.preprocessor.stats
    if [s.name for s in stats] != [f.name for f in spec.features]:
        raise ValueError("the model's preprocessing does not follow the spec's feature order")
    nodes: list[Any] = []
    constants: list[Any] = []

    def constant(name: str, value: np.ndarray) -> str:
        constants.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    fills = []
    for stat in stats:
        if stat.kind == "category":
            fills.append(float(stat.codes.index(str(stat.fill))))
        else:
            fills.append(float(stat.fill))
    nodes.append(helper.make_node("IsNaN", ["features"], ["missing"]))
    nodes.append(
        helper.make_node(
            "Where",
            ["missing", constant("fill", np.asarray(fills, dtype=np.float64)), "features"],
            ["filled"],
        )
    )
    parts = []
    for index, stat in enumerate(stats):
        column = f"column_{index}"
        nodes.append(
            helper.make_node(
                "Gather",
                ["filled", constant(f"at_{index}", np.asarray([index], dtype=np.int64))],
                [column],
                axis=1,
            )
        )
        if stat.kind == "category":
            codes = np.arange(len(stat.codes), dtype=np.float64).reshape(1, -1)
            nodes.append(
                helper.make_node(
                    "Equal", [column, constant(f"codes_{index}", codes)], [f"is_{index}"]
                )
            )
            nodes.append(
                helper.make_node("Cast", [f"is_{index}"], [f"part_{index}"], to=TensorProto.DOUBLE)
            )
        else:
            nodes.append(
                helper.make_node(
                    "Sub",
                    [column, constant(f"mean_{index}", np.asarray(stat.mean, dtype=np.float64))],
                    [f"centred_{index}"],
                )
            )
            nodes.append(
                helper.make_node(
                    "Div",
                    [
                        f"centred_{index}",
                        constant(f"scale_{index}", np.asarray(stat.scale, dtype=np.float64)),
                    ],
                    [f"part_{index}"],
                )
            )
        parts.append(f"part_{index}")
    nodes.append(helper.make_node("Concat", parts, ["inputs"], axis=1))
    logits = _network(model, nodes, constant)
    outputs = model.architecture.outputs
    if outputs == 1:
        nodes.append(helper.make_node("Sigmoid", [logits], ["chance"]))
        nodes.append(
            helper.make_node(
                "Reshape",
                ["chance", constant("flat", np.asarray([-1], dtype=np.int64))],
                ["probability"],
            )
        )
        shape: list[Any] = ["rows"]
    else:
        nodes.append(helper.make_node("Softmax", [logits], ["probability"], axis=1))
        shape = ["rows", outputs]
    graph = helper.make_graph(
        nodes,
        f"medfed_{spec.id}_{version}",
        [helper.make_tensor_value_info("features", TensorProto.DOUBLE, ["rows", len(stats)])],
        [helper.make_tensor_value_info("probability", TensorProto.DOUBLE, shape)],
        initializer=constants,
    )
    onnx_model = helper.make_model(
        graph,
        producer_name="MedFed",
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=f"MedFed {spec.title} model {version}: raw feature values in, probability out.",
    )
    onnx_model.ir_version = 8  # readable by onnxruntime releases of the last years
    public = {key: card[key] for key in PUBLIC_CARD if key in card}
    metadata = {
        "medfed.disease": spec.id,
        "medfed.version": version,
        "medfed.features": json.dumps(feature_list(spec)),
        "medfed.classes": json.dumps(list(spec.class_labels) if spec.categorical else []),
        "medfed.model_card": json.dumps(public, sort_keys=True),
        "medfed.input": "features: float64 [rows, features], spec order; categories as code "
        "indexes; NaN when missing",
    }
    helper.set_model_props(onnx_model, metadata)
    from onnx import checker

    checker.check_model(onnx_model, full_check=True)
    return bytes(onnx_model.SerializeToString())


def _network(model: DiseaseModel, nodes: list[Any], constant: Any) -> str:
    """The logits node of the network on `inputs` (parameter layout as `forward_logits`)."""
    from onnx import helper

    parameters = model.parameters.astype(np.float64)
    width = model.preprocessor.width
    outputs = model.architecture.outputs
    if model.architecture.kind == "logistic":
        weights = parameters[: outputs * width].reshape(outputs, width)
        bias = parameters[outputs * width :]
        nodes.append(
            helper.make_node(
                "Gemm",
                ["inputs", constant("w", weights), constant("b", bias)],
                ["logits"],
                transB=1,
            )
        )
        return "logits"
    hidden = model.architecture.hidden
    w1 = parameters[: hidden * width].reshape(hidden, width)
    offset = hidden * width
    b1 = parameters[offset : offset + hidden]
    offset += hidden
    w2 = parameters[offset : offset + outputs * hidden].reshape(outputs, hidden)
    b2 = parameters[offset + outputs * hidden :]
    nodes.append(
        helper.make_node(
            "Gemm", ["inputs", constant("w1", w1), constant("b1", b1)], ["hidden"], transB=1
        )
    )
    nodes.append(helper.make_node("Relu", ["hidden"], ["active"]))
    nodes.append(
        helper.make_node(
            "Gemm", ["active", constant("w2", w2), constant("b2", b2)], ["logits"], transB=1
        )
    )
    return "logits"


def raw_matrix(spec: DiseaseSpec, rows: list[dict[str, Any]]) -> np.ndarray:
    """Patients as the ONNX graph takes them (for clients and tests)."""
    matrix = np.full((len(rows), len(spec.features)), np.nan, dtype=np.float64)
    for i, row in enumerate(rows):
        for j, feature in enumerate(spec.features):
            value = row.get(feature.name)
            if value is None:
                continue
            if feature.type == "category":
                matrix[i, j] = [c.code for c in feature.categories].index(str(value))
            else:
                matrix[i, j] = float(value)
    return matrix
