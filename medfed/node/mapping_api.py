"""Column mappings in the node's local API: the page reads a file's header, shows how each
column would be read, and saves the hospital's corrections for every later file of its shape."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from medfed.core import columns
from medfed.core.catalog import DiseaseSpec, get_disease
from medfed.core.errors import InvalidInput
from medfed.node import mappings
from medfed.node.intake import IntakeRefused, header_of
from medfed.node.policy import load_policy

HEAD_BYTES = 64 * 1024  # enough for any header row; the page sends no more


class ColumnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str = Field(max_length=500)
    role: Literal["feature", "target", "ignore", "drop"]
    feature: str | None = Field(None, max_length=100)
    unit: str | None = Field(None, max_length=50)


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disease: str = Field(max_length=100)
    header: list[str] = Field(min_length=2, max_length=2000)
    columns: list[ColumnIn] = Field(min_length=2, max_length=2000)


def _features(spec: DiseaseSpec) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "label": f.label,
            "unit": f.unit,
            "alternative_units": list(f.alternative_units),
            "required": f.required,
        }
        for f in spec.features
    ]


def _shown(
    spec: DiseaseSpec, header: list[str], choices: list[columns.Choice], saved: bool
) -> dict[str, Any]:
    return {
        "disease": spec.id,
        "header": header,
        "saved": saved,
        "columns": [c.as_dict() for c in choices],
        "features": _features(spec),
        "lacking": columns.lacking(spec, [c for c in choices if c.confirmed]),
    }


def mapping_router(node_home: Path) -> APIRouter:
    router = APIRouter(prefix="/api/mappings")

    @router.post("/proposal")
    async def proposal(
        file: Annotated[UploadFile, File(description="The first bytes of the file")],
        disease: Annotated[str, Form()],
    ) -> dict[str, Any]:
        """How each column of a file of this shape is read: the saved mapping, or the matches
        by name and proposals for the rest."""
        spec = get_disease(disease)
        load_policy(node_home).check_disease(spec.id)
        try:
            header = header_of(await file.read(HEAD_BYTES), file.filename or "the file")
            saved = mappings.load(node_home).find(spec.id, header)
        except IntakeRefused as refused:
            raise InvalidInput(str(refused), field="file") from None
        if saved is not None:
            return _shown(spec, header, saved.choices, True)
        return _shown(spec, header, columns.propose(spec, header), False)

    @router.put("")
    def save(body: MappingIn) -> dict[str, Any]:
        """Save a person's mapping (refused, with the column named, if it cannot be applied)."""
        spec = get_disease(body.disease)
        load_policy(node_home).check_disease(spec.id)
        if [c.column for c in body.columns] != body.header:
            raise InvalidInput(
                "columns must list every header column once, in order", field="columns"
            )
        choices = [
            columns.Choice(c.column, c.role, c.feature, c.unit or None, "yours")
            for c in body.columns
        ]
        try:
            for choice in choices:
                if choice.role == columns.FEATURE and choice.feature not in spec.feature_names:
                    raise columns.MappingProblem(
                        f"column {choice.header!r}: {choice.feature!r} is no feature of "
                        f"{spec.title} (its features: {', '.join(f.name for f in spec.features)})"
                    )
            columns.check(spec, choices)
        except columns.MappingProblem as problem:
            raise InvalidInput(str(problem), field="columns") from None
        lacking = columns.lacking(spec, choices)
        if lacking:
            raise InvalidInput(lacking[0].upper() + lacking[1:], field="columns")
        mappings.save(node_home, spec.id, body.header, choices)
        return _shown(spec, body.header, choices, True)

    return router
