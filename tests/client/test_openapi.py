"""The client cannot drift from the API: every call it makes, the body fields it sends and the
answer fields it reads are checked against the server's own OpenAPI description."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from medfed.client import ENDPOINTS, Endpoint
from medfed.client.types import Prediction, answer_fields


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:  # Optional[X]: the non-null branch
            branches = [b for b in schema[key] if b.get("type") != "null"]
            return _resolve(spec, branches[0])
    return schema


def disagreements(spec: dict[str, Any], name: str, endpoint: Endpoint) -> list[str]:
    """Where one client call and the API disagree (empty: they agree)."""
    operation = spec["paths"].get(endpoint.path, {}).get(endpoint.method.lower())
    if operation is None:
        return [f"{name}: the API has no {endpoint.method} {endpoint.path}"]
    found = []
    if endpoint.body:
        content = operation.get("requestBody", {}).get("content", {})
        schema = _resolve(spec, content.get("application/json", {}).get("schema", {}))
        properties = schema.get("properties", {})
        found += [
            f"{name}: the API takes no body field {f!r}"
            for f in endpoint.body
            if f not in properties
        ]
        found += [
            f"{name}: the API requires {f!r}, which the client never sends"
            for f in schema.get("required", [])
            if f not in endpoint.body
        ]
    if endpoint.answer is not None:
        answer = operation["responses"]
        ok = next(answer[code] for code in ("200", "201") if code in answer)
        schema = _resolve(spec, ok["content"]["application/json"]["schema"])
        if schema.get("type") == "array":
            schema = _resolve(spec, schema["items"])
        if "predictions" in schema.get("properties", {}):  # a batch: its items
            schema = _resolve(spec, schema["properties"]["predictions"]["items"])
        properties = schema.get("properties", {})
        found += [
            f"{name}: the API's answer has no field {f!r}"
            for f in answer_fields(endpoint.answer)
            if f not in properties
        ]
    return found


def test_every_client_call_matches_the_openapi_description(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    problems = [p for name, e in ENDPOINTS.items() for p in disagreements(spec, name, e)]
    assert problems == []
    # The check itself can fail: a renamed path, a body field and an answer field the API
    # does not have are each reported.
    drifted = {
        "gone": Endpoint("GET", "/api/v1/modelz"),
        "body": Endpoint("POST", "/api/v1/models/{disease}/predict", ("patient", "patients")),
        "answer": Endpoint("GET", "/api/v1/rounds", answer=Prediction),
    }
    reported = [p for name, e in drifted.items() for p in disagreements(spec, name, e)]
    assert any("no GET /api/v1/modelz" in p for p in reported)
    assert any("no body field 'patients'" in p for p in reported)
    assert any("answer has no field 'probability'" in p for p in reported)
