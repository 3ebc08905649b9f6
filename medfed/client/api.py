"""The client's calls. Each goes through `ENDPOINTS`, which names its method, path, the body
fields it may send and the type it reads the answer into (checked against the OpenAPI)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from medfed.client.errors import MedFedAPIError
from medfed.client.types import Campaign, ModelSummary, Prediction, Round

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as in the OpenAPI, with {placeholders}
    body: tuple[str, ...] = ()  # JSON body fields this client sends (any subset)
    answer: type | None = None  # the type the answer (or each item of it) is read into
    open_body: bool = False  # the caller may add more of the schema's fields (**settings)


ENDPOINTS: dict[str, Endpoint] = {
    "login": Endpoint("POST", "/api/v1/auth/token", ("username", "password")),
    "models": Endpoint("GET", "/api/v1/models", answer=ModelSummary),
    "model": Endpoint("GET", "/api/v1/models/{disease}"),
    "predict": Endpoint(
        "POST",
        "/api/v1/models/{disease}/predict",
        ("patient", "explain", "store_inputs"),
        Prediction,
    ),
    "predict_batch": Endpoint("POST", "/api/v1/models/{disease}/predict-batch", (), Prediction),
    "onnx": Endpoint("GET", "/api/v1/models/{disease}/versions/{version}/onnx"),
    "open_round": Endpoint("POST", "/api/v1/rounds", ("disease",), Round, open_body=True),
    "rounds": Endpoint("GET", "/api/v1/rounds", answer=Round),
    "round": Endpoint("GET", "/api/v1/rounds/{round_id}", answer=Round),
    "cancel_round": Endpoint("POST", "/api/v1/rounds/{round_id}/cancel", ("reason",), Round),
    "start_campaign": Endpoint("POST", "/api/v1/campaigns", ("disease",), Campaign, open_body=True),
    "campaigns": Endpoint("GET", "/api/v1/campaigns", answer=Campaign),
    "campaign": Endpoint("GET", "/api/v1/campaigns/{campaign_id}", answer=Campaign),
    "pause_campaign": Endpoint("POST", "/api/v1/campaigns/{campaign_id}/pause", answer=Campaign),
    "resume_campaign": Endpoint("POST", "/api/v1/campaigns/{campaign_id}/resume", answer=Campaign),
    "cancel_campaign": Endpoint(
        "POST", "/api/v1/campaigns/{campaign_id}/cancel", ("reason",), Campaign
    ),
}


class MedFedClient:
    """One signed-in user's session with a MedFed server."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        verify: bool | str = True,
        timeout: float = 60.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, verify=verify, timeout=timeout
        )

    @classmethod
    def login(
        cls, url: str, username: str, password: str, *, verify: bool | str = True
    ) -> MedFedClient:
        """Sign in with a username and password; the client then carries the bearer token."""
        client = cls(url, verify=verify)
        answer = client._call("login", json={"username": username, "password": password})
        client._http.headers["Authorization"] = f"Bearer {answer['access_token']}"
        return client

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MedFedClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # Models and predictions ------------------------------------------------------------------

    def models(self) -> list[ModelSummary]:
        return [ModelSummary.of(item) for item in self._call("models")]

    def model(self, disease: str) -> dict[str, Any]:
        """The model's detail: its inputs (name, type, unit, range), versions and card."""
        return dict(self._call("model", disease=disease))

    def predict(
        self,
        disease: str,
        patient: Mapping[str, Any],
        *,
        explain: bool = True,
        store_inputs: bool = False,
    ) -> Prediction:
        body = {"patient": dict(patient), "explain": explain, "store_inputs": store_inputs}
        return Prediction.of(self._call("predict", disease=disease, json=body))

    def predict_batch(self, disease: str, csv_text: str) -> list[Prediction]:
        """A CSV (header row of feature names or aliases, one patient per row)."""
        answer = self._call(
            "predict_batch",
            disease=disease,
            content=csv_text.encode("utf-8"),
            headers={"Content-Type": "text/csv"},
        )
        return [Prediction.of(item) for item in answer["predictions"]]

    def predict_fhir(self, disease: str, resource: Mapping[str, Any]) -> dict[str, Any]:
        """A FHIR R4 Bundle (or QuestionnaireResponse) in; a Bundle of RiskAssessments out."""
        answer = self._call(
            "predict",
            disease=disease,
            content=json.dumps(resource).encode("utf-8"),
            headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
        )
        return dict(answer)

    def download_onnx(self, disease: str, version: str, target: Path | str) -> Path:
        """Write the version's ONNX file (preprocessing included) to `target`."""
        blob = self._call("onnx", disease=disease, version=version, raw=True)
        path = Path(target)
        path.write_bytes(blob)
        return path

    # Rounds and campaigns --------------------------------------------------------------------

    def open_round(self, disease: str, **settings: Any) -> Round:
        """Open a federated round; `settings` as in POST /api/v1/rounds (strategy, min_hospitals…)."""
        return Round.of(self._call("open_round", json={"disease": disease, **settings}))

    def rounds(self) -> list[Round]:
        return [Round.of(item) for item in self._call("rounds")]

    def round(self, round_id: int) -> Round:
        return Round.of(self._call("round", round_id=round_id))

    def cancel_round(self, round_id: int, reason: str) -> Round:
        return Round.of(self._call("cancel_round", round_id=round_id, json={"reason": reason}))

    def start_campaign(self, disease: str, **settings: Any) -> Campaign:
        """Start a training campaign; `settings` as in POST /api/v1/campaigns (rounds, patience,
        epsilon_budget, schedule, round…)."""
        return Campaign.of(self._call("start_campaign", json={"disease": disease, **settings}))

    def campaigns(self) -> list[Campaign]:
        return [Campaign.of(item) for item in self._call("campaigns")]

    def campaign(self, campaign_id: int) -> Campaign:
        return Campaign.of(self._call("campaign", campaign_id=campaign_id))

    def pause_campaign(self, campaign_id: int) -> Campaign:
        return Campaign.of(self._call("pause_campaign", campaign_id=campaign_id))

    def resume_campaign(self, campaign_id: int) -> Campaign:
        return Campaign.of(self._call("resume_campaign", campaign_id=campaign_id))

    def cancel_campaign(self, campaign_id: int, reason: str) -> Campaign:
        return Campaign.of(
            self._call("cancel_campaign", campaign_id=campaign_id, json={"reason": reason})
        )

    # -----------------------------------------------------------------------------------------

    def _call(
        self,
        name: str,
        *,
        json: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
        **path: Any,
    ) -> Any:
        endpoint = ENDPOINTS[name]
        if json is not None and not endpoint.open_body:
            unknown = set(json) - set(endpoint.body)
            if unknown:  # a programming error in this client, not the caller's input
                raise TypeError(f"{name} sends no field(s) {', '.join(sorted(unknown))}")
        url = endpoint.path.format(**{k: str(v) for k, v in path.items()})
        response = self._http.request(
            endpoint.method, url, json=json, content=content, headers=headers
        )
        if response.status_code >= 400:
            raise _error(response)
        if raw:
            return response.content
        return response.json() if response.content else None


def _error(response: httpx.Response) -> MedFedAPIError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    return MedFedAPIError(
        response.status_code,
        str(error.get("code", "http_error")),
        str(error.get("message", response.text[:300] or response.reason_phrase)),
        error.get("field"),
    )
