"""The node's HTTP client for the server: the node always calls out, never listens."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from medfed import __version__
from medfed.core import errors, frames
from medfed.core.clock import utcnow

API = "/api/v1"
POLICY_SECONDS = 10.0  # how long the network's policy is reused before it is asked again
KEPT_ARTIFACTS = 4  # model artifacts kept in memory by their hash
LISTING_TAG = "X-MedFed-Listing-Tag"
ROUND_STEPS = "/nodes/rounds/"
ERROR_BY_STATUS: dict[int, type[errors.MedFedError]] = {
    400: errors.MalformedRequest,
    401: errors.AuthenticationFailed,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    422: errors.InvalidInput,
    503: errors.ServiceUnavailable,
}


@dataclass(frozen=True)
class Listing:
    """One answer of `watch_rounds`: the rounds (None: unchanged) and the tag to send back."""

    rounds: list[dict[str, Any]] | None
    tag: str | None
    analytics: int = 0  # live analytics queries asked of this hospital (the server's header)


# What OpenSSL says when the server refuses this node's certificate during the handshake.
REFUSED_CERTIFICATE = ("ALERT_CERTIFICATE", "ALERT_UNKNOWN_CA", "ALERT_BAD_CERTIFICATE")


def unreachable(
    url: str,
    error: httpx.HTTPError,
    hint: str = "",
    certificate_expires: datetime | None = None,
) -> errors.MedFedError:
    """A failed connection in words: a TLS refusal by either side is not an outage, and says
    what to do (AuthenticationFailed: retrying cannot help); anything else is. Under TLS 1.3
    the server's refusal of a client certificate often reaches the client as a bare hang-up,
    so the node's own expired certificate is named from what the node knows."""
    if certificate_expires is not None and utcnow() > certificate_expires:
        return errors.AuthenticationFailed(
            f"This node's client certificate expired on {certificate_expires:%Y-%m-%d %H:%M} "
            f"UTC, so the server at {url} refuses it. Enroll again with a new token "
            "(`medfed node enroll --force`); a running node renews it before it expires."
        )
    text = str(error).upper()
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return errors.AuthenticationFailed(
            f"The server at {url} showed a TLS certificate this node does not trust: not from "
            "the network authority pinned at enrollment, or not for this address. Check the "
            "address; if the network's authority changed, enroll again with a new token."
        )
    if any(alert in text for alert in REFUSED_CERTIFICATE):
        return errors.AuthenticationFailed(
            f"The server at {url} refused this node's client certificate (expired, or not from "
            "this network's authority). Enroll again with a new token (`medfed node enroll "
            "--force`); a running node renews its certificate before it expires."
        )
    return errors.ServiceUnavailable(
        f"Cannot reach the MedFed server at {url} ({type(error).__name__}). {hint}".strip()
    )


