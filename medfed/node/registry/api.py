"""The registry's routes in the node's local API (loopback only, like the rest of it)."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from medfed.core.errors import InvalidInput, PayloadTooLarge
from medfed.node.registry.codes import InvalidCode, code_sets, lookup, warm
from medfed.node.registry.store import Registry

MAX_IMPORT_BYTES = 32 * 1024**2


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    local_id: str = Field(min_length=1, max_length=64)
    birth_year: int | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None


class AdmissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hadm_id: str = Field(min_length=1, max_length=64)
    admitted_on: str | None = None


class DiagnosisIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    icd_code: str = Field(min_length=1, max_length=16)
    icd_version: Literal[9, 10] = 10
    seq_num: int = Field(ge=1, le=999)


def registry_router(node_home: Path) -> APIRouter:
    router = APIRouter(prefix="/api/registry")
    # The code sets take seconds to load: not while the first person waits for a description.
    threading.Thread(target=warm, name="icd-code-sets", daemon=True).start()

    @cache
    def registry() -> Registry:
        return Registry(node_home)

    @router.get("")
    def overview() -> dict[str, Any]:
        return {"counts": registry().counts(), "code_sets": code_sets()}

    @router.get("/patients")
    def patients(search: str | None = None) -> dict[str, Any]:
        if search is not None and len(search) > 200:
            raise InvalidInput("search is at most 200 characters", field="search")
        return {"patients": [p.as_dict() for p in registry().patients(search)]}

    @router.post("/patients", status_code=201)
    def register(body: PatientIn) -> dict[str, Any]:
        patient = registry().register(body.name, body.local_id, body.birth_year, body.sex)
        return patient.as_dict()

    @router.get("/patients/{secure_id}")
    def patient(secure_id: str) -> dict[str, Any]:
        found, admissions = registry().patient(secure_id)
        return {**found.as_dict(), "admission_list": [a.as_dict() for a in admissions]}

    @router.post("/patients/{secure_id}/admissions", status_code=201)
    def admit(secure_id: str, body: AdmissionIn) -> dict[str, Any]:
        return registry().admit(secure_id, body.hadm_id, body.admitted_on).as_dict()

    @router.post("/admissions/{hadm_id}/diagnoses", status_code=201)
    def diagnose(hadm_id: str, body: DiagnosisIn) -> dict[str, Any]:
        diagnosis = registry().diagnose(hadm_id, body.icd_code, body.icd_version, body.seq_num)
        return {"hadm_id": hadm_id, **diagnosis.as_dict()}

    @router.post("/imports", status_code=201)
    async def import_file(file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        content = await file.read(MAX_IMPORT_BYTES + 1)
        if len(content) > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(
                f"the file is over {MAX_IMPORT_BYTES // 1024**2} MiB: split it", field="file"
            )
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(
                "the file is not UTF-8 text: save it as UTF-8 CSV", field="file"
            ) from None
        return registry().import_diagnoses(text).as_dict()

    @router.get("/codes/{icd_code}")
    def code(icd_code: str, version: int = 10) -> dict[str, Any]:
        try:
            return lookup(icd_code, version).as_dict()
        except InvalidCode as exc:
            raise InvalidInput(str(exc), field="icd_code") from None

    return router
