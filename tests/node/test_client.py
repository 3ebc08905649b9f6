from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from medfed.core.errors import Conflict, InvalidInput
from medfed.node import enroll as node_enroll
from medfed.node.client import ServerClient, check_server_url
from tests.node.conftest import admin_headers, open_heart_round
from tests.utils.processes import ServerProcess, hospital_token


@pytest.mark.parametrize(
    "url",
    [
        "https://medfed.example.org",
        "http://127.0.0.1:8000",
        "http://localhost:8000/",
        "http://[::1]:8000",
    ],
)
def test_https_or_loopback_http_is_accepted(url: str) -> None:
    assert check_server_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://medfed.example.org", "http://10.0.0.5:8000", "ftp://x", "medfed.example.org"]
)
def test_plain_http_to_remote_hosts_and_non_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_server_url(url)
    assert caught.value.field == "server"


def _enrolled(
    live_server: tuple[ServerProcess, dict[str, str]], tmp_path: Path, hospital: str
) -> ServerClient:
    """A client with the credential of a node enrolled for a new hospital."""
    process, env = live_server
    token = hospital_token(env, hospital)
    credential = node_enroll.enroll(tmp_path / "node", process.url, token, node_name="node")
    return ServerClient(process.url, credential.credential)


def test_the_policy_is_reused_briefly_and_a_held_base_model_is_not_downloaded_again(
    live_server: tuple[ServerProcess, dict[str, str]], tmp_path: Path, trained_db: Session
) -> None:
    process = live_server[0]
    client = _enrolled(live_server, tmp_path, "Client Cache Hospital")
    asked: list[str] = []
    client._http.event_hooks["request"].append(lambda request: asked.append(request.url.path))
    assert client.policy() == client.policy() and asked.count("/api/v1/nodes/policy") == 1
    blob, version = client.download_model("heart")
    round_id = open_heart_round(process, admin_headers(process, trained_db)).json()["id"]
    listed = next(r for r in client.rounds() if r["id"] == round_id)
    assert listed["base_version"] == version and listed["candidate_artifact"] is None
    assert client.round_base(listed) == (blob, version)
    assert f"/api/v1/nodes/rounds/{round_id}/base" not in asked  # held: the served v1.0
    # A base it does not hold (or a listing without the hash) is downloaded and checked.
    assert client.round_base({**listed, "base_artifact": "0" * 64}) == (blob, version)
    assert asked.count(f"/api/v1/nodes/rounds/{round_id}/base") == 1


def test_round_steps_carry_the_listing_tag_and_a_refused_step_hands_none_back(
    live_server: tuple[ServerProcess, dict[str, str]], tmp_path: Path, trained_db: Session
) -> None:
    process = live_server[0]
    client = _enrolled(live_server, tmp_path, "Client Tag Hospital")
    round_id = open_heart_round(process, admin_headers(process, trained_db)).json()["id"]
    listing = client.watch_rounds(None, 0)
    client.acting_on(listing.tag)
    client.join_round(round_id, 200)
    handed = client.handed_tag()
    assert handed is not None and handed != listing.tag
    assert client.watch_rounds(handed, 0.2).rounds is None  # the poll holds: nothing new
    client.acting_on(handed)
    with pytest.raises(Conflict):
        client.join_round(round_id, 200)  # already in: refused, so no tag is handed back
    assert client.handed_tag() is None
    client.acting_on(listing.tag)
    assert client.handed_tag() == listing.tag  # no step sent: the listing's own tag