def check_server_url(url: str) -> str:
    """HTTPS, except plain HTTP to this machine (tests and demos)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise errors.InvalidInput(
            f"{url!r} is not a server address; use https://medfed.example.org", field="server"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise errors.InvalidInput(
            "Plain http is allowed only to this machine; use https:// for a remote server.",
            field="server",
        )
    return url.strip().rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServerClient:
    def __init__(
        self,
        server_url: str,
        credential: str | None = None,
        timeout: float = 30.0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        certificate_expires: datetime | None = None,
    ) -> None:
        """`ssl_context`: the node's pinned authority and client certificate (node/tls.py);
        None: the system's authorities, no client certificate. `certificate_expires`: when
        that certificate does, to explain a refusal."""
        self.server_url = check_server_url(server_url)
        headers = {"User-Agent": f"medfed-node/{__version__}"}
        if credential:
            headers["Authorization"] = f"Bearer {credential}"
        self._timeout = timeout
        self._ssl = ssl_context
        self.certificate_expires = certificate_expires
        self._http = httpx.Client(
            base_url=self.server_url,
            headers=headers,
            timeout=timeout,
            verify=ssl_context if ssl_context is not None else True,
        )
        self._policy: tuple[float, dict[str, Any]] | None = None
        # Artifacts by their SHA-256 (the server names them so): a round's base is usually the
        # previous round's candidate, which this node has just evaluated.
        self._artifacts: OrderedDict[str, bytes] = OrderedDict()
        # The listing tag the round steps being sent act on (see `acting_on`).
        self._acting_on: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def acting_on(self, tag: str | None) -> None:
        """Round steps sent from now on act on the listing with this tag: each sends it, and
        the server answers with the tag of the listing with the step in it if nothing else
        changed (`handed_tag`)."""
        self._acting_on = tag

    def handed_tag(self) -> str | None:
        """The tag to long-poll with after the steps sent since `acting_on`: the one the last
        step was handed, the listing's own if no step was sent, None if a step was handed none
        (something else changed, or a step failed), and forgets it."""
        tag, self._acting_on = self._acting_on, None
        return tag

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        step = method == "POST" and path.startswith(ROUND_STEPS) and self._acting_on is not None
        if step:
            kwargs["headers"] = {**kwargs.get("headers", {}), LISTING_TAG: self._acting_on}
        try:
            response = self._http.request(method, API + path, **kwargs)
        except httpx.HTTPError as exc:
            self._acting_on = None
            raise self._unreachable(exc, "Check the address and that it is running.") from None
        if step:
            self._acting_on = response.headers.get(LISTING_TAG) if response.is_success else None
        if response.is_success:
            return response.json() if response.content else None
        self._raise(response)

    @staticmethod
    def _raise(response: httpx.Response) -> None:
        try:
            detail = response.json()["error"]
            message, field = str(detail["message"]), detail.get("field")
        except (ValueError, KeyError, TypeError):
            message, field = f"The server answered {response.status_code}.", None
        kind = ERROR_BY_STATUS.get(response.status_code, errors.MedFedError)
        if response.status_code == 429:
            raise errors.TooManyRequests(
                message, retry_after=int(response.headers.get("retry-after", "60"))
            )
        raise kind(message, field=field)

    def enroll(
        self, token: str, node_name: str, certificate_request: str | None = None
    ) -> dict[str, Any]:
        body = {
            "token": token,
            "node_name": node_name,
            "software_version": __version__,
            "certificate_request": certificate_request,
        }
        result: dict[str, Any] = self._request("POST", "/nodes/enroll", json=body)
        return result

    def _unreachable(self, error: httpx.HTTPError, hint: str = "") -> errors.MedFedError:
        return unreachable(self.server_url, error, hint, self.certificate_expires)

    def use_identity(self, path: str, expires: datetime) -> None:
        """Present this key and certificate file from the next connection on (a renewal)."""
        if self._ssl is not None:
            self._ssl.load_cert_chain(path)
            self.certificate_expires = expires

    def renew_certificate(self, certificate_request: str) -> dict[str, Any]:
        body = {"certificate_request": certificate_request}
        result: dict[str, Any] = self._request("POST", "/nodes/me/certificate", json=body)
        return result

    def whoami(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/nodes/me")
        return result

    def policy(self) -> dict[str, Any]:
        """The network's policy, asked again once it is POLICY_SECONDS old (a round's steps
        ask for it several times within a few seconds)."""
        now = time.monotonic()
        if self._policy is None or now - self._policy[0] >= POLICY_SECONDS:
            self._policy = (now, self._request("GET", "/nodes/policy"))
        return dict(self._policy[1])

    def download_model(self, disease: str, line: str = "served") -> tuple[bytes, str]:
        """A model's artifact and its version label, checked against the sent hash: the served
        version, or with line="training" the training line's newest checkpoint."""
        suffix = "?line=training" if line == "training" else ""
        return self._artifact(f"/nodes/models/{disease}{suffix}")

    def _artifact(self, path: str) -> tuple[bytes, str]:
        blob, version, sha256 = self._download(path)
        self._artifacts[sha256] = blob
        while len(self._artifacts) > KEPT_ARTIFACTS:
            self._artifacts.popitem(last=False)
        return blob, version

    def _kept(self, sha256: str | None) -> bytes | None:
        """An artifact this client downloaded before (checked then against its hash)."""
        if sha256 is None or sha256 not in self._artifacts:
            return None
        self._artifacts.move_to_end(sha256)
        return self._artifacts[sha256]

    def _download(self, path: str) -> tuple[bytes, str, str]:
        try:
            response = self._http.get(API + path)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if not response.is_success:
            self._raise(response)
        blob = response.content
        sha256 = hashlib.sha256(blob).hexdigest()
        if sha256 != response.headers.get("x-medfed-artifact-sha256"):
            raise errors.ServiceUnavailable(
                "The model download was corrupted in transit; try again."
            )
        return blob, response.headers["x-medfed-model-version"], sha256

    def contribute(self, fields: dict[str, Any], update: np.ndarray) -> dict[str, Any]:
        """A buffered contribution: the update as raw float32 in a binary frame."""
        result: dict[str, Any] = self._send_frame(
            "/nodes/contributions", fields, update.astype("<f4", copy=False)
        )
        return result

    def report_spend(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", "/nodes/privacy-spend", json={"entries": entries}
        )
        return result

    def report_inventory(self, inventory: dict[str, Any]) -> None:
        self._request("PUT", "/nodes/me/inventory", json=inventory)

    # Rounds -----------------------------------------------------------------------------------

    def rounds(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/nodes/rounds")
        return result

    def watch_rounds(self, tag: str | None, wait: float) -> Listing:
        """The rounds listing, long-polled: with the tag of the listing last acted on, the
        server holds the request up to `wait` seconds until something changes (rounds None
        if nothing did). A server without long polls answers at once, with no tag."""
        headers = {"If-None-Match": tag} if tag else {}
        params = {"wait": f"{wait:g}"} if tag else {}
        timeout = httpx.Timeout(self._timeout, read=wait + self._timeout)
        try:
            response = self._http.get(
                API + "/nodes/rounds", params=params, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        new_tag = response.headers.get("etag")
        try:
            asked = int(response.headers.get("x-medfed-analytics", "0"))
        except ValueError:
            asked = 0
        if response.status_code == 304:
            return Listing(None, new_tag or tag, asked)
        if not response.is_success:
            self._raise(response)
        return Listing(response.json(), new_tag, asked)

    # Analytics --------------------------------------------------------------------------------

    def analytics(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/nodes/analytics")
        return result

    def analytics_decline(self, query_id: int, reason: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", f"/nodes/analytics/{query_id}/decline", json={"reason": reason[:500]}
        )
        return result

    def analytics_answer(self, query_id: int, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", f"/nodes/analytics/{query_id}/answer", json=body
        )
        return result

    def analytics_send(self, query_id: int, stage: str, message: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", f"/nodes/analytics/{query_id}/secagg/{stage}", json=message
        )
        return result

    def round(self, round_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/nodes/rounds/{round_id}")
        return result

    def join_round(self, round_id: int, rows: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", f"/nodes/rounds/{round_id}/join", json={"rows": rows}
        )
        return result

    def round_base(self, round_: dict[str, Any]) -> tuple[bytes, str]:
        """The round's base model and its version label (from `round_`, a listing entry),
        downloaded only if this client does not hold it already."""
        kept = self._kept(round_.get("base_artifact"))
        if kept is not None:
            return kept, str(round_["base_version"])
        return self._artifact(f"/nodes/rounds/{round_['id']}/base")

    def round_candidate(self, round_: dict[str, Any]) -> bytes:
        kept = self._kept(round_.get("candidate_artifact"))
        if kept is not None:
            return kept
        return self._artifact(f"/nodes/rounds/{round_['id']}/candidate")[0]

    def round_served(self, round_id: int) -> bytes:
        """The version doctors were served when the candidate was made: what it must beat."""
        return self._artifact(f"/nodes/rounds/{round_id}/served")[0]

    def submit_update(
        self, round_id: int, fields: dict[str, Any], update: np.ndarray
    ) -> dict[str, Any]:
        """The update as raw float32 in a binary frame, its fields in the frame's header."""
        result: dict[str, Any] = self._send_frame(
            f"/nodes/rounds/{round_id}/update", fields, update.astype("<f4", copy=False)
        )
        return result

    def report_evaluation(self, round_id: int, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", f"/nodes/rounds/{round_id}/evaluation", json=body
        )
        return result

    def secagg_view(self, round_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/nodes/rounds/{round_id}/secagg")
        return result

    def secagg_aggregate(self, round_id: int) -> bytes:
        """A homomorphic round's encrypted sum, to decrypt."""
        try:
            response = self._http.get(API + f"/nodes/rounds/{round_id}/secagg/aggregate")
        except httpx.HTTPError as exc:
            raise self._unreachable(exc, "Check the address and that it is running.") from None
        if not response.is_success:
            self._raise(response)
        return bytes(response.content)

    def secagg_send(
        self, round_id: int, stage: str, message: dict[str, Any], vector: np.ndarray | None = None
    ) -> dict[str, Any]:
        """One stage's message; a vector (the masked input) goes raw, in a binary frame."""
        path = f"/nodes/rounds/{round_id}/secagg/{stage}"
        if vector is not None:
            result: dict[str, Any] = self._send_frame(path, message, vector)
        else:
            result = self._request("POST", path, json=message)
        return result

    def _send_frame(self, path: str, header: dict[str, Any], vector: np.ndarray) -> Any:
        return self._request(
            "POST",
            path,
            content=frames.pack(header, vector.tobytes()),
            headers={"Content-Type": frames.CONTENT_TYPE},
        )
