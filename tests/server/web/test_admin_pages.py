"""Administrator pages over HTTP: bad forms are explained, nothing is half-done."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.server.db.tables import EnrollmentToken, ModelVersion, Round
from tests.factories import make_node, make_user
from tests.server.web.test_pages import csrf_from, sign_in


def _admin(client: TestClient, db: Session) -> str:
    make_user(db, "admin", username="admin.pages")
    db.rollback()
    assert sign_in(client, "admin.pages").status_code == 303
    return csrf_from(client.get("/admin/rounds").text)


def test_round_form_errors_keep_the_values_and_open_nothing(
    trained_client: TestClient, trained_db: Session
) -> None:
    token = _admin(trained_client, trained_db)
    bad = trained_client.post(
        "/admin/rounds",
        data={"csrf_token": token, "disease": "heart", "min_hospitals": "0", "local_epochs": "7"},
    )
    assert bad.status_code == 422 and "min hospitals" in bad.text
    assert 'value="7"' in bad.text
    unknown = trained_client.post(
        "/admin/rounds", data={"csrf_token": token, "disease": "flu", "min_hospitals": "2"}
    )
    assert unknown.status_code == 409 and "flu" in unknown.text
    trained_db.rollback()
    assert trained_db.scalars(select(Round)).all() == []
    trained_db.rollback()  # SQLite: release the read before the server writes
    opened = trained_client.post(
        "/admin/rounds",
        data={"csrf_token": token, "disease": "heart", "min_hospitals": "2", "secure": "yes"},
        follow_redirects=False,
    )
    assert opened.status_code == 303
    twice = trained_client.post(
        "/admin/rounds", data={"csrf_token": token, "disease": "heart", "min_hospitals": "2"}
    )
    assert twice.status_code == 409
    trained_db.rollback()
    assert len(trained_db.scalars(select(Round)).all()) == 1
    trained_db.rollback()
    cancel = trained_client.post(
        f"/admin/rounds/{opened.headers['location'].split('/')[3].split('?')[0]}/cancel",
        data={"csrf_token": token, "reason": "no"},
    )
    assert cancel.status_code == 200 and "at least 5 characters" in cancel.text


def test_rollback_needs_a_reason(trained_client: TestClient, trained_db: Session) -> None:
    token = _admin(trained_client, trained_db)
    answer = trained_client.post(
        "/admin/models/heart/activate", data={"csrf_token": token, "version": "v1.0", "reason": ""}
    )
    assert answer.status_code == 200 and 'role="alert"' in answer.text
    trained_db.rollback()
    active = trained_db.scalars(
        select(ModelVersion).where(ModelVersion.disease == "heart", ModelVersion.is_active)
    ).one()
    assert active.version == "v1.0"


def test_enrollment_token_is_shown_once_and_not_cached(
    trained_client: TestClient, trained_db: Session
) -> None:
    token = _admin(trained_client, trained_db)
    created = trained_client.post(
        "/admin/hospitals", data={"csrf_token": token, "name": "St Page"}, follow_redirects=False
    )
    assert created.status_code == 303
    duplicate = trained_client.post(
        "/admin/hospitals", data={"csrf_token": token, "name": "St Page"}
    )
    assert "already exists" in duplicate.text
    trained_db.rollback()
    listing = trained_client.get("/admin/hospitals").text
    hospital_id = listing.split('id="hospital-')[1].split('"')[0]
    page = trained_client.post(f"/admin/hospitals/{hospital_id}/tokens", data={"csrf_token": token})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "medfed node enroll" in page.text
    trained_db.rollback()
    assert len(trained_db.scalars(select(EnrollmentToken)).all()) == 1
    trained_db.rollback()
    assert "mfe_" not in trained_client.get("/admin/hospitals").text


def test_nodes_and_hospitals_are_revoked_rotated_and_deactivated_from_the_page(
    trained_client: TestClient, trained_db: Session
) -> None:
    node, credential = make_node(trained_db, name="ward-node")
    node_id, hospital_id = node.id, node.hospital_id
    trained_db.rollback()
    token = _admin(trained_client, trained_db)
    base = f"/admin/hospitals/{hospital_id}"
    listing = trained_client.get("/admin/hospitals").text
    assert f'id="node-{node_id}"' in listing and "Deactivate hospital" in listing
    no_reason = trained_client.post(f"{base}/active", data={"csrf_token": token, "active": "no"})
    assert no_reason.status_code == 200 and "Say why" in no_reason.text
    off = trained_client.post(
        f"{base}/active", data={"csrf_token": token, "active": "no", "reason": "paused"}
    )
    assert "deactivated: its nodes are refused" in off.text and "Reactivate hospital" in off.text
    me = {"Authorization": f"Bearer {credential}"}
    assert trained_client.get("/api/v1/nodes/me", headers=me).status_code == 403
    on = trained_client.post(
        f"{base}/active", data={"csrf_token": token, "active": "yes", "reason": "resumed"}
    )
    assert "reactivated" in on.text
    rotated = trained_client.post(f"{base}/nodes/{node_id}/credential", data={"csrf_token": token})
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    assert "medfed node set-credential" in rotated.text
    fresh = rotated.text.split('id="credential" class="mono wide" readonly value="')[1].split('"')[
        0
    ]
    assert trained_client.get("/api/v1/nodes/me", headers=me).status_code == 401
    me = {"Authorization": f"Bearer {fresh}"}
    assert trained_client.get("/api/v1/nodes/me", headers=me).status_code == 200
    revoked = trained_client.post(
        f"{base}/nodes/{node_id}/revoke", data={"csrf_token": token, "reason": "decommissioned"}
    )
    assert f"Node {node_id} revoked" in revoked.text and "revoked" in revoked.text
    assert trained_client.get("/api/v1/nodes/me", headers=me).status_code == 401
    assert fresh not in trained_client.get("/admin/hospitals").text


def test_a_data_scientist_has_the_training_pages_and_none_of_the_administration(
    trained_client: TestClient, trained_db: Session
) -> None:
    make_user(trained_db, "data_scientist", username="ds.pages")
    trained_db.rollback()
    assert sign_in(trained_client, "ds.pages").status_code == 303
    home = trained_client.get("/")
    assert "You train this network" in home.text and 'href="/admin/campaigns"' in home.text
    for page in ("/admin/campaigns", "/admin/rounds", "/admin/models", "/admin/privacy"):
        assert trained_client.get(page).status_code == 200, page
    campaigns = trained_client.get("/admin/campaigns").text
    assert 'id="enable-buffer"' not in campaigns and "administrator's decision" in campaigns
    for page in ("/admin/hospitals", "/admin/audit", "/admin/health", "/check"):
        refused = trained_client.get(page)
        assert refused.status_code == 403, page
    token = csrf_from(trained_client.get("/admin/rounds").text)
    plain = trained_client.post(
        "/admin/rounds",
        data={"csrf_token": token, "disease": "heart", "min_hospitals": "3"},  # no "secure"
    )
    assert plain.status_code == 403 and "administrator" in plain.text
    assert trained_db.scalar(select(Round.id)) is None  # nothing was opened
    trained_db.rollback()  # an open read would hold up the server's write below
    secure = trained_client.post(
        "/admin/rounds",
        data={"csrf_token": token, "disease": "heart", "min_hospitals": "3", "secure": "yes"},
        follow_redirects=False,
    )
    assert secure.status_code == 303, secure.text


def test_a_round_for_named_hospitals_from_the_form_names_them_on_its_page(
    trained_client: TestClient, trained_db: Session
) -> None:
    token = _admin(trained_client, trained_db)
    first, _ = make_node(trained_db, name="node-a")
    second, _ = make_node(trained_db, name="node-b")
    named, name, other = first.hospital_id, first.hospital.name, second.hospital_id
    trained_db.rollback()  # an open read would hold up the server's writes
    form = trained_client.get("/admin/rounds").text
    assert f'name="hospital-{named}"' in form and f'name="hospital-{other}"' in form
    opened = trained_client.post(
        "/admin/rounds",
        data={
            "csrf_token": token,
            "disease": "heart",
            "min_hospitals": "1",
            "secure": "yes",
            f"hospital-{named}": "yes",
        },
    )
    assert opened.status_code == 200 and f"only {name}" in opened.text, opened.text[:500]
    round_ = trained_db.scalars(select(Round)).one()
    assert round_.config["hospitals"] == [named]
    trained_db.rollback()
