"""The node's local API, for the hospital's own staff on this machine (loopback only).

Files uploaded here stay in the node home; this process talks to the MedFed server only to pull
the global model and to send updates, exactly like the command line.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from medfed import __version__
from medfed.core.catalog import get_disease, load_catalog
from medfed.core.config import Settings
from medfed.core.errors import Conflict, InvalidInput, MedFedError, NotFound, status_for
from medfed.core.headers import SecurityHeaders
from medfed.fl.privacy import effective_cap
from medfed.node.client import ServerClient
from medfed.node.contribute import contribute
from medfed.node.credential import load_credential, require_credential
from medfed.node.held_models import held
from medfed.node.intake import IntakeRefused, check_file
from medfed.node.local_predict import predict_admission, predict_both
from medfed.node.local_rounds import LocalParticipation
from medfed.node.mapping_api import mapping_router
from medfed.node.mappings import load as load_mappings
from medfed.node.personalise import personalise
from medfed.node.policy import load_policy, network_cap
from medfed.node.registry.api import registry_router
from medfed.node.rounds import Participation
from medfed.node.state import NodeState
from medfed.node.tls import client_for
from medfed.node.training import TrainRequest, run_training

MAX_UPLOAD_BYTES = 4 * 1024**3
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
PAGE_DIR = Path(__file__).with_name("static")
SHARED_STATIC = Path(__file__).parents[1] / "server" / "web" / "static"
# What the page needs to draw a feature's input.
INPUT_FIELDS = {"name", "label", "type", "unit", "range", "required", "help", "categories"}


@dataclass
class JobProgress:
    job_id: str
    disease: str
    status: str = "running"
    phase: str = "starting"
    done: int = 0
    total: int = 0
    loss: float | None = None
    started: float = field(default_factory=time.monotonic)
    error: str | None = None
    result: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        percent = 100.0 * self.done / self.total if self.total else 0.0
        elapsed = time.monotonic() - self.started
        eta = (
            elapsed * (self.total - self.done) / self.done
            if self.phase == "training" and self.done
            else None
        )
        return {
            "job_id": self.job_id,
            "disease": self.disease,
            "status": self.status,
            "phase": self.phase,
            "percent": round(percent, 1),
            "rows_read": self.done if self.phase == "reading" else None,
            "loss": self.loss,
            "eta_seconds": None if eta is None else round(eta, 1),
            "error": self.error,
            "result": self.result,
        }


class ParticipateIn(BaseModel):
    upload_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    disease: str


class TrainIn(BaseModel):
    upload_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    disease: str
    drop_columns: list[str] = Field(default_factory=list)
    skip_invalid_rows: bool = False
    epochs: int = Field(5, ge=1, le=1000)
    batch_size: int = Field(32, ge=1)
    learning_rate: float | None = Field(None, gt=0, le=10)  # None: the node's default
    proximal_mu: float = Field(0.0, ge=0)
    target_epsilon: float | None = Field(None, gt=0)
    # Keep the result as this hospital's own model beside the served one it starts from
    # (fine-tuning the served model rather than the training line's head).
    personalise: bool = False


class PredictIn(BaseModel):
    disease: str
    patient: dict[str, Any]


def create_local_app(settings: Settings) -> FastAPI:
    node_home = settings.node_home
    uploads = node_home / "uploads"
    app = FastAPI(title="MedFed node", version=__version__, docs_url=None, redoc_url=None)
    jobs: dict[str, JobProgress] = {}

    @app.middleware("http")
    async def only_this_machine(request: Request, call_next: Any) -> Response:
        # Refuse other Host headers too: a web page elsewhere must not reach this API by DNS rebinding.
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        # A page from another site may send a simple cross-origin POST; only this page may act.
        origin = request.headers.get("origin")
        origin_host = (origin or "").split("://", 1)[-1].rsplit(":", 1)[0]
        if host not in LOOPBACK_HOSTS or (origin is not None and origin_host not in LOOPBACK_HOSTS):
            return JSONResponse(
                {"error": {"code": "permission_denied", "message": "Local requests only."}}, 403
            )
        response: Response = await call_next(request)
        return response

    @app.exception_handler(MedFedError)
    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MedFedError)
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse({"error": body}, status_code=status_for(exc))

    def client() -> ServerClient:
        credential = require_credential(node_home)
        return client_for(node_home, credential)

    def upload_path(upload_id: str) -> Path:
        path = uploads / f"{upload_id}.csv"
        if not path.exists():
            raise NotFound("That upload is gone; upload the file again.", field="upload_id")
        return path

    participation = LocalParticipation(node_home)
    app.include_router(registry_router(node_home))
    app.include_router(mapping_router(node_home))
    app.mount("/static", StaticFiles(directory=SHARED_STATIC), name="static")
    app.mount("/node-static", StaticFiles(directory=PAGE_DIR), name="node-static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(PAGE_DIR / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/models", include_in_schema=False)
    def models_page() -> FileResponse:
        return FileResponse(PAGE_DIR / "models.html", headers={"Cache-Control": "no-store"})

    @app.get("/registry", include_in_schema=False)
    def registry_page() -> FileResponse:
        return FileResponse(PAGE_DIR / "registry.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        credential = load_credential(node_home)
        state = NodeState(node_home)
        spent = {d: state.spent(d).__dict__ for d in sorted({e.disease for e in state.ledger()})}
        policy = load_policy(node_home)
        network: float | None = None
        if credential is not None:
            try:
                with client() as server:
                    network = network_cap(server.policy())
            except MedFedError:
                network = None  # the server is unreachable: show the local cap alone
        cap = effective_cap(network, policy.epsilon_cap)
        return {
            "enrolled": credential is not None,
            "hospital": credential.hospital_name if credential else None,
            "server": credential.server_url if credential else None,
            "policy": policy.model_dump(),
            "privacy_spent": spent,
            "effective_cap": cap if math.isfinite(cap) else None,
            "diseases": [
                {"id": d, "title": s.title}
                for d, s in load_catalog().items()
                if policy.diseases is None or d in policy.diseases
            ],
            "version": __version__,
        }

    @app.get("/api/rounds")
    def rounds() -> dict[str, Any]:
        if load_credential(node_home) is None:  # a state of this node, not an error of the page
            return {
                "rounds": [],
                "running": False,
                "activity": [],
                "enrolled": False,
                "message": "This node is not enrolled yet: run medfed node enroll --server URL "
                "--token TOKEN to see the network's rounds.",
            }
        with client() as server:
            listed = server.rounds()
        return {
            "rounds": sorted(listed, key=lambda r: -int(r["id"]))[:10],
            "running": participation.running,
            "activity": list(participation.log),
            "enrolled": True,
        }

    @app.post("/api/rounds/participate", status_code=202)
    def participate(body: ParticipateIn) -> dict[str, Any]:
        path = upload_path(body.upload_id)
        load_policy(node_home).check_disease(get_disease(body.disease).id)
        started = participation.start(client(), Participation(body.disease, path))
        if not started:
            raise Conflict("This node is already taking part in a round; wait for it to finish.")
        return {"running": True, "activity": list(participation.log)}

    @app.post("/api/uploads")
    async def upload(
        file: Annotated[UploadFile, File()],
        disease: Annotated[str, Form()],
        drop_columns: Annotated[str, Form()] = "",
    ) -> dict[str, Any]:
        """Keep the file in the node home and return its validation report."""
        spec = get_disease(disease)
        uploads.mkdir(parents=True, exist_ok=True)
        upload_id = secrets.token_hex(16)
        path = uploads / f"{upload_id}.csv"
        size = 0
        with path.open("wb") as handle:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    handle.close()
                    path.unlink()
                    raise InvalidInput("The file is larger than 4 GiB.", field="file")
                handle.write(chunk)
        path.chmod(0o600)
        drops = {c.strip() for c in drop_columns.split(",") if c.strip()}
        try:
            report = check_file(spec, path, drop_columns=drops, mappings=load_mappings(node_home))
        except IntakeRefused as refused:
            path.unlink()
            # Said of the file the person chose, not of the copy kept here.
            shown = Path(file.filename or "the file").name
            raise InvalidInput(str(refused).replace(path.name, shown), field="file") from None
        return {"upload_id": upload_id, "report": report.as_dict()}

    @app.post("/api/jobs", status_code=202)
    def start_job(body: TrainIn) -> dict[str, Any]:
        path = upload_path(body.upload_id)
        request = TrainRequest(
            disease=body.disease,
            path=path,
            drop_columns=frozenset(body.drop_columns),
            skip_invalid_rows=body.skip_invalid_rows,
            epochs=body.epochs,
            batch_size=body.batch_size,
            learning_rate=body.learning_rate,
            proximal_mu=body.proximal_mu,
            target_epsilon=body.target_epsilon,
        )
        job_id = secrets.token_hex(8)
        progress = JobProgress(job_id, body.disease)
        jobs[job_id] = progress

        def on_progress(phase: str, done: int, total: int, loss: float) -> None:
            progress.phase, progress.done, progress.total = phase, done, total
            progress.loss = None if math.isnan(loss) else round(loss, 5)

        def work() -> None:
            try:
                with client() as server:
                    if body.personalise:
                        kept = personalise(
                            node_home, server, request, on_progress=on_progress, job_id=job_id
                        )
                        progress.result = {"models": [m.as_dict() for m in kept]}
                        progress.status, progress.phase = "personalised", "done"
                        return
                    result = run_training(
                        node_home, server, request, on_progress=on_progress, job_id=job_id
                    )
                progress.result, progress.status, progress.phase = (
                    result.as_dict(),
                    "trained",
                    "done",
                )
            except MedFedError as exc:
                progress.status, progress.error = "failed", exc.message
            except Exception as exc:  # a job thread must always report how it ended
                progress.status, progress.error = (
                    "failed",
                    f"unexpected error: {type(exc).__name__}",
                )

        threading.Thread(target=work, name=f"job-{job_id}", daemon=True).start()
        return progress.as_dict()

    @app.get("/api/models")
    def models() -> dict[str, Any]:
        return {"models": [m.as_dict() for m in held(node_home)]}

    @app.get("/api/diseases/{disease}")
    def disease_inputs(disease: str) -> dict[str, Any]:
        spec = get_disease(disease)
        return {
            "id": spec.id,
            "title": spec.title,
            "features": [f.model_dump(include=INPUT_FIELDS) for f in spec.features],
        }

    @app.post("/api/predict")
    def predict(body: PredictIn) -> dict[str, Any]:
        return predict_both(node_home, body.disease, body.patient)

    @app.get("/api/registry/patients/{secure_id}/risk")
    def admission_risk(secure_id: str, admission: str | None = None) -> dict[str, Any]:
        """The comorbidity risk of a registered patient's admission, with both models."""
        return predict_admission(node_home, secure_id, admission)

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str) -> dict[str, Any]:
        if job_id in jobs:
            return jobs[job_id].as_dict()
        stored = NodeState(node_home).job(job_id)
        if stored is None:
            raise NotFound(f"There is no job {job_id}.")
        return {
            "job_id": stored.id,
            "disease": stored.disease,
            "status": stored.status,
            "phase": "done",
            "percent": 100.0,
            "result": stored.result,
            "error": stored.error,
        }

    @app.post("/api/jobs/{job_id}/contribute")
    def contribute_job(job_id: str) -> dict[str, Any]:
        with client() as server:
            return contribute(node_home, server, job_id)

    app.add_middleware(SecurityHeaders)
    return app
