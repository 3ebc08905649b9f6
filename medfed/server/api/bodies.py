"""Request bodies that come either as JSON or as a binary frame (core/frames.py): the vector
of an update or a masked input travels raw, its fields in the frame's small JSON header.

The body is read once; the vector stays a view of it. Errors take the same path as FastAPI's own
(400 for JSON that does not parse, 422 naming the field otherwise).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from medfed.core import frames

Model = TypeVar("Model", bound=BaseModel)


async def json_or_frame(request: Request) -> tuple[Any, memoryview | None]:
    """The JSON body, or a frame's header and its vector's bytes."""
    body = await request.body()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == frames.CONTENT_TYPE:
        return frames.unpack(body)
    try:
        return json.loads(body), None
    except ValueError as exc:  # not UTF-8 or not JSON
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON", "ctx": {"error": str(exc)}}]
        ) from None


def validated(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in problems]
        ) from None


async def update_fields(
    request: Request, whole: type[BaseModel], header: type[BaseModel]
) -> dict[str, Any]:
    """An update's fields, from a JSON body checked against `whole` (the vector as base64 in
    `update`) or from a frame whose header is checked against `header` (the vector raw)."""
    data, vector = await json_or_frame(request)
    if vector is None:
        return validated(whole, data).model_dump()
    return {**validated(header, data).model_dump(), "update": vector}


def documented(model: type[BaseModel], binary: str) -> dict[str, Any]:
    """OpenAPI for such a body (`openapi_extra`): the JSON model, and the frame beside it."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # the models it refers to are the API's components already
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                frames.CONTENT_TYPE: {
                    "schema": {"type": "string", "format": "binary", "description": binary}
                },
            },
        }
    }
